import { calcPrice } from '@pydantic/genai-prices';
import type { Clock } from '../clock.ts';
import type { TokenUsage } from '../providers/translate/shared.ts';
import type { ModelPrice } from './price-repository.ts';

/**
 * Prices for budgets, in integer micro-dollars. A workspace's own price (price-repository.ts) wins;
 * otherwise the maintained table of `@pydantic/genai-prices` for the target's provider. Self-hosted
 * (`openai-compatible`) targets only ever use the workspace's prices: matching their model names
 * against a public provider's table would be a silent guess.
 *
 * Handy identity: 1 USD per million tokens = 1 micro-dollar per token, so cost in micro-dollars is
 * tokens × USD-per-Mtok.
 */
export interface PriceTarget {
  provider: string;
  upstreamModel: string;
}

/** USD per million tokens (= micro-dollars per token). */
export interface Rates {
  input: number;
  output: number;
  source: 'workspace' | 'genai-prices';
}

export interface PriceBook {
  /** Rates for a call, or undefined when no price is known. `model` is the name the client sent. */
  rates(workspaceId: string, model: string, target: PriceTarget): Promise<Rates | undefined>;
  /** Worst case of a call before it is made: input estimate plus the whole output cap. */
  worstCaseMicros(rates: Rates, target: PriceTarget, inputTokens: number, maxOutputTokens: number): number;
  /** Real cost from the provider's usage (cache reads and writes at their own rates when the table has them). */
  costMicros(rates: Rates, target: PriceTarget, usage: TokenUsage): number;
  /** Forgets cached workspace prices (after `prices set`). */
  invalidate(workspaceId?: string): void;
}

const PROVIDER_IDS: Readonly<Record<string, string>> = {
  openai: 'openai',
  anthropic: 'anthropic',
  'azure-openai': 'azure',
};

/**
 * Rates are read from the table at 100k tokens: below the long-context tiers (e.g. >200k input)
 * that raise some models' prices; worstCaseMicros asks the table itself for larger requests.
 */
const PROBE_TOKENS = 100_000;
const CACHE_TTL_MS = 5_000;
const MAX_TABLE_ENTRIES = 10_000;

export function createPriceBook(opts: {
  clock: Clock;
  loadWorkspacePrices: (workspaceId: string) => Promise<ModelPrice[]>;
}): PriceBook {
  const { clock } = opts;
  const workspaces = new Map<string, { expiresAt: number; prices: Promise<Map<string, ModelPrice>> }>();
  const table = new Map<string, Rates | null>();

  const workspacePrices = (workspaceId: string): Promise<Map<string, ModelPrice>> => {
    const now = clock.now();
    const hit = workspaces.get(workspaceId);
    if (hit && hit.expiresAt > now) return hit.prices;
    if (workspaces.size >= MAX_TABLE_ENTRIES) workspaces.clear();
    const prices = opts
      .loadWorkspacePrices(workspaceId)
      .then((list) => new Map(list.map((p) => [p.model, p])));
    // A failed load is not cached: the next call asks again.
    prices.catch(() => workspaces.delete(workspaceId));
    workspaces.set(workspaceId, { expiresAt: now + CACHE_TTL_MS, prices });
    return prices;
  };

  const tableRates = (target: PriceTarget): Rates | undefined => {
    const providerId = PROVIDER_IDS[target.provider];
    if (providerId === undefined) return undefined;
    const cacheKey = `${providerId} ${target.upstreamModel}`;
    const cached = table.get(cacheKey);
    if (cached !== undefined) return cached ?? undefined;
    const input = calcPrice({ input_tokens: PROBE_TOKENS }, target.upstreamModel, { providerId });
    const output = calcPrice({ output_tokens: PROBE_TOKENS }, target.upstreamModel, { providerId });
    const rates: Rates | null =
      input && output
        ? {
            input: (input.total_price * 1_000_000) / PROBE_TOKENS,
            output: (output.total_price * 1_000_000) / PROBE_TOKENS,
            source: 'genai-prices',
          }
        : null;
    if (table.size >= MAX_TABLE_ENTRIES) table.clear();
    table.set(cacheKey, rates);
    return rates ?? undefined;
  };

  const linear = (rates: Rates, input: number, output: number): number =>
    Math.ceil(input * rates.input + output * rates.output);

  return {
    async rates(workspaceId, model, target) {
      const own = await workspacePrices(workspaceId);
      const price = own.get(target.upstreamModel) ?? own.get(model);
      if (price) {
        return {
          input: price.inputMicrosPerMtok / 1_000_000,
          output: price.outputMicrosPerMtok / 1_000_000,
          source: 'workspace',
        };
      }
      return tableRates(target);
    },
    worstCaseMicros(rates, target, inputTokens, maxOutputTokens) {
      const cost = linear(rates, inputTokens, maxOutputTokens);
      const providerId = PROVIDER_IDS[target.provider];
      if (rates.source !== 'genai-prices' || inputTokens <= PROBE_TOKENS || providerId === undefined)
        return cost;
      const tiered = calcPrice(
        { input_tokens: inputTokens, output_tokens: maxOutputTokens },
        target.upstreamModel,
        { providerId },
      );
      return Math.max(cost, tiered ? Math.ceil(tiered.total_price * 1_000_000) : 0);
    },
    costMicros(rates, target, usage) {
      const providerId = PROVIDER_IDS[target.provider];
      // The table itself (~40 µs a call) only when the cached linear rates could be wrong: cache
      // reads and writes have their own prices, and long prompts may fall in a dearer tier.
      const special =
        usage.cacheReadTokens > 0 || usage.cacheWriteTokens > 0 || usage.inputTokens > PROBE_TOKENS;
      if (special && rates.source === 'genai-prices' && providerId !== undefined) {
        const exact = calcPrice(
          {
            input_tokens: usage.inputTokens,
            output_tokens: usage.outputTokens,
            cache_read_tokens: usage.cacheReadTokens,
            cache_write_tokens: usage.cacheWriteTokens,
          },
          target.upstreamModel,
          { providerId },
        );
        if (exact) return Math.ceil(exact.total_price * 1_000_000);
      }
      return linear(rates, usage.inputTokens, usage.outputTokens);
    },
    invalidate(workspaceId) {
      if (workspaceId === undefined) workspaces.clear();
      else workspaces.delete(workspaceId);
    },
  };
}
