import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  findRecoveryCode,
  hashRecoveryCode,
  isRecoveryCodeShaped,
  newRecoveryCodes,
  normalizeRecoveryCode,
  RECOVERY_ALPHABET,
  RECOVERY_CODE_BITS,
  verifyRecoveryCode,
} from './recovery-codes.ts';

const FORMAT = /^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$/;

describe('newRecoveryCodes', () => {
  it('makes ten codes by default, or as many as asked', () => {
    assert.equal(newRecoveryCodes().length, 10);
    assert.equal(newRecoveryCodes(1).length, 1);
    assert.equal(newRecoveryCodes(16).length, 16);
  });

  it('refuses a nonsensical count', () => {
    for (const n of [0, -1, 1.5, 101, Number.NaN]) assert.throws(() => newRecoveryCodes(n), RangeError);
  });

  it('uses the unambiguous format xxxxx-xxxxx with at least 50 bits each', () => {
    assert.equal(RECOVERY_ALPHABET.length, 32);
    assert.equal(new Set(RECOVERY_ALPHABET).size, 32);
    for (const c of 'ilou') assert.ok(!RECOVERY_ALPHABET.includes(c), c);
    assert.ok(RECOVERY_CODE_BITS >= 50);
    for (const code of newRecoveryCodes(50)) assert.match(code, FORMAT);
  });

  it('gives distinct codes within a set and across sets', () => {
    const all = Array.from({ length: 50 }, () => newRecoveryCodes()).flat();
    assert.equal(new Set(all).size, all.length);
  });

  it('uses every character of the alphabet (no bias toward a subset)', () => {
    const counts = new Map<string, number>();
    for (const code of newRecoveryCodes(100)) {
      for (const c of code.replace('-', '')) counts.set(c, (counts.get(c) ?? 0) + 1);
    }
    // 1000 draws over 32 symbols: every symbol appears (expected ~31 each; missing one is ~1e-12).
    assert.equal(counts.size, 32);
  });
});

describe('normalizeRecoveryCode', () => {
  it('maps a generated code to itself', () => {
    for (const code of newRecoveryCodes()) assert.equal(normalizeRecoveryCode(code), code);
  });

  it('ignores case, spaces and dashes, and reads i/l as 1 and o as 0 (Crockford)', () => {
    const canonical = '7hq21-x9c0d';
    for (const typed of [
      '7HQ21-X9C0D',
      '7hq21x9c0d',
      ' 7hq21 x9c0d ',
      '7hq2 1x9 c0d',
      '7-h-q-2-1-x-9-c-0-d',
      '7hq2l-x9cod',
      '7HQ2I-X9COD',
      '7hq21\u2013x9c0d', // en dash, as word processors turn "-" into
      '７ｈｑ２１－ｘ９ｃ０ｄ', // fullwidth, folded by NFKC
      '7hq21\tx9c0d\n',
    ]) {
      assert.equal(normalizeRecoveryCode(typed), canonical, JSON.stringify(typed));
      assert.ok(isRecoveryCodeShaped(typed));
    }
  });

  it('leaves input that cannot be a code unshaped', () => {
    for (const typed of ['', '7hq21-x9c0', '7hq21-x9c0dd', '7hq21-x9c0u', '7hq21_x9c0d', 'password!!']) {
      assert.ok(!FORMAT.test(normalizeRecoveryCode(typed)), typed);
      assert.ok(!isRecoveryCodeShaped(typed), typed);
    }
  });
});

describe('hashRecoveryCode / verifyRecoveryCode', () => {
  it('round-trips through argon2id, accepting any spelling of the code', async () => {
    const [code, other] = newRecoveryCodes(2);
    assert.ok(code && other);
    const hash = await hashRecoveryCode(code);
    assert.match(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    assert.ok(!hash.includes(code) && !hash.includes(code.replace('-', '')));
    assert.equal(await verifyRecoveryCode(hash, code), true);
    assert.equal(await verifyRecoveryCode(hash, ` ${code.toUpperCase().replace('-', ' ')} `), true);
    assert.equal(await verifyRecoveryCode(hash, other), false);
  });

  it('hashes the normalized form, so a code typed differently at creation still verifies', async () => {
    const [code] = newRecoveryCodes(1);
    assert.ok(code);
    const hash = await hashRecoveryCode(code.toUpperCase().replace('-', ''));
    assert.equal(await verifyRecoveryCode(hash, code), true);
  });

  it('refuses junk and a malformed hash without throwing', async () => {
    const [code] = newRecoveryCodes(1);
    assert.ok(code);
    const hash = await hashRecoveryCode(code);
    for (const input of ['', 'x', `${code}0`, code.repeat(20), null as unknown as string]) {
      assert.equal(await verifyRecoveryCode(hash, input), false);
    }
    assert.equal(await verifyRecoveryCode('not a hash', code), false);
    await assert.rejects(hashRecoveryCode('not-a-code'), TypeError);
  });

  it('finds which stored code was used', async () => {
    const codes = newRecoveryCodes(3);
    const hashes = await Promise.all(codes.map(hashRecoveryCode));
    assert.equal(await findRecoveryCode(hashes, codes[2] ?? ''), 2);
    assert.equal(await findRecoveryCode(hashes, (codes[0] ?? '').toUpperCase()), 0);
    assert.equal(await findRecoveryCode(hashes, newRecoveryCodes(1)[0] ?? ''), -1);
    assert.equal(await findRecoveryCode(hashes, 'junk'), -1);
    assert.equal(await findRecoveryCode([], codes[0] ?? ''), -1);
  });
});
