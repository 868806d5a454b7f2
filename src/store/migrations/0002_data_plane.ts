import type { Kysely } from 'kysely';
import type { Dialect } from '../types.ts';
import { createTable, millis } from './helpers.ts';

/**
 * Tenancy and the data plane: workspaces, API keys (stored only as keyed hashes), provider
 * credentials (the secret itself lives in `secrets`, envelope-encrypted) and model aliases.
 * List-valued attributes (scopes, globs, CIDRs) are JSON text; see ../schema.ts.
 */
export async function up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  await createTable(db, dialect, 'workspaces')
    .addColumn('id', 'text', (c) => c.primaryKey().notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('settings', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('created_at', millis(dialect), (c) => c.notNull())
    .addColumn('updated_at', millis(dialect), (c) => c.notNull())
    .addColumn('deleted_at', millis(dialect))
    .execute();
  await db.schema.createIndex('workspaces_name_uq').on('workspaces').column('name').unique().execute();

  await createTable(db, dialect, 'api_keys')
    .addColumn('id', 'text', (c) => c.primaryKey().notNull())
    .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('environment', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text')
    .addColumn('secret_hash', 'text', (c) => c.notNull())
    .addColumn('previous_secret_hash', 'text')
    .addColumn('previous_valid_until', millis(dialect))
    .addColumn('masked', 'text', (c) => c.notNull())
    .addColumn('scopes', 'text', (c) => c.notNull())
    .addColumn('models', 'text', (c) => c.notNull())
    .addColumn('allow_ips', 'text', (c) => c.notNull())
    .addColumn('allow_origins', 'text', (c) => c.notNull())
    .addColumn('limits', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('tags', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('expires_at', millis(dialect))
    .addColumn('revoked_at', millis(dialect))
    .addColumn('deleted_at', millis(dialect))
    .addColumn('last_used_at', millis(dialect))
    .addColumn('last_used_ip', 'text')
    .addColumn('created_at', millis(dialect), (c) => c.notNull())
    .addColumn('updated_at', millis(dialect), (c) => c.notNull())
    .execute();
  await db.schema.createIndex('api_keys_workspace_idx').on('api_keys').column('workspace_id').execute();

  await createTable(db, dialect, 'provider_credentials')
    .addColumn('id', 'text', (c) => c.primaryKey().notNull())
    .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('base_url', 'text')
    .addColumn('models', 'text', (c) => c.notNull())
    .addColumn('options', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('secret_id', 'text', (c) => c.notNull())
    .addColumn('masked', 'text', (c) => c.notNull())
    .addColumn('created_at', millis(dialect), (c) => c.notNull())
    .addColumn('updated_at', millis(dialect), (c) => c.notNull())
    .addColumn('deleted_at', millis(dialect))
    .execute();
  await db.schema
    .createIndex('provider_credentials_ws_name_uq')
    .on('provider_credentials')
    .columns(['workspace_id', 'name'])
    .unique()
    .execute();

  await createTable(db, dialect, 'model_aliases')
    .addColumn('id', 'text', (c) => c.primaryKey().notNull())
    .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('targets', 'text', (c) => c.notNull())
    .addColumn('created_at', millis(dialect), (c) => c.notNull())
    .addColumn('updated_at', millis(dialect), (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('model_aliases_ws_name_uq')
    .on('model_aliases')
    .columns(['workspace_id', 'name'])
    .unique()
    .execute();
}
