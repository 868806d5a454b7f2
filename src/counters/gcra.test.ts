import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  charge,
  decodeState,
  divmod,
  encodeState,
  evaluateRate,
  type GcraState,
  normalize,
  remaining,
  resetMs,
} from './gcra.ts';
import type { RateSpec } from './types.ts';

const NOW = 1_700_000_000_000;

/** Runs rate calls against an in-test store of states, the way memory.ts does. */
function bucket() {
  const states = new Map<string, GcraState>();
  return (now: number, specs: RateSpec[]) => {
    const { result, writes } = evaluateRate((k) => states.get(k), now, specs);
    for (const [k, s] of writes) states.set(k, s);
    return result;
  };
}

describe('gcra', () => {
  it('divmod floors towards minus infinity, exactly near 2^52', () => {
    assert.deepEqual(divmod(7, 3), [2, 1]);
    assert.deepEqual(divmod(-7, 3), [-3, 2]);
    const b = 3_000_017;
    const a = 2 ** 52 - 5;
    const [q, r] = divmod(a, b);
    assert.equal(q * b + r, a);
    assert.ok(r >= 0 && r < b);
  });

  it('a full bucket bursts exactly `limit` even when the interval is fractional (1000 ms / 3)', () => {
    const rate = bucket();
    const spec = { key: 'k', limit: 3, windowMs: 1000, cost: 1 };
    const seen = [1, 2, 3, 4].map(() => rate(NOW, [spec]));
    assert.deepEqual(
      seen.map((r) => r.allowed),
      [true, true, true, false],
    );
    assert.deepEqual(
      seen.map((r) => r.outcomes[0]?.remaining),
      [2, 1, 0, 0],
    );
    assert.deepEqual(
      seen.map((r) => r.outcomes[0]?.resetMs),
      [334, 667, 1000, 1000],
    );
    // The next unit frees up after one interval, 333.33 ms, rounded up.
    assert.equal(seen[3]?.outcomes[0]?.retryAfterMs, 334);
    assert.equal(rate(NOW + 333, [spec]).allowed, false);
    assert.equal(rate(NOW + 334, [spec]).allowed, true);
    assert.equal(rate(NOW + 334, [spec]).allowed, false);
  });

  it('never lets more than limit + elapsed/T through over a long run of single units', () => {
    const rate = bucket();
    const spec = { key: 'k', limit: 7, windowMs: 1000, cost: 1 };
    let granted = 0;
    for (let t = 0; t <= 10_000; t += 1) {
      while (rate(NOW + t, [spec]).allowed) granted += 1;
    }
    // 7 in the initial burst plus 7 per second for 10 s.
    assert.equal(granted, 7 + 70);
  });

  it('charges cost N as N intervals and refuses a cost above the limit forever', () => {
    const rate = bucket();
    const r1 = rate(NOW, [{ key: 'k', limit: 10, windowMs: 1000, cost: 4 }]);
    assert.equal(r1.outcomes[0]?.remaining, 6);
    assert.equal(r1.outcomes[0]?.resetMs, 400);
    const r2 = rate(NOW, [{ key: 'k', limit: 10, windowMs: 1000, cost: 7 }]);
    assert.equal(r2.allowed, false);
    assert.equal(r2.outcomes[0]?.retryAfterMs, 100);
    const r3 = rate(NOW, [{ key: 'k', limit: 10, windowMs: 1000, cost: 11 }]);
    assert.equal(r3.allowed, false);
    assert.equal(r3.outcomes[0]?.retryAfterMs, Number.POSITIVE_INFINITY);
  });

  it('charges nothing when one spec of several is refused', () => {
    const rate = bucket();
    const a = { key: 'a', limit: 5, windowMs: 1000, cost: 1 };
    const b = { key: 'b', limit: 1, windowMs: 1000, cost: 1 };
    assert.equal(rate(NOW, [a, b]).allowed, true);
    const refused = rate(NOW, [a, b]);
    assert.equal(refused.allowed, false);
    assert.deepEqual(
      refused.outcomes.map((o) => [o.remaining, o.retryAfterMs]),
      [
        [4, 0],
        [0, 1000],
      ],
    );
    assert.equal(rate(NOW, [a]).outcomes[0]?.remaining, 3);
  });

  it('charges the same key twice when it appears twice in one call', () => {
    const rate = bucket();
    const spec = { key: 'k', limit: 2, windowMs: 1000, cost: 1 };
    assert.equal(rate(NOW, [spec, spec]).allowed, true);
    assert.equal(rate(NOW, [spec]).allowed, false);
  });

  it('converts a stored fraction when the limit changes, rounding against the caller', () => {
    const s = normalize({ q: NOW + 10, r: 1, l: 3 }, NOW, 4);
    assert.deepEqual(s, { q: NOW + 10, r: 2, l: 4 }); // 1/3 → 2/4, never less
    assert.deepEqual(normalize({ q: NOW - 1, r: 2, l: 3 }, NOW, 3), { q: NOW, r: 0, l: 3 });
    assert.deepEqual(normalize(undefined, NOW, 5), { q: NOW, r: 0, l: 5 });
  });

  it('reports remaining, reset and a cost-0 probe without charging', () => {
    const full: GcraState = { q: NOW, r: 0, l: 60 };
    assert.equal(remaining(full, NOW, 60_000), 60);
    assert.equal(resetMs(full, NOW), 0);
    const c = charge(full, NOW, 60_000, 60, 0);
    assert.equal(c.allowed, true);
    assert.deepEqual(c.next, full);
  });

  it('round-trips the stored text form', () => {
    const s = { q: NOW + 5, r: 2, l: 3 };
    assert.deepEqual(decodeState(encodeState(s)), s);
    assert.equal(decodeState('12'), undefined);
  });
});
