import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Value } from '@sinclair/typebox/value';
import { sql } from 'kysely';
import pino from 'pino';
import { type Config, ConfigSchema } from '../../src/config/schema.ts';
import { openStore } from '../../src/store/open.ts';

/**
 * Durability: a writer killed with SIGKILL mid-stream (no shutdown hook runs) must lose no row whose
 * commit it had acknowledged, and leave a file that passes SQLite's integrity check.
 */

const child = new URL('./sqlite-crash.child.ts', import.meta.url).pathname;
const root = await mkdtemp(join(tmpdir(), 'portcullis-crash-'));
after(() => rm(root, { recursive: true, force: true }));

test('kill -9 during writes loses no committed row and leaves an intact database', async () => {
  const dataDir = join(root, 'data');
  const KILL_AFTER = 400;
  const reported: string[] = [];

  const p = spawn(process.execPath, ['--no-warnings', child, dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    p.on('exit', (_code, signal) => resolve(signal)),
  );

  let partial = '';
  let killed = false;
  p.stdout.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop() ?? '';
    reported.push(...lines);
    if (!killed && reported.length >= KILL_AFTER) {
      killed = true;
      p.kill('SIGKILL');
    }
  });
  const signal = await exited;
  assert.equal(signal, 'SIGKILL', `writer died on its own: ${err}`);
  assert.ok(reported.length >= KILL_AFTER, 'writer reported enough commits before the kill');

  const config = Value.Default(ConfigSchema, { dataDir }) as Config;
  const store = await openStore({ config, logger: pino({ level: 'silent' }) });
  try {
    const integrity = await sql<{ integrity_check: string }>`pragma integrity_check`.execute(store.db);
    assert.deepEqual(
      integrity.rows.map((r) => r.integrity_check),
      ['ok'],
    );
    const rows = await store.db.selectFrom('secrets').select('id').execute();
    const present = new Set(rows.map((r) => r.id));
    const lost = reported.filter((id) => !present.has(id));
    assert.deepEqual(lost, [], 'every acknowledged row survived');
    // Batches are atomic: no batch is half there.
    const perBatch = new Map<string, number>();
    for (const id of present) {
      const batch = id.split('_')[1] ?? '';
      perBatch.set(batch, (perBatch.get(batch) ?? 0) + 1);
    }
    for (const [batch, n] of perBatch) assert.equal(n, 5, `batch ${batch} is whole`);
    // The reopened store still migrates and writes.
    assert.deepEqual((await store.migrate()).applied, []);
    await store.db.insertInto('meta').values({ key: 'after_crash', value: 'ok', updated_at: 1 }).execute();
  } finally {
    await store.close();
  }
});
