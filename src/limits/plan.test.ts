import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMemoryCounters } from '../counters/memory.ts';
import {
  budgetsOf,
  buildPlan,
  crossedThresholds,
  type Level,
  releaseSpecs,
  tokenSettleSpecs,
  toMicros,
} from './plan.ts';

const now = Date.parse('2026-11-18T12:00:00Z');
const levels: Level[] = [
  {
    scope: 'key',
    id: 'key1',
    limits: { rpm: 10, tpm: 1000, concurrency: 2, budgetUsd: 5, budgetWindow: 'day' },
  },
  { scope: 'workspace', id: 'wsp1', limits: { tpm: 5000, budgetUsd: 500 } },
  { scope: 'global', id: '', limits: { rpm: 100 } },
];

describe('limit plan', () => {
  it('charges every applicable limit: requests first, then tokens; slots first, then budgets', () => {
    const budgets = budgetsOf(levels, now);
    assert.deepEqual(
      budgets.map((b) => [b.key, b.limitMicros]),
      [
        ['lim:spend:k:key1:day:2026-11-18', 5_000_000],
        ['lim:spend:w:wsp1:month:2026-11', 500_000_000],
      ],
    );
    const plan = buildPlan({ levels, budgets, tokens: 300, costMicros: 1234, now });
    assert.deepEqual(
      plan.rate.map((s) => [s.key, s.limit, s.cost]),
      [
        ['lim:rpm:k:key1', 10, 1],
        ['lim:rpm:g:', 100, 1],
        ['lim:tpm:k:key1', 1000, 300],
        ['lim:tpm:w:wsp1', 5000, 300],
      ],
    );
    assert.equal(plan.tokenSpecsFrom, 2);
    assert.deepEqual(
      plan.rateLevels.map((l) => l.scope),
      ['key', 'global', 'key', 'workspace'],
    );
    assert.deepEqual(
      plan.reserve.map((s) => [s.key, s.amount, s.limit]),
      [
        ['lim:conc:k:key1', 1, 2],
        ['lim:spend:k:key1:day:2026-11-18', 1234, 5_000_000],
        ['lim:spend:w:wsp1:month:2026-11', 1234, 500_000_000],
      ],
    );
    // The day budget lives until the end of its day (plus a minute of slack).
    assert.equal(plan.reserve[1]?.ttlMs, 12 * 3_600_000 + 60_000);
  });

  it('settles to the real cost and tokens, releasing the slot', () => {
    const plan = buildPlan({ levels, budgets: budgetsOf(levels, now), tokens: 300, costMicros: 1234, now });
    assert.deepEqual(
      releaseSpecs(plan, 1000 - 1234).map((s) => s.amount),
      [-1, -234, -234],
    );
    assert.deepEqual(
      tokenSettleSpecs(plan, 120).map((s) => s.cost),
      [-180, -180],
    );
    assert.deepEqual(tokenSettleSpecs(plan, 300), []);
  });

  it('refunds a token reservation through the counters (negative cost)', async () => {
    let t = now;
    const counters = createMemoryCounters({ clock: { now: () => t } });
    const spec = { key: 'tpm', limit: 1000, windowMs: 60_000, cost: 900 };
    assert.equal((await counters.rate([spec])).allowed, true);
    assert.equal((await counters.rate([{ ...spec, cost: 200 }])).allowed, false);
    await counters.rate([{ ...spec, cost: -800 }]);
    const read = await counters.rate([{ ...spec, cost: 0 }]);
    assert.equal(read.outcomes[0]?.remaining, 900);
    // A refund never makes a bucket hold more than its limit.
    await counters.rate([{ ...spec, cost: -5000 }]);
    assert.equal((await counters.rate([{ ...spec, cost: 0 }])).outcomes[0]?.remaining, 1000);
    t += 1;
    await counters.close();
  });

  it('finds the 50 / 80 / 100 % marks a change crossed', () => {
    assert.deepEqual(crossedThresholds(0, 100, 100), [50, 80, 100]);
    assert.deepEqual(crossedThresholds(49, 50, 100), [50]);
    assert.deepEqual(crossedThresholds(50, 79, 100), []);
    assert.deepEqual(crossedThresholds(90, 80, 100), []);
    assert.equal(toMicros(0.1 + 0.2), 300_000);
  });
});
