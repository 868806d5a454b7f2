import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after as afterAll, afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createMemoryCounters } from '../../src/counters/memory.ts';
import { createRedisCounters } from '../../src/counters/redis.ts';
import type { Counters } from '../../src/counters/types.ts';
import { cleanRedisPrefix, quietLogger } from './counters-helpers.ts';

/**
 * One contract for every Counters implementation (memory always, Redis when TEST_REDIS_URL is set).
 * Time: memory runs on a manual clock; Redis runs on its own server clock, so its tests use short
 * real windows and bounds instead of exact values where time passes.
 */

const REDIS_URL = process.env.TEST_REDIS_URL;
const RUN_PREFIX = `pcx-test:${randomUUID()}:`;

interface Harness {
  name: string;
  skip: string | false;
  /** True when time passes on its own (assertions that depend on elapsed time get bounds). */
  realTime: boolean;
  /** Two handles on one namespace: two replicas for Redis, one instance twice in memory. */
  pair(): Promise<[Counters, Counters]>;
  advance(ms: number): Promise<void>;
}

let now = 1_700_000_000_000;
let namespace = 0;

const harnesses: Harness[] = [
  {
    name: 'memory',
    skip: false,
    realTime: false,
    async pair() {
      const c = createMemoryCounters({ clock: { now: () => now }, logger: quietLogger() });
      return [c, c];
    },
    async advance(ms) {
      now += ms;
    },
  },
  {
    name: 'redis',
    skip: !REDIS_URL && 'TEST_REDIS_URL is not set',
    realTime: true,
    async pair() {
      const prefix = `${RUN_PREFIX}${namespace++}:`;
      const open = () => createRedisCounters({ url: REDIS_URL ?? '', logger: quietLogger(), prefix });
      return Promise.all([open(), open()]);
    },
    advance: (ms) => sleep(ms),
  },
];

const opened: Counters[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  if (REDIS_URL) await cleanRedisPrefix(REDIS_URL, RUN_PREFIX);
});

async function open(h: Harness): Promise<[Counters, Counters]> {
  const [a, b] = await h.pair();
  opened.push(a);
  if (b !== a) opened.push(b);
  return [a, b];
}

function nextMessage(received: string[], count: number, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return (async () => {
    while (received.length < count) {
      if (Date.now() > deadline) throw new Error(`expected ${count} messages, got ${received.length}`);
      await sleep(5);
    }
  })();
}

