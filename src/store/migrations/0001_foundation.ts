import type { Kysely } from 'kysely';
import type { Dialect } from '../types.ts';
import { createTable, millis } from './helpers.ts';

/** Foundation: small settings (`meta`) and envelope-encrypted records (`secrets`, see src/secrets). */
export async function up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  // SQLite lets a non-INTEGER primary key hold NULL unless it is declared NOT NULL.
  await createTable(db, dialect, 'meta')
    .addColumn('key', 'text', (c) => c.primaryKey().notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('updated_at', millis(dialect), (c) => c.notNull())
    .execute();

  await createTable(db, dialect, 'secrets')
    .addColumn('id', 'text', (c) => c.primaryKey().notNull())
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('workspace_id', 'text')
    .addColumn('master_key_version', 'integer', (c) => c.notNull())
    .addColumn('wrapped_key', 'text', (c) => c.notNull())
    .addColumn('ciphertext', 'text', (c) => c.notNull())
    .addColumn('created_at', millis(dialect), (c) => c.notNull())
    .addColumn('updated_at', millis(dialect), (c) => c.notNull())
    .execute();
  // Master-key rotation re-wraps every record still on an old version.
  await db.schema
    .createIndex('secrets_master_key_version_idx')
    .on('secrets')
    .column('master_key_version')
    .execute();
  // Deleting a workspace removes its secrets.
  await db.schema.createIndex('secrets_workspace_id_idx').on('secrets').column('workspace_id').execute();
}
