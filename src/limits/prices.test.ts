import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createPriceBook } from './prices.ts';

describe('price book', () => {
  const book = createPriceBook({
    clock: { now: () => 0 },
    loadWorkspacePrices: async () => [
      {
        workspaceId: 'w',
        model: 'llama-local',
        inputMicrosPerMtok: 2_000_000,
        outputMicrosPerMtok: 4_000_000,
        updatedAt: 0,
      },
    ],
  });
  const usage = { inputTokens: 1000, outputTokens: 500, cacheReadTokens: 0, cacheWriteTokens: 0 };

  it('uses the workspace price first, in integer micro-dollars', async () => {
    const target = { provider: 'openai-compatible', upstreamModel: 'llama-local' };
    const rates = await book.rates('w', 'llama-local', target);
    assert.deepEqual(rates, { input: 2, output: 4, source: 'workspace' });
    assert.equal(book.costMicros(rates!, target, usage), 4000);
    assert.equal(book.worstCaseMicros(rates!, target, 1000, 1000), 6000);
  });

  it('falls back to genai-prices for known providers, never for self-hosted models', async () => {
    const target = { provider: 'openai', upstreamModel: 'gpt-4o-mini' };
    const rates = await book.rates('w', 'gpt-4o-mini', target);
    assert.equal(rates?.source, 'genai-prices');
    assert.ok((rates?.input ?? 0) > 0 && (rates?.output ?? 0) > (rates?.input ?? 0));
    assert.equal(
      book.costMicros(rates!, target, usage),
      Math.ceil(1000 * rates!.input + 500 * rates!.output),
    );
    assert.equal(
      await book.rates('w', 'x', { provider: 'openai-compatible', upstreamModel: 'gpt-4o-mini' }),
      undefined,
    );
    assert.equal(
      await book.rates('w', 'x', { provider: 'openai', upstreamModel: 'no-such-model-xyz' }),
      undefined,
    );
  });
});
