import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { durationText, rateLimitHeaders, retryHeaders } from './headers.ts';

describe('rate-limit headers', () => {
  it('reports the binding limit of each family', () => {
    const h = rateLimitHeaders(
      [
        { key: 'k', limit: 100, remaining: 40, resetMs: 36_000, retryAfterMs: 0 },
        { key: 'w', limit: 1000, remaining: 10, resetMs: 59_000, retryAfterMs: 0 },
      ],
      [{ key: 't', limit: 5000, remaining: 4000, resetMs: 12_000, retryAfterMs: 0 }],
    );
    assert.deepEqual(h, {
      'x-ratelimit-limit-requests': '1000',
      'x-ratelimit-remaining-requests': '10',
      'x-ratelimit-reset-requests': '59s',
      'x-ratelimit-limit-tokens': '5000',
      'x-ratelimit-remaining-tokens': '4000',
      'x-ratelimit-reset-tokens': '12s',
    });
    assert.deepEqual(rateLimitHeaders([], []), {});
  });

  it('formats durations like OpenAI', () => {
    assert.equal(durationText(20), '20ms');
    assert.equal(durationText(1000), '1s');
    assert.equal(durationText(1500), '1.5s');
    assert.equal(durationText(360_000), '6m0s');
  });

  it('never sends 0 or Infinity as retry-after', () => {
    assert.deepEqual(retryHeaders(1).headers, { 'retry-after': '1', 'retry-after-ms': '1' });
    assert.equal(retryHeaders(2_001).seconds, 3);
    assert.equal(retryHeaders(Number.POSITIVE_INFINITY).headers['retry-after'], '60');
  });
});
