import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

export type Dialect = 'sqlite' | 'postgres';

/**
 * The store: one Kysely query builder over SQLite (node:sqlite) or PostgreSQL. Capabilities write
 * their queries once against `db`; the dialect only matters to the adapters and migrations.
 */
export interface Store {
  readonly dialect: Dialect;
  readonly db: Kysely<Database>;
  /** Cheap reachability check for /readyz; rejects when the database cannot answer. */
  ping(): Promise<void>;
  /** Applies pending migrations under a lock (safe when replicas start together). */
  migrate(): Promise<MigrationReport>;
  close(): Promise<void>;
}

export interface MigrationReport {
  /** Names applied by this call, in order. */
  applied: string[];
  /** Every migration the database now has. */
  current: string[];
}
