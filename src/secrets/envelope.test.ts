import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  EnvelopeError,
  openBlob,
  openRecord,
  type RecordBinding,
  rewrapRecord,
  type SealedRecord,
  sealBlob,
  sealRecord,
} from './envelope.ts';
import { SecretDecryptError } from './errors.ts';
import { parseMasterKeys } from './master-key.ts';

const k1 = randomBytes(32).toString('base64');
const k2 = randomBytes(32).toString('base64');
const ringV1 = parseMasterKeys(k1);
const ringV2V1 = parseMasterKeys(`v2:${k2},v1:${k1}`);
const ringV2 = parseMasterKeys(`v2:${k2}`);
const binding: RecordBinding = { id: 'sec_a', purpose: 'provider-credential', workspaceId: 'wsp_1' };
const secret = 'sk-proj-THIS-IS-THE-PLAINTEXT-1234567890';

function flipByte(blob: string, index: number): string {
  const bytes = Buffer.from(blob, 'base64');
  bytes[index] = (bytes[index] ?? 0) ^ 0x01;
  return bytes.toString('base64');
}

describe('sealBlob / openBlob', () => {
  const key = randomBytes(32);
  const aad = Buffer.from('context');

  it('round-trips, including empty plaintext', () => {
    for (const text of ['', 'x', secret, 'ü'.repeat(5000)]) {
      const blob = sealBlob(key, Buffer.from(text), aad);
      assert.equal(openBlob(key, blob, aad).toString(), text);
    }
  });

  it('encodes format byte | 12-byte IV | 16-byte tag | ciphertext, with a fresh IV each time', () => {
    const a = Buffer.from(sealBlob(key, Buffer.from('hello'), aad), 'base64');
    const b = Buffer.from(sealBlob(key, Buffer.from('hello'), aad), 'base64');
    assert.equal(a[0], 1);
    assert.equal(a.length, 1 + 12 + 16 + 5);
    assert.notDeepEqual(a.subarray(1, 13), b.subarray(1, 13));
    assert.notDeepEqual(a.subarray(29), b.subarray(29));
  });

  it('fails on a flipped bit in every byte: format, IV, tag and ciphertext', () => {
    const blob = sealBlob(key, Buffer.from(secret), aad);
    const length = Buffer.from(blob, 'base64').length;
    for (let i = 0; i < length; i++) {
      assert.throws(() => openBlob(key, flipByte(blob, i), aad), EnvelopeError, `byte ${i}`);
    }
  });

  it('fails on truncation, a wrong key and different associated data', () => {
    const blob = sealBlob(key, Buffer.from(secret), aad);
    const bytes = Buffer.from(blob, 'base64');
    assert.throws(
      () => openBlob(key, bytes.subarray(0, bytes.length - 1).toString('base64'), aad),
      EnvelopeError,
    );
    assert.throws(() => openBlob(key, bytes.subarray(0, 20).toString('base64'), aad), EnvelopeError);
    assert.throws(() => openBlob(key, '', aad), EnvelopeError);
    assert.throws(() => openBlob(randomBytes(32), blob, aad), EnvelopeError);
    assert.throws(() => openBlob(key, blob, Buffer.from('contexT')), EnvelopeError);
  });
});

describe('sealRecord / openRecord', () => {
  it('round-trips and never contains the plaintext', () => {
    const sealed = sealRecord(ringV1, binding, Buffer.from(secret));
    assert.equal(sealed.masterKeyVersion, 1);
    assert.equal(openRecord(ringV1, binding, sealed).toString(), secret);
    const stored = JSON.stringify(sealed);
    assert.ok(!stored.includes(secret));
    assert.ok(!stored.includes(Buffer.from(secret).toString('base64').slice(0, 16)));
  });

  it('uses a fresh data key per record: same plaintext, unrelated blobs', () => {
    const a = sealRecord(ringV1, binding, Buffer.from(secret));
    const b = sealRecord(ringV1, binding, Buffer.from(secret));
    assert.notEqual(a.wrappedKey, b.wrappedKey);
    assert.notEqual(a.ciphertext, b.ciphertext);
    // b's ciphertext under a's data key does not open: the keys differ.
    assert.throws(() => openRecord(ringV1, binding, { ...a, ciphertext: b.ciphertext }), SecretDecryptError);
  });

  it('fails when any byte of the wrapped key or the ciphertext is changed', () => {
    const sealed = sealRecord(ringV1, binding, Buffer.from(secret));
    for (const field of ['wrappedKey', 'ciphertext'] as const) {
      const length = Buffer.from(sealed[field], 'base64').length;
      for (let i = 0; i < length; i++) {
        const tampered: SealedRecord = { ...sealed, [field]: flipByte(sealed[field], i) };
        assert.throws(() => openRecord(ringV1, binding, tampered), SecretDecryptError, `${field} byte ${i}`);
      }
    }
  });

  it('binds both blobs to id, purpose and workspace: columns copied into another row fail', () => {
    const a = sealRecord(ringV1, binding, Buffer.from(secret));
    const others: RecordBinding[] = [
      { ...binding, id: 'sec_b' },
      { ...binding, purpose: 'webhook-signing-key' },
      { ...binding, workspaceId: 'wsp_2' },
      { ...binding, workspaceId: null },
    ];
    for (const other of others) {
      const b = sealRecord(ringV1, other, Buffer.from('the other secret'));
      assert.throws(() => openRecord(ringV1, other, a), SecretDecryptError, 'whole row moved');
      assert.throws(() => openRecord(ringV1, other, { ...b, ciphertext: a.ciphertext }), SecretDecryptError);
      assert.throws(() => openRecord(ringV1, other, { ...b, wrappedKey: a.wrappedKey }), SecretDecryptError);
    }
  });

  it('binds the wrapped key to its master key version', () => {
    const sealed = sealRecord(ringV2V1, binding, Buffer.from(secret));
    assert.equal(sealed.masterKeyVersion, 2);
    assert.throws(
      () => openRecord(ringV2V1, binding, { ...sealed, masterKeyVersion: 1 }),
      SecretDecryptError,
    );
  });

  it('fails with a clear, secret-free error under a wrong master key', () => {
    const sealed = sealRecord(ringV1, binding, Buffer.from(secret));
    const wrong = parseMasterKeys(randomBytes(32).toString('base64'));
    assert.throws(
      () => openRecord(wrong, binding, sealed),
      (err: unknown) =>
        err instanceof SecretDecryptError &&
        err.message === 'secret sec_a cannot be decrypted: wrong master key or tampered record' &&
        !err.message.includes(k1),
    );
  });

  it('names a missing master key version', () => {
    const sealed = sealRecord(ringV1, binding, Buffer.from(secret));
    assert.throws(
      () => openRecord(ringV2, binding, sealed),
      /wrapped with master key v1, which is not configured/,
    );
  });

  it('rewrapRecord moves the data key to the current version and keeps the ciphertext', () => {
    const old = sealRecord(ringV1, binding, Buffer.from(secret));
    const next = rewrapRecord(ringV2V1, binding, old);
    assert.equal(next.masterKeyVersion, 2);
    assert.equal(next.ciphertext, old.ciphertext);
    assert.notEqual(next.wrappedKey, old.wrappedKey);
    assert.equal(openRecord(ringV2, binding, next).toString(), secret);
    assert.equal(rewrapRecord(ringV2V1, binding, next), next, 'already current: unchanged');
    assert.throws(() => rewrapRecord(ringV2V1, { ...binding, id: 'sec_b' }, old), SecretDecryptError);
  });
});
