import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../config/load.ts';
import { createMemoryCounters } from '../counters/memory.ts';
import { PortcullisError } from '../errors/catalogue.ts';
import type { KeyLimits } from '../keys/types.ts';
import { createLogger } from '../logger.ts';
import type { WorkspaceLimits } from './model-limits.ts';
import {
  emptyPlans,
  planLevels,
  validatePlans,
  type WorkspacePlans,
  withAssignment,
  withoutPlan,
  withPlan,
} from './named-plans.ts';
import { createPriceBook } from './prices.ts';
import { createLimitsStage } from './stage.ts';
import { createTokenEstimator } from './tokens.ts';

const KEY_A = 'key_aaaaaaaaaaaa';
const KEY_B = 'key_bbbbbbbbbbbb';

/** The limit stage on real in-memory counters, with the given workspace limits and plans. */
async function stageWith(plans: WorkspacePlans, workspace: WorkspaceLimits = {}) {
  const clock = { now: () => 1_800_000_000_000 };
  const stage = createLimitsStage({
    config: loadConfig({ env: {} }).config,
    logger: createLogger({ log: { level: 'silent' } }),
    clock,
    counters: createMemoryCounters({ clock }),
    prices: createPriceBook({
      clock,
      loadWorkspacePrices: async () => [
        { workspaceId: 'wsp1', model: 'm', inputMicrosPerMtok: 1e6, outputMicrosPerMtok: 1e6, updatedAt: 0 },
      ],
    }),
    tokens: await createTokenEstimator({ exactUpToChars: 256 }),
    loadWorkspaceLimits: async () => workspace,
    loadWorkspacePlans: async () => plans,
  });
  const call = (keyId: string, keyLimits: KeyLimits = {}, model = 'm') =>
    stage.admit({
      keyId,
      workspaceId: 'wsp1',
      keyLimits,
      endpoint: 'chat',
      model,
      body: { model, max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] },
      targets: [{ provider: 'openai-compatible', upstreamModel: 'm' }],
    });
  /** How many of `n` calls are admitted (tickets kept open: concurrency slots stay taken). */
  const admitted = async (n: number, keyId: string, keyLimits: KeyLimits = {}, model = 'm') => {
    let ok = 0;
    const refusals: PortcullisError[] = [];
    for (let i = 0; i < n; i++) {
      try {
        await call(keyId, keyLimits, model);
        ok += 1;
      } catch (err) {
        assert.ok(err instanceof PortcullisError);
        refusals.push(err);
      }
    }
    return { ok, refusals };
  };
  return { stage, admitted };
}

function plansOf(
  defs: Record<string, WorkspaceLimits>,
  assign: { workspace?: string; keys?: Record<string, string> },
) {
  let plans = emptyPlans();
  for (const [name, limits] of Object.entries(defs)) plans = withPlan(plans, name, limits);
  if (assign.workspace) plans = withAssignment(plans, assign.workspace);
  for (const [key, plan] of Object.entries(assign.keys ?? {})) plans = withAssignment(plans, plan, key);
  return validatePlans(plans);
}

