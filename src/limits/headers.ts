import type { RateOutcome } from '../counters/types.ts';

/**
 * OpenAI's rate-limit headers (https://platform.openai.com/docs/guides/rate-limits#rate-limits-in-headers),
 * so clients and SDKs that already read them work unchanged. With several limits of one family
 * (key, workspace, global), the one with the least room is reported: it is the one that binds.
 */
export function rateLimitHeaders(
  requests: readonly RateOutcome[],
  tokens: readonly RateOutcome[],
): Record<string, string> {
  const headers: Record<string, string> = {};
  family(headers, 'requests', requests);
  family(headers, 'tokens', tokens);
  return headers;
}

function family(headers: Record<string, string>, name: string, outcomes: readonly RateOutcome[]): void {
  let binding: RateOutcome | undefined;
  for (const o of outcomes) {
    if (binding === undefined || o.remaining < binding.remaining) binding = o;
  }
  if (binding === undefined) return;
  headers[`x-ratelimit-limit-${name}`] = String(binding.limit);
  headers[`x-ratelimit-remaining-${name}`] = String(binding.remaining);
  headers[`x-ratelimit-reset-${name}`] = durationText(binding.resetMs);
}

/** OpenAI's duration style: `20ms`, `1s`, `6m0s`, `1.5s`. */
export function durationText(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms - minutes * 60_000) / 100) / 10;
  return minutes > 0 ? `${minutes}m${seconds}s` : `${seconds}s`;
}

/** `retry-after` in whole seconds (RFC 9110 §10.2.3), never 0 and never "Infinity", plus OpenAI's `retry-after-ms`. */
export function retryHeaders(retryAfterMs: number): { seconds: number; headers: Record<string, string> } {
  const ms = Number.isFinite(retryAfterMs) ? Math.max(1, Math.ceil(retryAfterMs)) : 60_000;
  const seconds = Math.max(1, Math.ceil(ms / 1000));
  return { seconds, headers: { 'retry-after': String(seconds), 'retry-after-ms': String(ms) } };
}
