import type { KeyObject } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import pino from 'pino';
import type { Clock } from '../../src/clock.ts';
import { loadConfig } from '../../src/config/load.ts';
import { loadPepper } from '../../src/keys/hash.ts';
import { resolveMasterKeys } from '../../src/secrets/master-key.ts';
import { openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/types.ts';
import { createWorkspaceRepository } from '../../src/workspaces/repository.ts';

/**
 * One isolated store for key tests: SQLite in a temp folder, or a fresh PostgreSQL schema
 * (selected through `options=-c search_path=…`), migrated, with a master key and the pepper loaded.
 */

export const pgUrl = process.env.TEST_DATABASE_URL;
export const redisUrl = process.env.TEST_REDIS_URL;

export class ManualClock implements Clock {
  t: number;
  constructor(t = Date.UTC(2030, 0, 1)) {
    this.t = t;
  }
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

export interface Place {
  dataDir: string;
  databaseUrl?: string;
  masterKey: string;
  cleanup(): Promise<void>;
}

export async function freshPlace(dialect: 'sqlite' | 'postgres'): Promise<Place> {
  const dataDir = await mkdtemp(join(tmpdir(), 'portcullis-keys-'));
  const masterKey = randomBytes(32).toString('base64');
  if (dialect === 'sqlite')
    return { dataDir, masterKey, cleanup: () => rm(dataDir, { recursive: true, force: true }) };
  const schema = `keys_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: pgUrl });
  await admin.connect();
  await admin.query(`create schema "${schema}"`);
  await admin.end();
  const url = new URL(pgUrl ?? '');
  url.searchParams.set('options', `-c search_path=${schema}`);
  return {
    dataDir,
    masterKey,
    databaseUrl: url.toString(),
    async cleanup() {
      const c = new pg.Client({ connectionString: pgUrl });
      await c.connect();
      await c.query(`drop schema "${schema}" cascade`);
      await c.end();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface Opened {
  store: Store;
  pepper: KeyObject;
  logs: string[];
  logger: pino.Logger;
  workspaceId: string;
}

export async function openPlace(place: Place, clock: Clock, workspace = 'acme'): Promise<Opened> {
  const env: Record<string, string> = {
    PORTCULLIS_DATA_DIR: place.dataDir,
    PORTCULLIS_MASTER_KEY: place.masterKey,
  };
  if (place.databaseUrl) env.DATABASE_URL = place.databaseUrl;
  const { config } = loadConfig({ env });
  const logs: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => logs.push(line) });
  const store = await openStore({ config, logger });
  await store.migrate();
  const keys = await resolveMasterKeys({ config, store, logger, dataDir: place.dataDir, clock });
  const pepper = await loadPepper({ store, keys, clock });
  const workspaces = createWorkspaceRepository({ store, clock });
  const ws = (await workspaces.find(workspace)) ?? (await workspaces.create(workspace));
  return { store, pepper, logs, logger, workspaceId: ws.id };
}

/** Every row of every table (migration bookkeeping included), as text. */
export async function dumpDatabase(store: Store): Promise<string> {
  let tables = await store.db.introspection.getTables({ withInternalKyselyTables: true });
  if (store.dialect === 'postgres') {
    // Other test runs keep their own schemas in the same database: only ours.
    const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(store.db);
    tables = tables.filter((t) => t.schema === rows[0]?.schema);
  }
  if (!tables.some((t) => t.name === 'api_keys')) throw new Error('dump found no api_keys table');
  const parts: string[] = [];
  for (const t of tables) {
    const { rows } = await sql<Record<string, unknown>>`select * from ${sql.table(t.name)}`.execute(store.db);
    parts.push(`${t.name}: ${JSON.stringify(rows)}`);
  }
  return parts.join('\n');
}
