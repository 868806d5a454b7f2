import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PortcullisError } from '../errors/catalogue.ts';
import { generateKey } from '../keys/format.ts';
import { ipSubject, keyInQuery, presentedKey } from './authenticate.ts';

describe('key extraction', () => {
  const { raw } = generateKey('live');

  it('takes the key from Authorization: Bearer or x-api-key only', () => {
    assert.equal(presentedKey({ authorization: `Bearer ${raw}` }), raw);
    assert.equal(presentedKey({ authorization: `bearer  ${raw} ` }), raw);
    assert.equal(presentedKey({ 'x-api-key': raw }), raw);
    assert.equal(presentedKey({ authorization: `Bearer ${raw}`, 'x-api-key': raw }), raw);
    assert.equal(presentedKey({}), undefined);
    assert.equal(presentedKey({ authorization: `Basic ${raw}` }), undefined);
    assert.equal(presentedKey({ authorization: 'Bearer' }), undefined);
    assert.equal(presentedKey({ 'x-api-key': '  ' }), undefined);
    assert.equal(presentedKey({ cookie: `key=${raw}` }), undefined);
  });

  it('refuses two different keys rather than picking one', () => {
    assert.throws(
      () => presentedKey({ authorization: `Bearer ${raw}`, 'x-api-key': generateKey('live').raw }),
      (e: unknown) => e instanceof PortcullisError && e.code === 'invalid_api_key',
    );
  });

  it('spots keys in the query string, by value or by parameter name', () => {
    assert.equal(keyInQuery('/v1/models'), false);
    assert.equal(keyInQuery('/v1/models?limit=5&after=gpt'), false);
    assert.equal(keyInQuery(`/v1/models?x=${raw}`), true);
    assert.equal(keyInQuery(`/v1/models?x=${encodeURIComponent(raw)}`), true);
    // A mistyped key (bad checksum) leaked all the same.
    assert.equal(keyInQuery(`/v1/models?token=${raw.slice(0, -1)}0`), true);
    for (const name of ['key', 'api_key', 'api-key', 'API_KEY', 'apikey', 'x-api-key']) {
      assert.equal(keyInQuery(`/v1/chat/completions?${name}=whatever`), true, name);
    }
    assert.equal(keyInQuery('/v1/models?keyboard=1'), false);
  });

  it('counts IPv4 per address and IPv6 per /64', () => {
    assert.equal(ipSubject('198.51.100.7'), '198.51.100.7');
    assert.equal(ipSubject('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
    assert.equal(ipSubject('2001:db8:1:2::ffff'), ipSubject('2001:db8:1:2:aaaa::1'));
  });
});