for (const h of harnesses) {
  describe(`counters contract: ${h.name}`, { skip: h.skip }, () => {
    it('ping resolves and kind names the implementation', async () => {
      const [c] = await open(h);
      await c.ping();
      assert.equal(c.kind, h.name);
    });

    it('rate: a burst gets exactly `limit`, then a refusal with a sensible retryAfterMs', async () => {
      const [c] = await open(h);
      const spec = { key: 'burst', limit: 5, windowMs: 5000, cost: 1 };
      const results = [];
      for (let i = 0; i < 6; i++) results.push(await c.rate([spec]));
      assert.deepEqual(
        results.map((r) => r.allowed),
        [true, true, true, true, true, false],
      );
      assert.deepEqual(
        results.slice(0, 5).map((r) => r.outcomes[0]?.remaining),
        [4, 3, 2, 1, 0],
      );
      const refused = results[5]?.outcomes[0];
      assert.ok(refused);
      assert.equal(refused.key, 'burst');
      assert.equal(refused.limit, 5);
      assert.equal(refused.remaining, 0);
      // One unit comes back after one emission interval, 5000 / 5 = 1000 ms.
      assert.ok(
        refused.retryAfterMs > 900 && refused.retryAfterMs <= 1000,
        `retryAfterMs ${refused.retryAfterMs}`,
      );
      assert.ok(refused.resetMs > 4900 && refused.resetMs <= 5000, `resetMs ${refused.resetMs}`);
    });

    it('rate: the bucket refills over time', async () => {
      const [c] = await open(h);
      const spec = { key: 'refill', limit: 2, windowMs: 200, cost: 1 };
      assert.equal((await c.rate([spec])).allowed, true);
      assert.equal((await c.rate([spec])).allowed, true);
      const refused = await c.rate([spec]);
      assert.equal(refused.allowed, false);
      const wait = refused.outcomes[0]?.retryAfterMs ?? 0;
      assert.ok(wait > 0 && wait <= 100, `retryAfterMs ${wait}`);
      await h.advance(wait + (h.realTime ? 5 : 0));
      const again = await c.rate([spec]);
      assert.equal(again.allowed, true, 'one unit is back after retryAfterMs');
      assert.equal(again.outcomes[0]?.retryAfterMs, 0);
      await h.advance(200);
      const full = await c.rate([{ ...spec, cost: 0 }]);
      assert.equal(full.outcomes[0]?.remaining, 2, 'full again after a whole window');
      assert.equal(full.outcomes[0]?.resetMs, 0);
    });

    it('rate: several specs are charged all or nothing', async () => {
      const [c] = await open(h);
      const wide = { key: 'wide', limit: 10, windowMs: 60_000, cost: 1 };
      const narrow = { key: 'narrow', limit: 1, windowMs: 60_000, cost: 1 };
      assert.equal((await c.rate([wide, narrow])).allowed, true);
      const refused = await c.rate([wide, narrow]);
      assert.equal(refused.allowed, false);
      assert.equal(refused.outcomes.length, 2);
      assert.equal(refused.outcomes[0]?.retryAfterMs, 0, 'the wide bucket had room');
      assert.equal(refused.outcomes[0]?.remaining, 9, 'and reports its untouched state');
      assert.ok((refused.outcomes[1]?.retryAfterMs ?? 0) > 59_000);
      // A cost-0 call reads without charging: the wide bucket was not charged by the refusal.
      const probe = await c.rate([{ ...wide, cost: 0 }]);
      assert.equal(probe.allowed, true);
      assert.equal(probe.outcomes[0]?.remaining, 9);
    });

    it('rate: cost > 1 charges that many units; a cost above the limit never fits', async () => {
      const [c] = await open(h);
      const tokens = { key: 'tokens', limit: 1000, windowMs: 60_000, cost: 400 };
      const first = await c.rate([tokens]);
      assert.equal(first.allowed, true);
      assert.equal(first.outcomes[0]?.remaining, 600);
      const tooMuch = await c.rate([{ ...tokens, cost: 700 }]);
      assert.equal(tooMuch.allowed, false);
      const wait = tooMuch.outcomes[0]?.retryAfterMs ?? 0;
      assert.ok(wait > 5900 && wait <= 6000, `100 tokens at 60 ms each: ${wait}`);
      const rest = await c.rate([{ ...tokens, cost: 600 }]);
      assert.equal(rest.allowed, true);
      assert.equal(rest.outcomes[0]?.remaining, 0);
      const never = await c.rate([{ key: 'tokens2', limit: 1000, windowMs: 60_000, cost: 1001 }]);
      assert.equal(never.allowed, false);
      assert.equal(never.outcomes[0]?.retryAfterMs, Number.POSITIVE_INFINITY);
      assert.equal(never.outcomes[0]?.remaining, 1000);
    });

    it('rate: rejects malformed specs instead of guessing', async () => {
      const [c] = await open(h);
      await assert.rejects(c.rate([]), RangeError);
      await assert.rejects(c.rate([{ key: 'x', limit: 0, windowMs: 1000, cost: 1 }]), RangeError);
      await assert.rejects(c.rate([{ key: 'x', limit: 1, windowMs: 1000, cost: 0.5 }]), TypeError);
      await assert.rejects(c.rate([{ key: '', limit: 1, windowMs: 1000, cost: 1 }]), TypeError);
    });

    it('reserve: all or nothing, with the index of the spec that had no room', async () => {
      const [c] = await open(h);
      const month = { key: 'spend:ws', amount: 30, limit: 100, ttlMs: 60_000 };
      const day = { key: 'spend:key', amount: 5, limit: 10, ttlMs: 60_000 };
      assert.deepEqual(await c.reserve([month, day]), { ok: true, values: [30, 5] });
      const refused = await c.reserve([month, { ...day, amount: 6 }]);
      assert.deepEqual(refused, { ok: false, values: [30, 5], refusedIndex: 1 });
      assert.deepEqual(await c.get(['spend:ws', 'spend:key']), [30, 5], 'nothing was charged');
      // Exactly reaching the limit is allowed; one more is not.
      assert.deepEqual(await c.reserve([{ ...month, amount: 70 }]), { ok: true, values: [100] });
      assert.deepEqual(await c.reserve([{ ...month, amount: 1 }]), {
        ok: false,
        values: [100],
        refusedIndex: 0,
      });
    });

    it('admit: reservations and rates charged together, all or nothing across both', async () => {
      const [c] = await open(h);
      const slot = { key: 'adm:conc', amount: 1, limit: 2, ttlMs: 60_000 };
      const budget = { key: 'adm:spend', amount: 40, limit: 100, ttlMs: 60_000 };
      const rpm = { key: 'adm:rpm', limit: 2, windowMs: 600_000, cost: 1 };
      const tpm = { key: 'adm:tpm', limit: 1000, windowMs: 600_000, cost: 300 };
      const first = await c.admit([slot, budget], [rpm, tpm]);
      assert.equal(first.ok, true);
      assert.deepEqual(first.reserve, { ok: true, values: [1, 40] });
      assert.equal(first.rate.allowed, true);
      assert.deepEqual(
        first.rate.outcomes.map((o) => [o.key, o.remaining, o.retryAfterMs]),
        [
          ['adm:rpm', 1, 0],
          ['adm:tpm', 700, 0],
        ],
      );
      assert.equal((await c.admit([slot, budget], [rpm, tpm])).ok, true);
      // The rate refuses (rpm used up): the reservations, which had room, are not charged either.
      const rateRefused = await c.admit(
        [
          { ...slot, limit: 3 },
          { ...budget, limit: 200 },
        ],
        [rpm, tpm],
      );
      assert.equal(rateRefused.ok, false);
      assert.deepEqual(rateRefused.reserve, { ok: true, values: [2, 80] });
      assert.equal(rateRefused.rate.allowed, false);
      assert.equal(rateRefused.rate.outcomes[0]?.remaining, 0);
      assert.ok((rateRefused.rate.outcomes[0]?.retryAfterMs ?? 0) > 0);
      assert.deepEqual(await c.get(['adm:conc', 'adm:spend']), [2, 80], 'nothing was reserved');
      // A reservation refuses: no rate is charged (nor evaluated).
      const rpm2 = { ...rpm, key: 'adm:rpm2' };
      const reserveRefused = await c.admit([{ ...slot, limit: 3 }, budget], [rpm2]);
      assert.deepEqual(reserveRefused, {
        ok: false,
        reserve: { ok: false, values: [2, 80], refusedIndex: 1 },
        rate: { allowed: false, outcomes: [] },
      });
      const untouched = await c.rate([{ ...rpm2, cost: 0 }]);
      assert.equal(untouched.outcomes[0]?.remaining, 2, 'the rate was not charged');
      // Either list may be empty; both empty is a programming error.
      assert.deepEqual((await c.admit([], [{ ...rpm, key: 'adm:only' }])).reserve, { ok: true, values: [] });
      assert.deepEqual(await c.admit([{ ...budget, key: 'adm:only2' }], []), {
        ok: true,
        reserve: { ok: true, values: [40] },
        rate: { allowed: true, outcomes: [] },
      });
      await assert.rejects(c.admit([], []), RangeError);
      await assert.rejects(c.admit([{ ...slot, amount: 0.5 }], [rpm]), TypeError);
    });

    it('admit: 200 parallel calls against a cap of 50 and a rate of 40 admit exactly 40', async () => {
      const [a, b] = await open(h);
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          (i % 2 ? a : b).admit(
            [{ key: 'adm:inflight', amount: 1, limit: 50, ttlMs: 60_000 }],
            [{ key: 'adm:rate', limit: 40, windowMs: 600_000, cost: 1 }],
          ),
        ),
      );
      assert.equal(results.filter((r) => r.ok).length, 40);
      assert.deepEqual(await a.get(['adm:inflight']), [40], 'refused calls reserved nothing');
    });

    it('add: counts up and refunds with a negative delta', async () => {
      const [c] = await open(h);
      assert.equal(await c.add('fails', 5, 60_000), 5);
      assert.equal(await c.add('fails', -2, 60_000), 3);
      assert.equal(await c.add('fails', -3, 60_000), 0);
      const reserved = await c.reserve([{ key: 'budget', amount: 8, limit: 10, ttlMs: 60_000 }]);
      assert.equal(reserved.ok, true);
      // Settle: the call cost 3, not the 8 reserved.
      assert.equal(await c.add('budget', 3 - 8, 60_000), 3);
      assert.equal((await c.reserve([{ key: 'budget', amount: 7, limit: 10, ttlMs: 60_000 }])).ok, true);
    });

    it('keys expire after their ttl, which later adds do not extend', async () => {
      const [c] = await open(h);
      await c.add('lockout', 5, 300);
      await c.reserve([{ key: 'window', amount: 2, limit: 10, ttlMs: 300 }]);
      assert.deepEqual(await c.get(['lockout', 'window']), [5, 2]);
      await h.advance(150);
      await c.add('lockout', 1, 300);
      assert.deepEqual(await c.get(['lockout']), [6]);
      await h.advance(250);
      assert.deepEqual(await c.get(['lockout', 'window']), [0, 0]);
      assert.equal(await c.add('lockout', 1, 300), 1, 'an expired key starts again from zero');
    });

    it('get returns 0 for missing keys; delete removes keys', async () => {
      const [c] = await open(h);
      await c.add('a', 1, 60_000);
      await c.add('b', 2, 60_000);
      assert.deepEqual(await c.get(['a', 'missing', 'b']), [1, 0, 2]);
      assert.deepEqual(await c.get([]), []);
      await c.delete(['a', 'missing']);
      await c.delete([]);
      assert.deepEqual(await c.get(['a', 'b']), [0, 2]);
      await c.rate([{ key: 'r', limit: 1, windowMs: 60_000, cost: 1 }]);
      await c.delete(['r']);
      assert.equal((await c.rate([{ key: 'r', limit: 1, windowMs: 60_000, cost: 1 }])).allowed, true);
    });

    it('pub/sub: delivers asynchronously to every subscriber; unsubscribe stops delivery', async () => {
      const [a, b] = await open(h);
      const first: string[] = [];
      const second: string[] = [];
      let publishing = false;
      const off1 = await b.subscribe('revoked', (m) => {
        assert.equal(publishing, false, 'never delivered inside publish()');
        first.push(m);
      });
      const off2 = await b.subscribe('revoked', (m) => second.push(m));
      const offOther = await b.subscribe('other', () => assert.fail('wrong channel'));
      publishing = true;
      const sent = a.publish('revoked', 'key_1');
      publishing = false;
      await sent;
      await nextMessage(first, 1);
      await nextMessage(second, 1);
      await off1();
      await a.publish('revoked', 'key_2');
      await nextMessage(second, 2);
      await off2();
      await off2(); // unsubscribing twice is harmless
      await offOther();
      await a.publish('revoked', 'key_3');
      await sleep(50);
      assert.deepEqual(first, ['key_1']);
      assert.deepEqual(second, ['key_1', 'key_2']);
    });

    it('concurrency: 200 parallel reservations against a cap of 50 grant exactly 50', async () => {
      const [a, b] = await open(h);
      const calls = Array.from({ length: 200 }, (_, i) =>
        (i % 2 ? a : b).reserve([{ key: 'inflight', amount: 1, limit: 50, ttlMs: 60_000 }]),
      );
      const results = await Promise.all(calls);
      assert.equal(results.filter((r) => r.ok).length, 50);
      assert.deepEqual(await a.get(['inflight']), [50]);
    });

    it('concurrency: 200 parallel rate calls against a limit of 50 allow exactly 50', async () => {
      const [a, b] = await open(h);
      const spec = { key: 'rpm', limit: 50, windowMs: 600_000, cost: 1 };
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).rate([spec])));
      assert.equal(results.filter((r) => r.allowed).length, 50);
    });

    it('calls after close reject', async () => {
      const [c, other] = await h.pair();
      if (other !== c) opened.push(other);
      await c.close();
      await assert.rejects(c.ping());
      await assert.rejects(c.add('x', 1, 1000));
    });
  });
}
