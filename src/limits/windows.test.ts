import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dollars, resetText, windowAt, windowTtlMs } from './windows.ts';

describe('budget windows (UTC)', () => {
  const now = Date.parse('2026-11-18T15:30:00Z'); // a Wednesday

  it('starts days at midnight, weeks on Monday, months on the first', () => {
    const day = windowAt('day', now);
    assert.equal(day.id, '2026-11-18');
    assert.equal(resetText(day), '2026-11-19T00:00Z');
    const week = windowAt('week', now);
    assert.equal(week.id, 'w2026-11-16');
    assert.equal(resetText(week), '2026-11-23T00:00Z');
    const month = windowAt('month', now);
    assert.equal(month.id, '2026-11');
    assert.equal(resetText(month), '2026-12-01T00:00Z');
    assert.equal(resetText(windowAt('month', Date.parse('2026-12-31T23:59:59Z'))), '2027-01-01T00:00Z');
  });

  it('treats Sunday as the last day of the ISO week', () => {
    assert.equal(windowAt('week', Date.parse('2026-11-22T23:00:00Z')).id, 'w2026-11-16');
    assert.equal(windowAt('week', Date.parse('2026-11-23T00:00:00Z')).id, 'w2026-11-23');
  });

  it('gives counters a lifetime to the end of the window, and total a very long one', () => {
    assert.equal(windowTtlMs(windowAt('day', now), now), 8.5 * 3_600_000 + 60_000);
    const total = windowAt('total', now);
    assert.equal(resetText(total), 'never');
    assert.ok(windowTtlMs(total, now) > 365 * 86_400_000);
  });

  it('formats micro-dollars', () => {
    assert.equal(dollars(500_000_000), '$500.00');
    assert.equal(dollars(1_230_000), '$1.23');
    assert.equal(dollars(1_234), '$0.001234');
  });
});
