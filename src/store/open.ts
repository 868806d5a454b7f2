import type pino from 'pino';
import type { Config } from '../config/schema.ts';
import { openPostgresStore } from './postgres.ts';
import { openSqliteStore } from './sqlite.ts';
import type { Store } from './types.ts';

export { isStoreUnavailableError, StoreUnavailableError } from './errors.ts';

/**
 * Opens the configured store: PostgreSQL when `databaseUrl` is set, else SQLite at
 * `<dataDir>/portcullis.db`. Rejects with a StoreUnavailableError (a message fit for an operator,
 * never containing credentials) when the database cannot be opened or reached; exiting is the
 * caller's job. Does not migrate: call `store.migrate()`.
 */
export function openStore(opts: { config: Config; logger: pino.Logger }): Promise<Store> {
  return opts.config.databaseUrl ? openPostgresStore(opts) : openSqliteStore(opts);
}
