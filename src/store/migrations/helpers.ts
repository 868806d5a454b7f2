import { type CreateTableBuilder, type Kysely, sql } from 'kysely';
import type { Dialect } from '../types.ts';

/**
 * One migration file. `up` receives the dialect so a migration can pick the right column type;
 * everything else should be written once with Kysely's schema builder. There is no `down`: schema
 * changes only move forward (a fix is a new migration), which is what replicas running different
 * versions during a rolling deploy can live with.
 */
export interface MigrationModule {
  up(db: Kysely<unknown>, dialect: Dialect): Promise<void>;
}

/** Epoch milliseconds: INTEGER (64-bit) in SQLite, BIGINT in PostgreSQL (INTEGER would overflow in 2038). */
export function millis(dialect: Dialect): 'integer' | 'bigint' {
  return dialect === 'sqlite' ? 'integer' : 'bigint';
}

/** Booleans are 0/1 integers in both dialects (see schema.ts). */
export const BOOL = 'integer';

/**
 * `create table` that is STRICT on SQLite, so SQLite rejects a string in an integer column the way
 * PostgreSQL does, instead of silently storing it (https://sqlite.org/stricttables.html). STRICT
 * only accepts INT/INTEGER/REAL/TEXT/BLOB/ANY, which is why column types go through `millis()`.
 */
export function createTable(
  db: Kysely<unknown>,
  dialect: Dialect,
  name: string,
): CreateTableBuilder<string, never> {
  const table = db.schema.createTable(name);
  return dialect === 'sqlite' ? table.modifyEnd(sql` strict`) : table;
}
