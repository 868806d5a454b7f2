import type { Migration, MigrationProvider } from 'kysely';
import type { Dialect } from '../types.ts';
import * as foundation from './0001_foundation.ts';
import * as dataPlane from './0002_data_plane.ts';
import * as modelPrices from './0003_model_prices.ts';
import * as auditUsage from './0004_audit_usage.ts';
import * as contentLog from './0005_content_log.ts';
import * as identity from './0006_identity.ts';
import * as sessionPasswordStamp from './0007_session_password_stamp.ts';
import type { MigrationModule } from './helpers.ts';

/**
 * Every migration, in order, listed by hand: no filesystem scanning, so the set that runs is exactly
 * the set that was reviewed and type-checked. To add one: create `NNNN_what.ts` exporting
 * `up(db, dialect)`, add its table types to ../schema.ts, and append it here. Names sort as strings,
 * so keep the four-digit prefix. Never edit or remove a migration once released.
 */
export const MIGRATIONS: ReadonlyArray<readonly [name: string, module: MigrationModule]> = [
  ['0001_foundation', foundation],
  ['0002_data_plane', dataPlane],
  ['0003_model_prices', modelPrices],
  ['0004_audit_usage', auditUsage],
  ['0005_content_log', contentLog],
  ['0006_identity', identity],
  ['0007_session_password_stamp', sessionPasswordStamp],
];

/** Kysely's provider interface over the static list, with the dialect bound in. */
export function migrationProvider(
  dialect: Dialect,
  migrations: ReadonlyArray<readonly [string, MigrationModule]> = MIGRATIONS,
): MigrationProvider {
  return {
    async getMigrations(): Promise<Record<string, Migration>> {
      const out: Record<string, Migration> = {};
      for (const [name, module] of migrations) {
        out[name] = { up: (db) => module.up(db, dialect) };
      }
      return out;
    },
  };
}
