import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { systemClock } from '../../src/clock.ts';
import { createMemoryCounters } from '../../src/counters/memory.ts';
import { createRedisCounters } from '../../src/counters/redis.ts';
import type { Counters } from '../../src/counters/types.ts';
import { PortcullisError } from '../../src/errors/catalogue.ts';
import { createKeyRepository } from '../../src/keys/repository.ts';
import { createKeyVerifier, type KeyVerifier } from '../../src/keys/verify.ts';
import { freshPlace, type Opened, openPlace, type Place, pgUrl, redisUrl } from '../contract/keys-helpers.ts';

/**
 * DESIGN.md invariant 7: revoking a key takes effect on every replica within one second. Two
 * "replicas" here are two independent stacks (their own database pool, their own Redis
 * connections, their own key cache) sharing one PostgreSQL schema and one Redis.
 */

const places: Place[] = [];
const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of closers.reverse()) await c().catch(() => {});
  for (const p of places) await p.cleanup();
});

interface Replica extends Opened {
  counters: Counters;
  verifier: KeyVerifier;
}

async function replica(place: Place, counters: Counters, cacheTtlMs: number): Promise<Replica> {
  const opened = await openPlace(place, systemClock);
  const verifier = createKeyVerifier({
    store: opened.store,
    pepper: opened.pepper,
    clock: systemClock,
    counters,
    logger: opened.logger,
    cacheTtlMs,
  });
  await verifier.start();
  closers.push(async () => {
    await verifier.stop();
    await counters.close();
    await opened.store.close();
  });
  return { ...opened, counters, verifier };
}

/** Milliseconds until `verify` is refused with `code`, polling every 10 ms, or Infinity after `limitMs`. */
async function timeUntilRefused(
  verifier: KeyVerifier,
  key: string,
  code: string,
  limitMs: number,
): Promise<number> {
  const start = performance.now();
  while (performance.now() - start < limitMs) {
    try {
      await verifier.verify(key);
    } catch (err) {
      assert.ok(err instanceof PortcullisError);
      assert.equal(err.code, code);
      return performance.now() - start;
    }
    await sleep(10);
  }
  return Number.POSITIVE_INFINITY;
}

describe('key revocation across replicas', () => {
  it('PostgreSQL + Redis: a revocation on replica A is enforced on replica B within one second', {
    skip: (!pgUrl || !redisUrl) && 'TEST_DATABASE_URL and TEST_REDIS_URL not set',
  }, async () => {
    const place = await freshPlace('postgres');
    places.push(place);
    const prefix = `pcx-test-keys-${randomBytes(4).toString('hex')}:`;
    const redis = () => createRedisCounters({ url: redisUrl ?? '', logger: quietLogger, prefix });
    // B caches for a minute: only the broadcast can make it refuse within a second.
    const a = await replica(place, await redis(), 60_000);
    const b = await replica(place, await redis(), 60_000);
    const repoA = createKeyRepository({
      store: a.store,
      clock: systemClock,
      pepper: a.pepper,
      counters: a.counters,
    });

    const { key, record } = await repoA.create({ workspaceId: a.workspaceId, name: 'shared' });
    await a.verifier.verify(key);
    await b.verifier.verify(key); // warm B's cache
    await repoA.revoke(record.id);
    const elapsed = await timeUntilRefused(b.verifier, key, 'api_key_revoked', 1000);
    assert.ok(elapsed <= 1000, `replica B still accepted the key after ${elapsed} ms`);

    // Rotation and updates travel the same way.
    const second = await repoA.create({ workspaceId: a.workspaceId, name: 'rotated' });
    await b.verifier.verify(second.key);
    await repoA.rotate(second.record.id, { graceMs: 0 });
    assert.ok((await timeUntilRefused(b.verifier, second.key, 'api_key_expired', 1000)) <= 1000);
  });

  it('without Redis, the cache TTL bounds staleness to about one second', async () => {
    const place = await freshPlace(pgUrl ? 'postgres' : 'sqlite');
    places.push(place);
    const a = await replica(place, createMemoryCounters({ clock: systemClock }), 1000);
    const b = await replica(place, createMemoryCounters({ clock: systemClock }), 1000);
    const repoA = createKeyRepository({
      store: a.store,
      clock: systemClock,
      pepper: a.pepper,
      counters: a.counters,
    });
    const { key, record } = await repoA.create({ workspaceId: a.workspaceId, name: 'local' });
    await b.verifier.verify(key);
    await repoA.revoke(record.id);
    // A's own verifier hears its in-process notice at once.
    assert.ok((await timeUntilRefused(a.verifier, key, 'api_key_revoked', 100)) < 100);
    const elapsed = await timeUntilRefused(b.verifier, key, 'api_key_revoked', 2000);
    assert.ok(elapsed <= 1100, `replica B accepted the key for ${elapsed} ms`);
  });
});

const quietLogger = { info() {}, warn() {}, error() {} };
