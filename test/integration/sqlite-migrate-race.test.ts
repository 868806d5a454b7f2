import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, test } from 'node:test';
import { MIGRATIONS } from '../../src/store/migrations/index.ts';
import type { MigrationReport } from '../../src/store/types.ts';

/**
 * Replicas (or `serve` and `portcullis migrate`) starting together on one fresh SQLite file: every
 * process must succeed, and each migration must be applied by exactly one of them.
 */

const child = new URL('./sqlite-migrate-race.child.ts', import.meta.url).pathname;
const names = MIGRATIONS.map(([name]) => name);
const root = await mkdtemp(join(tmpdir(), 'portcullis-race-'));
after(() => rm(root, { recursive: true, force: true }));

interface Child {
  ready: Promise<void>;
  go(): void;
  done: Promise<{ code: number | null; out: string; err: string }>;
}

function start(dataDir: string): Child {
  const p = spawn(process.execPath, ['--no-warnings', child, dataDir], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  p.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.startsWith('ready\n')) markReady();
  });
  p.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const done = new Promise<{ code: number | null; out: string; err: string }>((resolve, reject) => {
    p.on('error', reject);
    p.on('close', (code) => {
      markReady();
      resolve({ code, out: out.replace(/^ready\n/, ''), err });
    });
  });
  return { ready, go: () => p.stdin.end('go\n'), done };
}

test('processes racing to migrate one fresh SQLite file all succeed and apply each migration once', async () => {
  const ROUNDS = 5;
  const PROCESSES = 3;
  for (let round = 0; round < ROUNDS; round++) {
    const dataDir = join(root, `round-${round}`);
    // Children take a few hundred ms to boot; releasing them together makes them open and migrate at once.
    const children = Array.from({ length: PROCESSES }, () => start(dataDir));
    await Promise.all(children.map((c) => c.ready));
    for (const c of children) c.go();
    const results = await Promise.all(children.map((c) => c.done));
    for (const r of results) assert.equal(r.code, 0, `child failed in round ${round}: ${r.err}`);
    const reports = results.map((r) => JSON.parse(r.out) as MigrationReport);
    assert.deepEqual(reports.flatMap((r) => r.applied).sort(), names, `round ${round}: applied exactly once`);
    for (const r of reports) assert.deepEqual(r.current, names);

    const db = new DatabaseSync(join(dataDir, 'portcullis.db'), { readOnly: true });
    try {
      const rows = db.prepare('select name from kysely_migration order by name').all();
      assert.deepEqual(
        rows.map((r) => r.name),
        names,
      );
    } finally {
      db.close();
    }
  }
});
