import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../config/load.ts';
import { createMemoryCounters } from '../counters/memory.ts';
import type { Counters } from '../counters/types.ts';
import { PortcullisError } from '../errors/catalogue.ts';
import { createLogger } from '../logger.ts';
import type { WorkspaceLimits } from './model-limits.ts';
import { createPriceBook } from './prices.ts';
import { createLimitsStage } from './stage.ts';
import { createTokenEstimator } from './tokens.ts';

/** The stage against real in-memory counters, counting the counters calls each request makes. */
async function setup(workspace: WorkspaceLimits) {
  let now = 1_800_000_000_000;
  const clock = { now: () => now };
  const inner = createMemoryCounters({ clock });
  const calls: string[] = [];
  const counters = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(String(prop));
        return value.apply(target, args);
      };
    },
  }) as Counters;
  const stage = createLimitsStage({
    config: loadConfig({ env: {} }).config,
    logger: createLogger({ log: { level: 'silent' } }),
    clock,
    counters,
    prices: createPriceBook({
      clock,
      loadWorkspacePrices: async () => [
        {
          workspaceId: 'wsp1',
          model: 'm',
          inputMicrosPerMtok: 1_000_000,
          outputMicrosPerMtok: 1_000_000,
          updatedAt: 0,
        },
      ],
    }),
    tokens: await createTokenEstimator({ exactUpToChars: 256 }),
    loadWorkspaceLimits: async () => workspace,
  });
  const call = (model: string, keyLimits = {}) => ({
    keyId: 'key1',
    workspaceId: 'wsp1',
    keyLimits,
    endpoint: 'chat',
    model,
    body: { model, max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] },
    targets: [{ provider: 'openai-compatible', upstreamModel: 'm' }],
  });
  return { stage, calls, call, advance: (ms: number) => (now += ms) };
}

describe('limit stage', () => {
  it('admits with ONE counters call when rates, concurrency and a budget all apply', async () => {
    const { stage, calls, call } = await setup({ tpm: 10_000, budgetUsd: 1, budgetWindow: 'day' });
    const ticket = await stage.admit(call('m', { rpm: 5, concurrency: 2 }));
    assert.deepEqual(calls, ['admit']);
    await ticket.settle({ inputTokens: 3, outputTokens: 4, cacheReadTokens: 0, cacheWriteTokens: 0 }, 200, {
      provider: 'openai-compatible',
      upstreamModel: 'm',
    });
    assert.ok(
      calls.every((c, i) => i === 0 || c !== 'admit'),
      'settling does not admit',
    );
  });

  it('a refusal by a rate leaves the concurrency slot and budget untouched (nothing to undo)', async () => {
    const { stage, calls, call } = await setup({ budgetUsd: 1, budgetWindow: 'day', concurrency: 5 });
    await stage.admit(call('m', { rpm: 1 }));
    calls.length = 0;
    await assert.rejects(stage.admit(call('m', { rpm: 1 })), (err: unknown) => {
      assert.ok(err instanceof PortcullisError);
      assert.equal(err.code, 'rate_limited');
      return true;
    });
    assert.deepEqual(calls, ['admit'], 'no compensating release');
    const view = await stage.usage({ workspaceId: 'wsp1' });
    assert.equal(
      view.usage.find((r) => r.limit === 'concurrency')?.used,
      1,
      'only the admitted call holds a slot',
    );
  });

  it('charges a workspace model limit only to calls naming that model', async () => {
    const { stage, call, advance } = await setup({ models: { 'gpt-4o': { rpm: 1 } } });
    await stage.admit(call('gpt-4o'));
    await assert.rejects(stage.admit(call('gpt-4o')), /model "gpt-4o" limit of 1 requests per minute/);
    await stage.admit(call('gpt-4o-mini'));
    // `constructor` and friends are not model limits (own properties only).
    await stage.admit(call('constructor'));
    advance(60_000);
    await stage.admit(call('gpt-4o'));
  });
});
