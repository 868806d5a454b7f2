import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { runMigrations } from './migrate.ts';
import type { MigrationModule } from './migrations/helpers.ts';
import { MIGRATIONS } from './migrations/index.ts';
import { NodeSqliteDatabase } from './sqlite.ts';

function memoryDb(): Kysely<unknown> {
  return new Kysely<unknown>({
    dialect: new SqliteDialect({ database: new NodeSqliteDatabase(new DatabaseSync(':memory:')) }),
  });
}

const ok: MigrationModule = {
  async up(db) {
    await db.schema.createTable('ok_table').addColumn('id', 'text').execute();
  },
};
const broken: MigrationModule = {
  async up(db) {
    await sql`create table nonsense (`.execute(db);
  },
};

test('a failing migration throws one Error that names it', async () => {
  const db = memoryDb();
  try {
    const err = await runMigrations(db, 'sqlite', undefined, [
      ['0001_ok', ok],
      ['0002_broken', broken],
    ]).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof Error);
    assert.match(err.message, /^Migration 0002_broken failed/);
    assert.ok(err.cause instanceof Error, 'the driver error is kept as the cause');
  } finally {
    await db.destroy();
  }
});

test('the report lists what this call applied and everything the database has', async () => {
  const db = memoryDb();
  try {
    const first = await runMigrations(db, 'sqlite', undefined, [['0001_ok', ok]]);
    assert.deepEqual(first, { applied: ['0001_ok'], current: ['0001_ok'] });
    const both: ReadonlyArray<readonly [string, MigrationModule]> = [
      ['0001_ok', ok],
      ['0002_more', { up: async (d) => d.schema.createTable('more').addColumn('id', 'text').execute() }],
    ];
    assert.deepEqual(await runMigrations(db, 'sqlite', undefined, both), {
      applied: ['0002_more'],
      current: ['0001_ok', '0002_more'],
    });
  } finally {
    await db.destroy();
  }
});

test('migration names sort in the order they are listed', () => {
  const names = MIGRATIONS.map(([name]) => name);
  assert.deepEqual([...names].sort(), names);
  for (const name of names) assert.match(name, /^\d{4}_[a-z0-9_]+$/);
});
