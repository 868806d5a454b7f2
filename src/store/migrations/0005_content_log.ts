import type { Kysely } from 'kysely';
import type { Dialect } from '../types.ts';
import { createTable, millis } from './helpers.ts';

/**
 * Content logging (issue 8 item 5, src/content): prompt and answer text of calls in workspaces that
 * opted in, stored only after PII and secret redaction, each row with its own expiry so the purge
 * job is one indexed delete. Workspaces that did not opt in never get a row here.
 */
export async function up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  await createTable(db, dialect, 'content_log')
    .addColumn('id', 'text', (c) => c.primaryKey().notNull())
    .addColumn('time', millis(dialect), (c) => c.notNull())
    .addColumn('expires_at', millis(dialect), (c) => c.notNull())
    .addColumn('workspace_id', 'text', (c) => c.notNull())
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('request_id', 'text')
    .addColumn('endpoint', 'text', (c) => c.notNull())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('status', 'integer', (c) => c.notNull())
    .addColumn('prompt', 'text', (c) => c.notNull())
    .addColumn('answer', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('content_log_expires_idx').on('content_log').column('expires_at').execute();
  await db.schema
    .createIndex('content_log_workspace_time_idx')
    .on('content_log')
    .columns(['workspace_id', 'time'])
    .execute();
}
