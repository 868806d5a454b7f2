import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ELLIPSIS, maskSecret } from './mask.ts';

const RANDOM = 'Zq8rT2vLm0XwPb7NcY4kHs1JdFgE6uAxyz9';

/** Characters of `value` that the mask reveals, not counting a known type prefix. */
function revealed(masked: string, prefix = ''): number {
  return masked.length - ELLIPSIS.length - prefix.length;
}

describe('maskSecret', () => {
  it('keeps known prefixes, three leading and four trailing characters', () => {
    assert.equal(maskSecret(`sk-proj-abc${RANDOM}`), 'sk-proj-abc…xyz9');
    assert.equal(maskSecret(`pcx_live_abc${RANDOM}`), 'pcx_live_abc…xyz9');
    assert.equal(maskSecret(`sk-ant-api03-abc${RANDOM}`), 'sk-ant-api03-abc…xyz9');
    assert.equal(maskSecret(`AKIA${'Q'.repeat(12)}WXYZ`), 'AKIA…WXYZ');
  });

  it('masks values without a known prefix the same way', () => {
    assert.equal(maskSecret(RANDOM), 'Zq8…xyz9');
  });

  it('keeps a generic word prefix only when it fits in the quarter', () => {
    assert.equal(maskSecret(`whsec_${RANDOM}${RANDOM}`), 'whsec_Zq8…xyz9');
    assert.equal(maskSecret(`whsec_${RANDOM}`), 'whsec_…xyz9');
    // Too short to spend six characters on a prefix that might be random.
    assert.equal(maskSecret(`whsec_${RANDOM.slice(5)}`), 'whs…xyz9');
  });

  it('reveals nothing useful of short values', () => {
    for (const v of ['', 'a', 'hunter2', 'sk-abcdefghijk', '123456789012345']) {
      assert.equal(maskSecret(v), ELLIPSIS, v);
    }
  });

  it('never reveals more than a quarter of the secret part, at any length', () => {
    const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-';
    for (let length = 0; length <= 80; length++) {
      const body = Array.from({ length }, (_, i) => alphabet[(i * 7) % alphabet.length]).join('');
      for (const prefix of ['', 'sk-proj-', 'pcx_live_']) {
        const value = prefix + body;
        const masked = maskSecret(value);
        assert.ok(masked.includes(ELLIPSIS), value);
        const shownPrefix = masked.startsWith(prefix) ? prefix : '';
        assert.ok(
          revealed(masked, shownPrefix) <= Math.floor((value.length - shownPrefix.length) / 4),
          `${value} → ${masked}`,
        );
      }
    }
  });

  it('returns distinct masks for keys that differ in their ends', () => {
    assert.notEqual(maskSecret(`sk-proj-aaa${RANDOM}1`), maskSecret(`sk-proj-aaa${RANDOM}2`));
  });
});
