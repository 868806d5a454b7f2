import type { KeyObject } from 'node:crypto';
import pino from 'pino';
import type { AuditEvent } from '../../src/audit/events.ts';
import { type AuditLog, createAuditLog } from '../../src/audit/log.ts';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { createMemoryCounters, type MemoryCounters } from '../../src/counters/memory.ts';
import type { IdentityService } from '../../src/identity/service.ts';
import { createIdentity } from '../../src/identity/wire.ts';
import { loadPepper } from '../../src/keys/hash.ts';
import { type MasterKeyRing, resolveMasterKeys } from '../../src/secrets/master-key.ts';
import { createVault, type Vault } from '../../src/secrets/vault.ts';
import { openStore } from '../../src/store/open.ts';
import { transact } from '../../src/store/tx.ts';
import type { Store } from '../../src/store/types.ts';
import { createWorkspaceRepository, type WorkspaceRepository } from '../../src/workspaces/repository.ts';
import { freshPlace, type ManualClock, pgUrl } from '../contract/keys-helpers.ts';

/**
 * One isolated, migrated store for the identity suites (SQLite in a temp folder, or a fresh
 * PostgreSQL schema), with what `src/cli/local.ts` builds on it: master keys, vault, pepper, audit
 * log and workspaces. Every log line is kept so tests can scan it for secrets.
 */

export type DialectName = 'sqlite' | 'postgres';

export const dialects: { name: DialectName; skip: string | false }[] = [
  { name: 'sqlite', skip: false },
  { name: 'postgres', skip: !pgUrl && 'TEST_DATABASE_URL not set' },
];

export interface IdentityPlace {
  config: Readonly<Config>;
  store: Store;
  keys: MasterKeyRing;
  vault: Vault;
  pepper: KeyObject;
  audit: AuditLog;
  workspaces: WorkspaceRepository;
  logs: string[];
  close(): Promise<void>;
}

export async function openIdentityPlace(dialect: DialectName, clock: ManualClock): Promise<IdentityPlace> {
  const place = await freshPlace(dialect);
  const env: Record<string, string> = {
    PORTCULLIS_DATA_DIR: place.dataDir,
    PORTCULLIS_MASTER_KEY: place.masterKey,
  };
  if (place.databaseUrl) env.DATABASE_URL = place.databaseUrl;
  const { config } = loadConfig({ env });
  const logs: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => logs.push(line) });
  const store = await openStore({ config, logger });
  try {
    await store.migrate();
    const keys = await resolveMasterKeys({ config, store, logger, dataDir: place.dataDir, clock });
    const vault = createVault({ store, keys, clock });
    const pepper = await loadPepper({ store, keys, clock });
    const audit = createAuditLog({ store, vault, clock, checkpointEvery: 1000, logger });
    await audit.ready();
    return {
      config,
      store,
      keys,
      vault,
      pepper,
      audit,
      workspaces: createWorkspaceRepository({ store, clock }),
      logs,
      async close() {
        await store.close();
        await place.cleanup();
      },
    };
  } catch (err) {
    await store.close();
    await place.cleanup();
    throw err;
  }
}

/** What a test wants of an audit event: its action and, when given, target and details. */
export interface AuditRow {
  seq: number;
  action: string;
  actor: string | null;
  target: string | null;
  workspace: string | null;
  outcome: string;
  details: Record<string, unknown>;
}

/**
 * The identity service as `src/identity/wire.ts` builds it for the server and the CLI, over an
 * identity place with in-process counters. Authentication events (`note`) are appended to the real
 * audit log, in order, like the server's buffered writer does; `flush()` waits for them.
 */
export interface IdentityRig {
  service: IdentityService;
  counters: MemoryCounters;
  notes: AuditEvent[];
  flush(): Promise<void>;
  /** Audit rows after `seq` (all when omitted), flushed first. */
  auditAfter(seq?: number): Promise<AuditRow[]>;
  /** The newest audit seq now (0 when empty), flushed first. */
  auditHead(): Promise<number>;
}

export async function identityRig(
  place: IdentityPlace,
  clock: ManualClock,
  login: Partial<Config['auth']['login']> = {},
): Promise<IdentityRig> {
  const counters = createMemoryCounters({ clock });
  const notes: AuditEvent[] = [];
  let written: Promise<unknown> = Promise.resolve();
  const note = (event: AuditEvent): void => {
    notes.push(event);
    written = written.then(() => transact(place.store, (tx) => place.audit.append(tx.db, [event])));
  };
  const config = {
    ...place.config,
    auth: { ...place.config.auth, login: { ...place.config.auth.login, ...login } },
  };
  const service = await createIdentity({
    config,
    store: place.store,
    keys: place.keys,
    clock,
    counters,
    audit: place.audit,
    note,
  });
  const flush = async () => {
    await written;
  };
  const auditAfter = async (seq = 0): Promise<AuditRow[]> => {
    await flush();
    const rows = await place.store.db
      .selectFrom('audit_log')
      .select(['seq', 'action', 'actor', 'target', 'workspace_id', 'outcome', 'details'])
      .where('seq', '>', seq)
      .orderBy('seq')
      .execute();
    return rows.map((r) => ({
      seq: Number(r.seq),
      action: r.action,
      actor: r.actor,
      target: r.target,
      workspace: r.workspace_id,
      outcome: r.outcome,
      details: JSON.parse(r.details) as Record<string, unknown>,
    }));
  };
  const auditHead = async () => (await auditAfter()).at(-1)?.seq ?? 0;
  return { service, counters, notes, flush, auditAfter, auditHead };
}
