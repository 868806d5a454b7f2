import assert from 'node:assert/strict';
import { createSecretKey, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { generateKey, parseKey } from './format.ts';
import { decodeHash, encodeHash, hashesEqual, hashKeySecret } from './hash.ts';

describe('key hashing', () => {
  const pepper = createSecretKey(randomBytes(32));

  it('is a keyed HMAC-SHA256: deterministic under one pepper, different under another', () => {
    const k = generateKey('live');
    const h = hashKeySecret(pepper, k);
    assert.equal(h.length, 32);
    assert.ok(hashesEqual(h, hashKeySecret(pepper, k)));
    assert.ok(!hashesEqual(h, hashKeySecret(createSecretKey(randomBytes(32)), k)));
  });

  it('binds the key id and environment, so a hash cannot be moved to another key', () => {
    const k = generateKey('live');
    const h = hashKeySecret(pepper, k);
    assert.ok(!hashesEqual(h, hashKeySecret(pepper, { ...k, id: generateKey('live').id })));
    assert.ok(!hashesEqual(h, hashKeySecret(pepper, { ...k, environment: 'test' })));
  });

  it('round-trips through the stored base64url form, which never contains the secret', () => {
    const k = generateKey('test');
    const stored = encodeHash(hashKeySecret(pepper, parseKey(k.raw) ?? k));
    assert.match(stored, /^[A-Za-z0-9_-]{43}$/);
    assert.ok(!stored.includes(k.secret));
    assert.ok(hashesEqual(decodeHash(stored), hashKeySecret(pepper, k)));
  });

  it('compares unequal lengths as false instead of throwing', () => {
    assert.equal(hashesEqual(Buffer.alloc(32), Buffer.alloc(31)), false);
  });
});
