import { userInfo } from 'node:os';
import type { AuditContext } from '../audit/events.ts';
import { type AuditLog, createAuditLog } from '../audit/log.ts';
import { type Clock, systemClock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../logger.ts';
import type { MasterKeyRing } from '../secrets/master-key.ts';
import { resolveMasterKeys } from '../secrets/master-key.ts';
import { createVault, type Vault } from '../secrets/vault.ts';
import { openStore } from '../store/open.ts';
import type { Store } from '../store/types.ts';
import { createWorkspaceRepository, type WorkspaceRepository } from '../workspaces/repository.ts';
import type { CommandContext } from './context.ts';

/** The CLI acts as `cli:<os user>` (the store is local: whoever runs it holds the database). */
function cliAuditContext(): AuditContext {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (some containers): the actor stays `cli:unknown`.
  }
  return { actor: `cli:${user}`, clientIp: null, userAgent: 'portcullis-cli', requestId: null };
}

/**
 * What a local command (one without --url) works with: the configured store, migrated, and the
 * master keys proven against it. Commands call `close()` in a `finally`; `withLocal` does it for them.
 */
export interface Local {
  config: Readonly<Config>;
  logger: Logger;
  clock: Clock;
  store: Store;
  keys: MasterKeyRing;
  vault: Vault;
  workspaces: WorkspaceRepository;
  /** Changes made by a command commit together with their audit entry: `audit.record(auditContext, …)`. */
  audit: AuditLog;
  auditContext: AuditContext;
  close(): Promise<void>;
}

export async function openLocal(ctx: CommandContext, clock: Clock = systemClock): Promise<Local> {
  const { config } = ctx.loadConfig();
  const logger = ctx.logger(config);
  const store = await openStore({ config, logger });
  try {
    await store.migrate();
    const keys = await resolveMasterKeys({ config, store, logger, dataDir: config.dataDir, clock });
    const vault = createVault({ store, keys, clock });
    const audit = createAuditLog({
      store,
      vault,
      clock,
      checkpointEvery: config.audit.checkpointEvery,
      logger,
    });
    await audit.ready();
    return {
      config,
      logger,
      clock,
      store,
      keys,
      vault,
      workspaces: createWorkspaceRepository({ store, clock }),
      audit,
      auditContext: cliAuditContext(),
      close: () => store.close(),
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}

/** Opens the local store, runs `fn`, and always closes the store. */
export async function withLocal<T>(ctx: CommandContext, fn: (local: Local) => Promise<T>): Promise<T> {
  const local = await openLocal(ctx);
  try {
    return await fn(local);
  } finally {
    await local.close();
  }
}
