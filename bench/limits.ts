/**
 * Cost of the limit stage (issue 6) per request, in process: admit + settle with every kind of
 * limit on (key rpm, tpm, concurrency, budget; workspace tpm and budget) and a ~1 KB prompt.
 * Memory counters always; Redis too when REDIS_URL is set (then the time is mostly round trips).
 *
 *   node bench/limits.ts [iterations]
 */
import { loadConfig } from '../src/config/load.ts';
import { createMemoryCounters } from '../src/counters/memory.ts';
import { createRedisCounters } from '../src/counters/redis.ts';
import type { Counters } from '../src/counters/types.ts';
import { createPriceBook } from '../src/limits/prices.ts';
import { createLimitsStage } from '../src/limits/stage.ts';
import { createTokenEstimator } from '../src/limits/tokens.ts';
import { createLogger } from '../src/logger.ts';

const iterations = Number(process.argv[2] ?? 20_000);
const clock = { now: () => Date.now() };
const logger = createLogger({ log: { level: 'silent' } });
const config = loadConfig({ env: {} }).config;
const prompt = 'The quick brown fox jumps over the lazy dog. '.repeat(23); // ~1 KB
const body = { model: 'gpt-4o-mini', max_tokens: 256, messages: [{ role: 'user', content: prompt }] };
const target = { provider: 'openai', upstreamModel: 'gpt-4o-mini' };
const usage = { inputTokens: 240, outputTokens: 100, cacheReadTokens: 0, cacheWriteTokens: 0 };

async function run(label: string, counters: Counters, exactUpToChars: number): Promise<void> {
  const stage = createLimitsStage({
    config,
    logger,
    clock,
    counters,
    prices: createPriceBook({ clock, loadWorkspacePrices: async () => [] }),
    tokens: await createTokenEstimator({ exactUpToChars }),
    loadWorkspaceLimits: async () => ({ tpm: 1_000_000_000, budgetUsd: 1_000_000_000 }),
  });
  const call = (i: number) => ({
    keyId: `key${i % 1000}`,
    workspaceId: 'wsp1',
    keyLimits: {
      rpm: 1_000_000,
      tpm: 1_000_000_000,
      concurrency: 100,
      budgetUsd: 1_000_000,
      budgetWindow: 'month' as const,
    },
    endpoint: 'chat',
    model: 'gpt-4o-mini',
    body,
    targets: [target],
  });
  const n = label.startsWith('redis') ? Math.min(iterations, 2_000) : iterations;
  for (let i = 0; i < Math.min(n, 1000); i++) await (await stage.admit(call(i))).settle(usage, 200, target);
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const ticket = await stage.admit(call(i));
    await ticket.settle(usage, 200, target);
  }
  const us = Number(process.hrtime.bigint() - start) / 1000 / n;
  console.log(
    `${label.padEnd(44)} ${us.toFixed(1).padStart(7)} µs per request (admit + settle, ${n} requests)`,
  );
}

await run('memory, prompt estimated (bytes / 3)', createMemoryCounters({ clock }), 256);
await run('memory, prompt counted by js-tiktoken', createMemoryCounters({ clock }), 1_000_000);
const redisUrl = process.env.REDIS_URL;
if (redisUrl) {
  const redis = await createRedisCounters({
    url: redisUrl,
    logger,
    clock,
    prefix: `pcx-bench-${process.pid}:`,
  });
  await run('redis, prompt estimated (bytes / 3)', redis, 256);
  await redis.close();
}
