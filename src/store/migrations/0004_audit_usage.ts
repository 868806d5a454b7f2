import type { Kysely } from 'kysely';
import type { Dialect } from '../types.ts';
import { BOOL, createTable, millis } from './helpers.ts';

/**
 * The audit trail and usage accounting (issue 8, src/audit, src/usage).
 *
 * - `audit_log`: append-only, hash-chained. `seq` is assigned by the appender under the chain lock
 *   (never auto-increment: a gap must mean a deleted row). `prev_hash`/`hash` are hex SHA-256.
 * - `audit_checkpoints`: Ed25519 signatures over (seq, hash) of chain positions; after pruning, the
 *   oldest kept checkpoint anchors the remaining chain.
 * - `usage_records`: one row per proxied call, metadata only (never prompt or answer text).
 */
export async function up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  await createTable(db, dialect, 'audit_log')
    .addColumn('seq', millis(dialect), (c) => c.primaryKey().notNull())
    .addColumn('time', millis(dialect), (c) => c.notNull())
    .addColumn('actor', 'text')
    .addColumn('workspace_id', 'text')
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('target', 'text')
    .addColumn('client_ip', 'text')
    .addColumn('user_agent', 'text')
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('request_id', 'text')
    .addColumn('details', 'text', (c) => c.notNull())
    .addColumn('prev_hash', 'text', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('audit_log_workspace_seq_idx')
    .on('audit_log')
    .columns(['workspace_id', 'seq'])
    .execute();
  await db.schema.createIndex('audit_log_time_idx').on('audit_log').column('time').execute();

  await createTable(db, dialect, 'audit_checkpoints')
    .addColumn('seq', millis(dialect), (c) => c.primaryKey().notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .addColumn('time', millis(dialect), (c) => c.notNull())
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('signature', 'text', (c) => c.notNull())
    .execute();

  await createTable(db, dialect, 'usage_records')
    .addColumn('id', 'text', (c) => c.primaryKey().notNull())
    .addColumn('time', millis(dialect), (c) => c.notNull())
    .addColumn('workspace_id', 'text', (c) => c.notNull())
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('request_id', 'text')
    .addColumn('endpoint', 'text', (c) => c.notNull())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('provider', 'text')
    .addColumn('target', 'text')
    .addColumn('stream', BOOL, (c) => c.notNull())
    .addColumn('status', 'integer', (c) => c.notNull())
    .addColumn('input_tokens', millis(dialect))
    .addColumn('output_tokens', millis(dialect))
    .addColumn('cost_micros', millis(dialect))
    .addColumn('latency_ms', millis(dialect), (c) => c.notNull())
    .addColumn('upstream_ms', millis(dialect))
    .execute();
  await db.schema
    .createIndex('usage_records_workspace_time_idx')
    .on('usage_records')
    .columns(['workspace_id', 'time'])
    .execute();
}
