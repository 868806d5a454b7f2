import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Value } from '@sinclair/typebox/value';
import { sql } from 'kysely';
import pg from 'pg';
import pino from 'pino';
import { type Config, ConfigSchema } from '../../src/config/schema.ts';
import { MIGRATIONS } from '../../src/store/migrations/index.ts';
import { isStoreUnavailableError, openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/types.ts';

/**
 * One suite, every dialect (like kysely's own test-setup): the same assertions must hold on the
 * embedded SQLite store and on PostgreSQL. PostgreSQL runs only with TEST_DATABASE_URL, each run in a
 * fresh schema (search_path set through the URL's `options`) that is dropped afterwards.
 */

const logger = pino({ level: 'silent' });
const pgUrl = process.env.TEST_DATABASE_URL;
const migrationNames = MIGRATIONS.map(([name]) => name);

function configWith(partial: Partial<Config>): Config {
  const config = Value.Default(ConfigSchema, structuredClone(partial));
  assert.ok(Value.Check(ConfigSchema, config), 'test config is valid');
  return config;
}

/** A source of fresh, empty databases for one dialect, and how to clean them all up. */
interface Target {
  name: 'sqlite' | 'postgres';
  skip: string | false;
  fresh(): Promise<Config>;
  cleanup(): Promise<void>;
}

function sqliteTarget(): Target {
  const dirs: string[] = [];
  return {
    name: 'sqlite',
    skip: false,
    async fresh() {
      const dir = await mkdtemp(join(tmpdir(), 'portcullis-store-'));
      dirs.push(dir);
      return configWith({ dataDir: join(dir, 'data') });
    },
    async cleanup() {
      await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
    },
  };
}

function postgresTarget(): Target {
  const schemas: string[] = [];
  const admin = () => new pg.Pool({ connectionString: pgUrl, max: 1 });
  return {
    name: 'postgres',
    skip: !pgUrl && 'TEST_DATABASE_URL is not set',
    async fresh() {
      const schema = `pc_store_${process.pid}_${randomBytes(4).toString('hex')}`;
      const pool = admin();
      await pool.query(`create schema ${schema}`);
      await pool.end();
      schemas.push(schema);
      const url = new URL(pgUrl ?? '');
      url.searchParams.set('options', `-c search_path=${schema}`);
      return configWith({ databaseUrl: url.toString() });
    },
    async cleanup() {
      if (schemas.length === 0) return;
      const pool = admin();
      for (const schema of schemas) await pool.query(`drop schema if exists ${schema} cascade`);
      await pool.end();
    },
  };
}

for (const target of [sqliteTarget(), postgresTarget()]) {
  describe(`store contract: ${target.name}`, { skip: target.skip }, () => {
    let store: Store;

    before(async () => {
      store = await openStore({ config: await target.fresh(), logger });
    });
    after(async () => {
      await store?.close();
      await target.cleanup();
    });

    test('reports its dialect', () => {
      assert.equal(store.dialect, target.name);
    });

    test('migrations apply once, then are idempotent', async () => {
      const first = await store.migrate();
      assert.deepEqual(first, { applied: migrationNames, current: migrationNames });
      const second = await store.migrate();
      assert.deepEqual(second, { applied: [], current: migrationNames });
    });

    test('meta: insert, upsert, read, delete', async () => {
      const { db } = store;
      await db
        .insertInto('meta')
        .values({ key: 'master_key_check', value: 'v1', updated_at: 1000 })
        .execute();
      await db
        .insertInto('meta')
        .values({ key: 'master_key_check', value: 'v2', updated_at: 2000 })
        .onConflict((oc) =>
          oc.column('key').doUpdateSet((eb) => ({
            value: eb.ref('excluded.value'),
            updated_at: eb.ref('excluded.updated_at'),
          })),
        )
        .execute();
      const row = await db
        .selectFrom('meta')
        .selectAll()
        .where('key', '=', 'master_key_check')
        .executeTakeFirst();
      assert.deepEqual(row, { key: 'master_key_check', value: 'v2', updated_at: 2000 });
      const deleted = await db.deleteFrom('meta').where('key', '=', 'master_key_check').executeTakeFirst();
      assert.equal(deleted.numDeletedRows, 1n);
      assert.equal(await db.selectFrom('meta').selectAll().executeTakeFirst(), undefined);
    });

    test('secrets: insert, read, update, delete; timestamps come back as numbers', async () => {
      const { db } = store;
      // Year 2100 in ms: past 2^32, so a 32-bit column or an int8-as-string parser would show.
      const t = 4_102_444_800_123;
      const secret = {
        id: 'sec_1',
        purpose: 'provider-credential',
        workspace_id: null,
        master_key_version: 1,
        wrapped_key: Buffer.from('wrapped').toString('base64'),
        ciphertext: Buffer.from('ciphertext').toString('base64'),
        created_at: t,
        updated_at: t,
      };
      const returned = await db.insertInto('secrets').values(secret).returningAll().executeTakeFirstOrThrow();
      assert.deepEqual(returned, secret);
      await db
        .insertInto('secrets')
        .values({ ...secret, id: 'sec_2', workspace_id: 'wsp_a', master_key_version: 2 })
        .execute();

      const oldVersion = await db
        .selectFrom('secrets')
        .select('id')
        .where('master_key_version', '<', 2)
        .execute();
      assert.deepEqual(oldVersion, [{ id: 'sec_1' }]);
      const count = await db
        .selectFrom('secrets')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirst();
      assert.equal(count?.n, 2, 'count(*) is a number in both dialects');

      await db
        .updateTable('secrets')
        .set({ master_key_version: 2, updated_at: t + 1 })
        .where('id', '=', 'sec_1')
        .execute();
      const updated = await db
        .selectFrom('secrets')
        .selectAll()
        .where('id', '=', 'sec_1')
        .executeTakeFirstOrThrow();
      assert.equal(updated.master_key_version, 2);
      assert.equal(updated.updated_at, t + 1);
      assert.equal(typeof updated.created_at, 'number');

      await db.deleteFrom('secrets').where('workspace_id', '=', 'wsp_a').execute();
      assert.deepEqual(await db.selectFrom('secrets').select('id').execute(), [{ id: 'sec_1' }]);
      await db.deleteFrom('secrets').execute();
    });

    test('columns are typed in both dialects (SQLite tables are STRICT)', async () => {
      const { db } = store;
      await assert.rejects(
        sql`insert into secrets (id, purpose, master_key_version, wrapped_key, ciphertext, created_at, updated_at)
            values ('bad', 'p', 'not a number', 'w', 'c', 1, 1)`.execute(db),
      );
      await assert.rejects(
        db
          .insertInto('meta')
          .values({ key: 'k', value: null as unknown as string, updated_at: 1 })
          .execute(),
      );
      await assert.rejects(
        db
          .insertInto('meta')
          .values({ key: 'dup', value: 'a', updated_at: 1 })
          .execute()
          .then(() => db.insertInto('meta').values({ key: 'dup', value: 'b', updated_at: 1 }).execute()),
      );
      await db.deleteFrom('meta').execute();
    });

    test('a transaction that throws rolls back every write', async () => {
      const { db } = store;
      await assert.rejects(
        db.transaction().execute(async (trx) => {
          await trx.insertInto('meta').values({ key: 'tx_a', value: '1', updated_at: 1 }).execute();
          await trx.updateTable('meta').set({ value: '2' }).where('key', '=', 'tx_a').execute();
          throw new Error('boom');
        }),
        /boom/,
      );
      assert.equal(
        await db.selectFrom('meta').selectAll().where('key', '=', 'tx_a').executeTakeFirst(),
        undefined,
      );

      await db.transaction().execute(async (trx) => {
        await trx.insertInto('meta').values({ key: 'tx_b', value: '1', updated_at: 1 }).execute();
      });
      assert.ok(await db.selectFrom('meta').selectAll().where('key', '=', 'tx_b').executeTakeFirst());
      await db.deleteFrom('meta').execute();
    });

    test('two stores migrating one fresh database at once apply each migration exactly once', async () => {
      const config = await target.fresh();
      const [a, b] = await Promise.all([openStore({ config, logger }), openStore({ config, logger })]);
      try {
        const reports = await Promise.all([a.migrate(), b.migrate()]);
        const applied = reports.flatMap((r) => r.applied).sort();
        assert.deepEqual(applied, migrationNames, 'each migration applied by exactly one store');
        for (const r of reports) assert.deepEqual(r.current, migrationNames);
        const rows = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(
          a.db,
        );
        assert.deepEqual(
          rows.rows.map((r) => r.name),
          migrationNames,
        );
        // Both see the same, usable schema.
        await a.db.insertInto('meta').values({ key: 'from_a', value: 'x', updated_at: 1 }).execute();
        const seen = await b.db
          .selectFrom('meta')
          .select('value')
          .where('key', '=', 'from_a')
          .executeTakeFirst();
        assert.deepEqual(seen, { value: 'x' });
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });

    test('ping answers while open; after close it rejects as unavailable', async () => {
      const other = await openStore({ config: await target.fresh(), logger });
      await other.ping();
      await other.close();
      await other.close(); // closing twice is harmless
      const err = await other.ping().then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof Error, 'ping after close rejects');
      assert.ok(isStoreUnavailableError(err), `recognised as unavailable: ${String(err)}`);
    });
  });
}
