import type { Kysely } from 'kysely';
import type { Dialect } from '../types.ts';
import { createTable, millis } from './helpers.ts';

/**
 * Per-workspace model prices (src/limits/price-repository.ts), for custom or self-hosted models
 * the maintained price table does not know, or to override it. Prices are integer micro-dollars
 * per million tokens, so no floating point ever reaches a budget.
 */
export async function up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  await createTable(db, dialect, 'model_prices')
    .addColumn('id', 'text', (c) => c.primaryKey().notNull())
    .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id'))
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('input_micros_per_mtok', millis(dialect), (c) => c.notNull())
    .addColumn('output_micros_per_mtok', millis(dialect), (c) => c.notNull())
    .addColumn('created_at', millis(dialect), (c) => c.notNull())
    .addColumn('updated_at', millis(dialect), (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('model_prices_workspace_model_uq')
    .on('model_prices')
    .columns(['workspace_id', 'model'])
    .unique()
    .execute();
}
