import type { AuditEvent } from '../audit/events.ts';
import type { AuditLog } from '../audit/log.ts';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { Counters } from '../counters/types.ts';
import { loadPepper } from '../keys/hash.ts';
import type { MasterKeyRing } from '../secrets/master-key.ts';
import { createVault } from '../secrets/vault.ts';
import type { Store } from '../store/types.ts';
import { createWorkspaceRepository } from '../workspaces/repository.ts';
import { loadAccessTokens } from './access-tokens.ts';
import { createLoginThrottle } from './lockout.ts';
import { createIdentityService, type IdentityService } from './service.ts';

/** Builds the identity service on the deployment's store, vault, pepper and counters (server and CLI alike). */
export async function createIdentity(opts: {
  config: Readonly<Config>;
  store: Store;
  keys: MasterKeyRing;
  clock: Clock;
  counters: Pick<Counters, 'add' | 'get' | 'rate'>;
  audit: AuditLog;
  /** Authentication events; the server passes its buffered writer, the CLI appends directly. */
  note(event: AuditEvent): void;
}): Promise<IdentityService> {
  const { config, store, keys, clock, counters, audit, note } = opts;
  const vault = createVault({ store, keys, clock });
  const pepper = await loadPepper({ store, keys, clock });
  const tokens = await loadAccessTokens({ vault, clock, ttlSeconds: config.auth.accessTokenTtlSeconds });
  const throttle = createLoginThrottle({
    counters,
    pepper,
    policy: config.auth.login,
    onLocked: (lock) =>
      note({
        action: 'auth.locked',
        outcome: 'denied',
        actor: null,
        clientIp: lock.clientIp,
        target: lock.subject,
        details: { subject: lock.subject, failures: lock.failures, lockMs: lock.lockMs },
      }),
  });
  return createIdentityService({
    store,
    clock,
    vault,
    pepper,
    audit,
    tokens,
    throttle,
    workspaces: createWorkspaceRepository({ store, clock }),
    sessionTtlMs: config.auth.sessionTtlHours * 3_600_000,
    note,
  });
}
