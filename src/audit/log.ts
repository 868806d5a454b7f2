import { type Kysely, sql } from 'kysely';
import type { Clock } from '../clock.ts';
import type { Vault } from '../secrets/vault.ts';
import type { Database } from '../store/schema.ts';
import { type Tx, transact } from '../store/tx.ts';
import type { Store } from '../store/types.ts';
import { type AuditEntry, entryHash, GENESIS_HASH } from './chain.ts';
import { type AuditContext, type AuditEvent, allowedDetails, boundedText } from './events.ts';
import { type CheckpointSigner, loadCheckpointSigner } from './signer.ts';

/**
 * The audit log: appends events to the hash chain (src/audit/chain.ts) and signs checkpoints.
 *
 * Appends are serialised so the chain never forks, even across replicas and processes: on SQLite
 * every transaction starts with BEGIN IMMEDIATE (one writer at a time); on PostgreSQL the appender
 * takes a transaction-scoped advisory lock (released at commit or rollback) before it reads the
 * chain head. The head is read and extended in the same transaction as the change being audited,
 * so the entry commits exactly when the change does, and in commit order.
 */

export interface AuditLogOptions {
  store: Store;
  vault: Vault;
  clock: Clock;
  /** Sign a checkpoint whenever the chain crosses a multiple of this many entries. */
  checkpointEvery: number;
  logger?: { error(obj: object, msg?: string): void };
}

export type Described = Omit<AuditEvent, keyof AuditContext> & Partial<AuditContext>;

export interface AuditLog {
  /** Loads (or creates, once) the checkpoint signing key. Call before serving. */
  ready(): Promise<void>;
  /**
   * Runs `work` and appends the events `describe` makes of its result in the same transaction
   * (`withAudit`): both commit, or neither. Side effects the work queued run after the commit.
   */
  record<T>(
    context: AuditContext,
    work: (tx: Tx) => Promise<T>,
    describe: (result: T) => Described | Described[],
  ): Promise<T>;
  /** Appends events inside a transaction the caller runs (the buffered writer batches this way). */
  append(db: Kysely<Database>, events: readonly AuditEvent[]): Promise<AuditEntry[]>;
  /** Signs the chain head unless it is signed already. Returns its seq (undefined: empty log). */
  checkpoint(): Promise<number | undefined>;
  /** Signs an existing position inside the caller's transaction (pruning anchors the kept chain). */
  checkpointAt(db: Kysely<Database>, seq: number, hash: string): Promise<void>;
  signer(): Promise<CheckpointSigner>;
}

/** The chain lock's key: per schema, so test schemas in one database do not serialise each other. */
const LOCK_SQL = sql`select pg_advisory_xact_lock(hashtext(current_schema() || '.portcullis.audit_log'))`;

export function createAuditLog(opts: AuditLogOptions): AuditLog {
  const { store, clock } = opts;
  let signerPromise: Promise<CheckpointSigner> | undefined;
  const signer = (): Promise<CheckpointSigner> => {
    signerPromise ??= loadCheckpointSigner(opts).catch((err: unknown) => {
      signerPromise = undefined;
      throw err;
    });
    return signerPromise;
  };

  async function lockAndReadHead(db: Kysely<Database>): Promise<{ seq: number; hash: string }> {
    if (store.dialect === 'postgres') await LOCK_SQL.execute(db);
    const last = await db
      .selectFrom('audit_log')
      .select(['seq', 'hash'])
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (last) return { seq: Number(last.seq), hash: last.hash };
    // Everything pruned (or nothing yet): continue from the newest checkpoint, else from genesis.
    const cp = await db
      .selectFrom('audit_checkpoints')
      .select(['seq', 'hash'])
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst();
    return cp ? { seq: Number(cp.seq), hash: cp.hash } : { seq: 0, hash: GENESIS_HASH };
  }

  async function checkpointAt(db: Kysely<Database>, seq: number, hash: string): Promise<void> {
    const time = clock.now();
    const { keyId, signature } = (await signer()).sign({ seq, hash, time });
    await db
      .insertInto('audit_checkpoints')
      .values({ seq, hash, time, key_id: keyId, signature })
      .onConflict((oc) => oc.column('seq').doNothing())
      .execute();
  }

  async function append(db: Kysely<Database>, events: readonly AuditEvent[]): Promise<AuditEntry[]> {
    if (events.length === 0) return [];
    // Loaded before the lock so no transaction ever waits on key loading (SQLite has one connection).
    await signer();
    const head = await lockAndReadHead(db);
    let { seq, hash } = head;
    const entries: AuditEntry[] = [];
    for (const event of events) {
      seq += 1;
      const entry = {
        seq,
        time: clock.now(),
        actor: boundedText(event.actor, 128),
        workspace: event.workspaceId ?? null,
        action: event.action,
        target: boundedText(event.target, 200),
        clientIp: boundedText(event.clientIp, 64),
        userAgent: boundedText(event.userAgent, 256),
        outcome: event.outcome ?? 'success',
        requestId: boundedText(event.requestId, 128),
        details: allowedDetails(event.action, event.details),
      };
      const next = entryHash(hash, entry);
      entries.push({ ...entry, prevHash: hash, hash: next });
      hash = next;
    }
    await db
      .insertInto('audit_log')
      .values(
        entries.map((e) => ({
          seq: e.seq,
          time: e.time,
          actor: e.actor,
          workspace_id: e.workspace,
          action: e.action,
          target: e.target,
          client_ip: e.clientIp,
          user_agent: e.userAgent,
          outcome: e.outcome,
          request_id: e.requestId,
          details: JSON.stringify(e.details),
          prev_hash: e.prevHash,
          hash: e.hash,
        })),
      )
      .execute();
    if (Math.floor(seq / opts.checkpointEvery) > Math.floor(head.seq / opts.checkpointEvery)) {
      await checkpointAt(db, seq, hash);
    }
    return entries;
  }

  return {
    async ready() {
      await signer();
    },
    async record(context, work, describe) {
      await signer();
      return transact(
        store,
        async (tx) => {
          const result = await work(tx);
          const described = describe(result);
          await append(
            tx.db,
            (Array.isArray(described) ? described : [described]).map((e) => ({ ...context, ...e })),
          );
          return result;
        },
        (err) => opts.logger?.error({ err }, 'audit: a side effect after a committed change failed'),
      );
    },
    append,
    async checkpoint() {
      await signer();
      return transact(store, async (tx) => {
        const head = await lockAndReadHead(tx.db);
        if (head.seq === 0) return undefined;
        await checkpointAt(tx.db, head.seq, head.hash);
        return head.seq;
      });
    },
    checkpointAt,
    signer,
  };
}
