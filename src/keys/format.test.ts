import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateKey, isKeyId, KEY_LENGTH, KEY_PATTERN, maskKey, parseKey } from './format.ts';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

describe('key format', () => {
  it('generates pcx_live_/pcx_test_ keys that parse back to their parts', () => {
    for (const env of ['live', 'test'] as const) {
      const k = generateKey(env);
      assert.equal(k.raw.length, KEY_LENGTH);
      assert.ok(k.raw.startsWith(`pcx_${env}_`));
      assert.match(k.raw, KEY_PATTERN);
      assert.ok(isKeyId(k.id));
      assert.deepEqual(parseKey(k.raw), { id: k.id, environment: env, secret: k.secret });
    }
  });

  it('carries at least 256 bits of secret: 43 uniform base62 characters', () => {
    const k = generateKey('live');
    assert.equal(k.secret.length, 43);
    assert.ok(43 * Math.log2(62) >= 256);
    // Uniformity smoke check: over many keys every character of the alphabet shows up.
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) for (const c of generateKey('live').secret) seen.add(c);
    assert.equal(seen.size, 62);
  });

  it('never repeats ids or secrets', () => {
    const ids = new Set<string>();
    const secrets = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const k = generateKey('test');
      ids.add(k.id);
      secrets.add(k.secret);
    }
    assert.equal(ids.size, 1000);
    assert.equal(secrets.size, 1000);
  });

  it('rejects every single-character typo through the checksum, without a lookup', () => {
    const { raw } = generateKey('live');
    let rejected = 0;
    let tried = 0;
    for (let i = 'pcx_live_'.length; i < raw.length; i++) {
      for (const c of ALPHABET) {
        if (c === raw[i]) continue;
        tried++;
        if (parseKey(raw.slice(0, i) + c + raw.slice(i + 1)) === undefined) rejected++;
      }
    }
    // CRC32 detects every single-character substitution.
    assert.equal(rejected, tried);
  });

  it('rejects transpositions, truncation, other prefixes and non-strings', () => {
    const { raw } = generateKey('live');
    const swapped = raw.slice(0, 20) + raw[21] + raw[20] + raw.slice(22);
    if (swapped !== raw) assert.equal(parseKey(swapped), undefined);
    assert.equal(parseKey(raw.slice(0, -1)), undefined);
    assert.equal(parseKey(`${raw}x`), undefined);
    // Re-labelling the environment breaks the checksum, which covers the prefix.
    assert.equal(parseKey(raw.replace('pcx_live_', 'pcx_test_')), undefined);
    assert.equal(parseKey(`sk-${raw.slice(3)}`), undefined);
    assert.equal(parseKey(' '.repeat(KEY_LENGTH)), undefined);
    assert.equal(parseKey(undefined), undefined);
    assert.equal(parseKey(42), undefined);
    assert.equal(parseKey(`pcx_live_${'0'.repeat(61)}`), undefined);
  });

  it('masks as pcx_live_abc…xyz9: the prefix, 3 id characters and the last 4', () => {
    const { raw } = generateKey('live');
    const masked = maskKey(raw);
    assert.equal(masked, `pcx_live_${raw.slice(9, 12)}…${raw.slice(-4)}`);
    assert.ok(!masked.includes(generateKey('live').secret));
  });

  it('keeps the id on rotation when asked', () => {
    const first = generateKey('live');
    const second = generateKey('live', first.id);
    assert.equal(second.id, first.id);
    assert.notEqual(second.secret, first.secret);
    assert.throws(() => generateKey('live', 'wsp_nope'));
  });
});
