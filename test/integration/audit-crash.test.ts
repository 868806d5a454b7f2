import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { storedVerifier } from '../../src/audit/signer.ts';
import { verifyAuditLog } from '../../src/audit/verify.ts';
import { freshPlace, ManualClock, openPlace, type Place, pgUrl } from '../contract/keys-helpers.ts';

/**
 * Nothing acknowledged is lost (issue 8): processes create API keys through the audited path (key
 * and audit entry in one transaction) and print each key id only after the commit. Killed with
 * SIGKILL mid-write, every printed key has its audit entry and the chain still verifies. Two
 * processes appending at once to one database (two replicas) keep one chain.
 */

const CHILD = fileURLToPath(new URL('./audit-writer.child.ts', import.meta.url));
const NODE = process.execPath;

function spawnWriter(
  place: Place,
  label: string,
  count: number,
): { child: ChildProcess; ids: string[]; ready: Promise<void>; exited: Promise<number | null> } {
  const args = [
    '--disable-warning=ExperimentalWarning',
    CHILD,
    place.dataDir,
    place.masterKey,
    label,
    String(count),
  ];
  if (place.databaseUrl) args.push(place.databaseUrl);
  const child = spawn(NODE, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const ids: string[] = [];
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    if (line === 'ready') markReady();
    else if (line.startsWith('key_')) ids.push(line);
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, ids, ready, exited };
}

async function until(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const dialects = [
  { name: 'sqlite' as const, skip: false as const },
  { name: 'postgres' as const, skip: !pgUrl && 'TEST_DATABASE_URL not set' },
];

for (const dialect of dialects) {
  describe(`audit durability on ${dialect.name}`, { skip: dialect.skip }, () => {
    it('kill -9 during control-plane writes loses no acknowledged entry and leaves the chain verifiable', async () => {
      const place = await freshPlace(dialect.name);
      const setup = await openPlace(place, new ManualClock());
      await setup.store.close();
      const writer = spawnWriter(place, 'crash', 0);
      try {
        await writer.ready;
        await until(() => writer.ids.length >= 40, 60_000);
        writer.child.kill('SIGKILL');
        await writer.exited;
        const acked = [...writer.ids];
        const { store } = await openPlace(place, new ManualClock());
        try {
          const entries = await store.db
            .selectFrom('audit_log')
            .select(['target', 'action'])
            .where('action', '=', 'key.created')
            .execute();
          const audited = new Set(entries.map((e) => e.target));
          const keys = new Set(
            (await store.db.selectFrom('api_keys').select('id').execute()).map((k) => k.id),
          );
          for (const id of acked) {
            assert.ok(audited.has(id), `acknowledged key ${id} has its audit entry`);
            assert.ok(keys.has(id), `acknowledged key ${id} exists`);
          }
          // Atomicity: no key without its entry, no entry without its key (the one in flight went whole or not at all).
          assert.equal(audited.size, keys.size);
          const report = await verifyAuditLog(store, await storedVerifier(store));
          assert.equal(report.ok, true, JSON.stringify(report.problem));
          assert.ok(report.entries >= acked.length);
        } finally {
          await store.close();
        }
      } finally {
        writer.child.kill('SIGKILL');
        await place.cleanup();
      }
    });

    it('two processes appending at once keep one chain', async () => {
      const place = await freshPlace(dialect.name);
      const setup = await openPlace(place, new ManualClock());
      await setup.store.close();
      const a = spawnWriter(place, 'a', 30);
      const b = spawnWriter(place, 'b', 30);
      try {
        assert.deepEqual(await Promise.all([a.exited, b.exited]), [0, 0]);
        const { store } = await openPlace(place, new ManualClock());
        try {
          const report = await verifyAuditLog(store, await storedVerifier(store));
          assert.equal(report.ok, true, JSON.stringify(report.problem));
          assert.equal(report.entries, 60);
          const actors = await store.db.selectFrom('audit_log').select('actor').orderBy('seq').execute();
          // Interleaved, not one after the other: the appends really raced.
          const switches = actors.filter((r, i) => i > 0 && r.actor !== actors[i - 1]?.actor).length;
          assert.ok(switches >= 1);
        } finally {
          await store.close();
        }
      } finally {
        await place.cleanup();
      }
    });
  });
}
