import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PortcullisError } from '../errors/catalogue.ts';
import { createClientIpResolver, forwardedFor, normalizeIp } from './client-ip.ts';

const PROXY = '10.0.0.5';
const resolve = createClientIpResolver(['10.0.0.0/24', '2001:db8:ffff::/48']);
const untrusted = createClientIpResolver([]);

function ip(
  socketAddress: string | undefined,
  headers: Record<string, string | string[]> = {},
  resolver = resolve,
): string {
  return resolver({ socketAddress, headers });
}

describe('client IP', () => {
  it('is the socket address when no proxy is trusted, whatever the headers say', () => {
    const forged = { 'x-forwarded-for': '203.0.113.9', forwarded: 'for=203.0.113.9' };
    assert.equal(ip('198.51.100.7', forged, untrusted), '198.51.100.7');
    assert.equal(ip(PROXY, forged, untrusted), PROXY);
  });

  it('ignores forged forwarding headers from a peer that is not a trusted proxy', () => {
    assert.equal(ip('198.51.100.7', { 'x-forwarded-for': '10.0.0.9, 203.0.113.9' }), '198.51.100.7');
    assert.equal(ip('198.51.100.7', { forwarded: 'for=203.0.113.9' }), '198.51.100.7');
  });

  it('believes X-Forwarded-For from a trusted proxy: the right-most untrusted hop', () => {
    assert.equal(ip(PROXY, { 'x-forwarded-for': '203.0.113.9' }), '203.0.113.9');
    // The client prepended a forged address; the proxy appended the real one.
    assert.equal(ip(PROXY, { 'x-forwarded-for': '192.0.2.1, 203.0.113.9' }), '203.0.113.9');
    // Two trusted proxies in a row are skipped.
    assert.equal(ip(PROXY, { 'x-forwarded-for': '192.0.2.1, 203.0.113.9, 10.0.0.7' }), '203.0.113.9');
    // Several header lines form one list.
    assert.equal(ip(PROXY, { 'x-forwarded-for': ['192.0.2.1', '203.0.113.9, 10.0.0.7'] }), '203.0.113.9');
    // Ports and brackets are stripped.
    assert.equal(ip(PROXY, { 'x-forwarded-for': '203.0.113.9:5555' }), '203.0.113.9');
    assert.equal(ip(PROXY, { 'x-forwarded-for': '[2001:DB8::1]:443' }), '2001:db8::1');
  });

  it('a forged trusted-looking address only counts when every hop to its right is trusted', () => {
    // Client sends "10.0.0.9" hoping to be taken for an internal host; the proxy appends its real address.
    assert.equal(ip(PROXY, { 'x-forwarded-for': '10.0.0.9, 203.0.113.9' }), '203.0.113.9');
    // All hops trusted: the left-most is the origin (a genuinely internal client).
    assert.equal(ip(PROXY, { 'x-forwarded-for': '10.0.0.9, 10.0.0.8' }), '10.0.0.9');
  });

  it('believes RFC 7239 Forwarded from a trusted proxy', () => {
    assert.equal(ip(PROXY, { forwarded: 'for=203.0.113.9;proto=https' }), '203.0.113.9');
    assert.equal(ip(PROXY, { forwarded: 'for=192.0.2.1, for=203.0.113.9;by=10.0.0.5' }), '203.0.113.9');
    assert.equal(ip(PROXY, { forwarded: 'For="[2001:db8:cafe::17]:4711"' }), '2001:db8:cafe::17');
    assert.equal(ip(PROXY, { forwarded: ['for=192.0.2.1', 'for="203.0.113.9"'] }), '203.0.113.9');
    assert.equal(ip(PROXY, { forwarded: 'proto=https;for=203.0.113.9;host="a,b;c"' }), '203.0.113.9');
  });

  it('refuses when X-Forwarded-For and Forwarded disagree: one of them was forged', () => {
    assert.throws(
      () => ip(PROXY, { 'x-forwarded-for': '203.0.113.9', forwarded: 'for=192.0.2.1' }),
      (e: unknown) => e instanceof PortcullisError && e.code === 'invalid_request',
    );
    assert.equal(
      ip(PROXY, { 'x-forwarded-for': '203.0.113.9', forwarded: 'for=203.0.113.9' }),
      '203.0.113.9',
    );
  });

  it('refuses an unusable address reached through trusted hops, rather than using the proxy', () => {
    const cases: Record<string, string>[] = [
      { forwarded: 'for=unknown' },
      { forwarded: 'for=_hidden, for=10.0.0.7' },
      { forwarded: 'proto=https' },
      { 'x-forwarded-for': '127.1' },
      { 'x-forwarded-for': 'not-an-ip' },
    ];
    for (const headers of cases) {
      assert.throws(() => ip(PROXY, headers), PortcullisError, JSON.stringify(headers));
    }
    // Garbage left of the first untrusted hop is never looked at.
    assert.equal(ip(PROXY, { 'x-forwarded-for': 'garbage, 203.0.113.9' }), '203.0.113.9');
  });

  it('uses the proxy address when a trusted proxy sends no forwarding header', () => {
    assert.equal(ip(PROXY), PROXY);
    assert.equal(ip(PROXY, { 'x-forwarded-for': '  ' }), PROXY);
  });

  it('normalises IPv4-mapped and IPv6 socket addresses, and trusts IPv6 proxies', () => {
    assert.equal(ip('::ffff:198.51.100.7', { 'x-forwarded-for': '203.0.113.9' }), '198.51.100.7');
    assert.equal(ip('::ffff:10.0.0.5', { 'x-forwarded-for': '203.0.113.9' }), '203.0.113.9');
    assert.equal(ip('2001:db8:ffff::1', { 'x-forwarded-for': '2001:db8::42' }), '2001:db8::42');
    assert.equal(ip('2001:0db8:0000::0001'), '2001:db8::1');
    assert.throws(() => ip(undefined), PortcullisError);
  });

  it('parses Forwarded elements and addresses strictly', () => {
    assert.deepEqual(forwardedFor(['for=a;proto=http, by=b, for="c,d"']), ['a', '', 'c,d']);
    assert.equal(normalizeIp('0x7f.0.0.1'), undefined);
    assert.equal(normalizeIp('fe80::1%eth0'), 'fe80::1');
  });
});
