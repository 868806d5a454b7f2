import { type Kysely, Migrator } from 'kysely';
import type { MigrationModule } from './migrations/helpers.ts';
import { MIGRATIONS, migrationProvider } from './migrations/index.ts';
import type { Dialect, MigrationReport } from './types.ts';

/**
 * Runs every pending migration with Kysely's Migrator and turns its result set into a report, or one
 * Error naming the migration that failed. Both dialects run the whole batch in one transaction
 * (PostgreSQL: Kysely's transactional DDL; SQLite: the caller's BEGIN IMMEDIATE), so a failure
 * leaves the schema exactly as it was before the call.
 */
export async function runMigrations<DB>(
  db: Kysely<DB>,
  dialect: Dialect,
  migrationTableSchema?: string,
  migrations: ReadonlyArray<readonly [string, MigrationModule]> = MIGRATIONS,
): Promise<MigrationReport> {
  const migrator = new Migrator({
    db,
    provider: migrationProvider(dialect, migrations),
    ...(migrationTableSchema ? { migrationTableSchema } : {}),
  });
  const { error, results = [] } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results.find((r) => r.status === 'Error');
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(
      failed
        ? `Migration ${failed.migrationName} failed (no migration of this run was applied): ${reason}`
        : `Migrations could not run: ${reason}`,
      { cause: error },
    );
  }
  const current = (await migrator.getMigrations())
    .filter((m) => m.executedAt !== undefined)
    .map((m) => m.name);
  return {
    applied: results.filter((r) => r.status === 'Success').map((r) => r.migrationName),
    current,
  };
}