describe('named plans (enforced by the limit stage)', () => {
  it('a plan assigned to a key limits that key, and only it', async () => {
    const { admitted } = await stageWith(plansOf({ free: { rpm: 2 } }, { keys: { [KEY_A]: 'free' } }));
    const a = await admitted(4, KEY_A);
    assert.equal(a.ok, 2);
    assert.equal(a.refusals[0]?.code, 'rate_limited');
    assert.match(a.refusals[0]?.message ?? '', /key plan "free" limit of 2 requests per minute/);
    assert.equal((await admitted(4, KEY_B)).ok, 4);
  });

  it('a plan assigned to the workspace limits all its keys together', async () => {
    const { admitted } = await stageWith(plansOf({ team: { concurrency: 3 } }, { workspace: 'team' }));
    assert.equal((await admitted(2, KEY_A)).ok, 2);
    const b = await admitted(2, KEY_B);
    assert.equal(b.ok, 1);
    assert.equal(b.refusals[0]?.code, 'concurrency_limited');
    assert.match(b.refusals[0]?.message ?? '', /workspace plan "team"/);
  });

  it('the most restrictive applicable limit wins: key explicit, key plan, workspace plan', async () => {
    const plans = plansOf(
      { pro: { rpm: 5 }, team: { rpm: 3 } },
      { workspace: 'team', keys: { [KEY_A]: 'pro' } },
    );
    // The workspace plan (3) is tighter than the key's plan (5).
    assert.equal((await (await stageWith(plans)).admitted(6, KEY_A)).ok, 3);
    // The key's own explicit limit (1) is tighter than both plans.
    assert.equal((await (await stageWith(plans)).admitted(6, KEY_A, { rpm: 1 })).ok, 1);
    // A plan tighter than the key's own limit still applies.
    const loose = plansOf({ free: { rpm: 2 } }, { keys: { [KEY_A]: 'free' } });
    assert.equal((await (await stageWith(loose)).admitted(6, KEY_A, { rpm: 100 })).ok, 2);
  });

  it("a plan's budget is kept apart from the key's own budget of another window", async () => {
    const plans = plansOf(
      { capped: { budgetUsd: 0.00002, budgetWindow: 'day' } },
      { keys: { [KEY_A]: 'capped' } },
    );
    const { admitted } = await stageWith(plans);
    // Each call reserves ~15 tokens at $1/Mtok ≈ $0.000015: the plan's day budget admits one.
    const a = await admitted(3, KEY_A, { budgetUsd: 100, budgetWindow: 'month' });
    assert.equal(a.ok, 1);
    assert.equal(a.refusals[0]?.code, 'budget_exceeded');
    assert.match(a.refusals[0]?.message ?? '', /^key plan "capped" daily budget/);
  });

  it("a plan's per-model limits apply to calls of that model only", async () => {
    const plans = plansOf({ free: { models: { m: { rpm: 1 } } } }, { keys: { [KEY_A]: 'free' } });
    const { admitted } = await stageWith(plans);
    assert.equal((await admitted(3, KEY_A, {}, 'm')).ok, 1);
    assert.equal((await admitted(3, KEY_A, {}, 'other')).ok, 3);
  });

  it('shows plan rows in the usage view', async () => {
    const plans = plansOf({ free: { rpm: 2 } }, { keys: { [KEY_A]: 'free' } });
    const { stage } = await stageWith(plans);
    const view = await stage.usage({ workspaceId: 'wsp1', key: { id: KEY_A, limits: {} } });
    assert.deepEqual(
      view.usage.map((r) => [r.scope, r.id, r.plan, r.limit, r.max]),
      [['plan', `k:${KEY_A}`, 'free', 'rpm', 2]],
    );
  });
});

describe('named plans (settings.plans)', () => {
  it('validates names, limits and assignments', () => {
    assert.throws(() => withPlan(emptyPlans(), '__proto__', { rpm: 1 }), /plan name/);
    assert.throws(() => validatePlans({ plans: { free: { rpm: -1 } } }), /rpm/);
    assert.throws(() => validatePlans({ plans: {}, workspace: 'nope' }), /must name a plan/);
    assert.throws(() => validatePlans({ plans: { a: {} }, keys: { 'not a key': 'a' } }), /not a key id/);
    assert.throws(() => withAssignment(emptyPlans(), 'ghost', KEY_A), /no plan "ghost"/);
  });

  it('removing a plan removes its assignments; unassigning leaves the plan', () => {
    const plans = plansOf(
      { free: { rpm: 1 }, pro: { rpm: 9 } },
      { workspace: 'free', keys: { [KEY_A]: 'free', [KEY_B]: 'pro' } },
    );
    const removed = withoutPlan(plans, 'free');
    assert.deepEqual(removed, { plans: { pro: { rpm: 9 } }, keys: { [KEY_B]: 'pro' } });
    const unassigned = withAssignment(plans, undefined, KEY_B);
    assert.deepEqual(unassigned.keys, { [KEY_A]: 'free' });
    assert.deepEqual(Object.keys(unassigned.plans), ['free', 'pro']);
    assert.equal(withAssignment(plans, undefined).workspace, undefined);
  });

  it('gives a key the levels of its plan and of its workspace plan', () => {
    const plans = plansOf(
      { free: { rpm: 1 }, team: { tpm: 100 } },
      { workspace: 'team', keys: { [KEY_A]: 'free' } },
    );
    assert.deepEqual(
      planLevels(plans, { workspaceId: 'wsp1', keyId: KEY_A, model: 'm' }).map((l) => [l.id, l.plan?.name]),
      [
        [`k:${KEY_A}`, 'free'],
        ['w:wsp1', 'team'],
      ],
    );
    assert.deepEqual(
      planLevels(plans, { workspaceId: 'wsp1', keyId: KEY_B }).map((l) => l.id),
      ['w:wsp1'],
    );
  });
});
