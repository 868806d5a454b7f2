import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import { MasterKeyError } from './errors.ts';
import { masterKeyCheck, parseMasterKeys } from './master-key.ts';

const b64 = (n = 32) => randomBytes(n).toString('base64');

function invalid(pattern: RegExp, secretPart?: string) {
  return (err: unknown) =>
    err instanceof MasterKeyError &&
    err.code === 'MASTER_KEY_INVALID' &&
    pattern.test(err.message) &&
    (secretPart === undefined || !err.message.includes(secretPart));
}

describe('parseMasterKeys', () => {
  it('reads a bare base64 key as version 1', () => {
    const ring = parseMasterKeys(b64());
    assert.equal(ring.current.version, 1);
    assert.deepEqual(
      ring.keys.map((k) => k.version),
      [1],
    );
    assert.equal(ring.current.key.symmetricKeySize, 32);
  });

  it('accepts surrounding whitespace (a key file ends with a newline) and base64url', () => {
    assert.equal(parseMasterKeys(`  ${b64()}\n`).current.version, 1);
    const url = randomBytes(32).toString('base64url');
    assert.equal(parseMasterKeys(url).current.key.symmetricKeySize, 32);
  });

  it('reads a bare key that happens to start with "v"', () => {
    let key = b64();
    while (!key.startsWith('v')) key = b64();
    assert.equal(parseMasterKeys(key).current.version, 1);
  });

  it('reads a versioned list: the first entry is current, the others stay for decryption', () => {
    const ring = parseMasterKeys(`v3:${b64()}, v1:${b64()} ,v2:${b64()}`);
    assert.equal(ring.current.version, 3);
    assert.deepEqual(
      ring.keys.map((k) => k.version),
      [3, 1, 2],
    );
    assert.equal(ring.get(2)?.version, 2);
    assert.equal(ring.get(4), undefined);
    assert.equal(parseMasterKeys(`v7:${b64()}`).current.version, 7);
  });

  it('distinguishes versions by key material', () => {
    const a = b64();
    const ring = parseMasterKeys(`v2:${b64()},v1:${a}`);
    const single = parseMasterKeys(a);
    assert.equal(masterKeyCheck(ring.get(1)!), masterKeyCheck(single.current));
    assert.notEqual(masterKeyCheck(ring.get(2)!), masterKeyCheck(single.current));
  });

  it('rejects bad input with a message that names the entry, never its value', () => {
    const short = b64(31);
    const long = b64(33);
    assert.throws(() => parseMasterKeys(short), invalid(/not base64 of exactly 32 bytes/, short));
    assert.throws(() => parseMasterKeys(long), invalid(/not base64 of exactly 32 bytes/, long));
    assert.throws(() => parseMasterKeys('not base64 at all!'), invalid(/not base64/));
    assert.throws(() => parseMasterKeys('   '), invalid(/not base64/));
    const good = b64();
    assert.throws(
      () => parseMasterKeys(`v2:${good},${good}`),
      invalid(/entry 2 must look like "v<N>:/, good),
    );
    assert.throws(
      () => parseMasterKeys(`v2:${good},v2:${b64()}`),
      invalid(/entry 2 repeats version v2/, good),
    );
    assert.throws(() => parseMasterKeys(`v0:${good}`), invalid(/entry 1 must look like/, good));
    assert.throws(() => parseMasterKeys(`v1:${good},`), invalid(/entry 2 must look like/, good));
    assert.throws(() => parseMasterKeys(`v2:${short},v1:${good}`), invalid(/entry 1 is not base64/, short));
    assert.throws(() => parseMasterKeys(`V2:${good}`), invalid(/entry 1 must look like/, good));
  });

  it('never prints key bytes when the ring is logged or serialised', () => {
    const key = randomBytes(32);
    const ring = parseMasterKeys(`v2:${key.toString('base64')}`);
    const shown = `${JSON.stringify(ring)} ${inspect(ring, { depth: 10 })}`;
    assert.ok(!shown.includes(key.toString('base64')));
    assert.ok(!shown.includes(key.toString('hex')));
  });
});

describe('masterKeyCheck', () => {
  it('is a stable HMAC that does not contain the key', () => {
    const raw = b64();
    const ring = parseMasterKeys(raw);
    const check = masterKeyCheck(ring.current);
    assert.equal(check, masterKeyCheck(parseMasterKeys(raw).current));
    assert.equal(Buffer.from(check, 'base64').length, 32);
    assert.ok(!check.includes(raw));
  });
});
