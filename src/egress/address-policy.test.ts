import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkAddress,
  checkHostname,
  classifyAddress,
  type IpAddress,
  parseAllowList,
  parseIpLiteral,
} from './address-policy.ts';

const none = parseAllowList([]);

function ip(literal: string): IpAddress {
  const parsed = parseIpLiteral(literal);
  assert.ok(parsed, `${literal} should parse as an IP`);
  return parsed;
}

describe('classifyAddress', () => {
  const nonPublic: [string, string][] = [
    ['10.0.0.1', 'private'],
    ['172.16.5.4', 'private'],
    ['192.168.1.1', 'private'],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['169.254.1.1', 'linkLocal'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'linkLocal'],
    ['fe80::1%eth0', 'linkLocal'],
    ['fc00::1', 'uniqueLocal'],
    ['fd12:3456::1', 'uniqueLocal'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'reserved'],
    ['2002:7f00:1::', '6to4'],
    ['2001:0:4136:e378::1', 'teredo'],
    ['4000::1', 'reserved'], // outside 2000::/3, unallocated
    // IPv6 forms that embed a non-public IPv4 address are judged by that address
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:0:127.0.0.1', 'loopback'], // RFC 6145 IPv4-translated
    ['::127.0.0.1', 'loopback'], // IPv4-compatible
    ['::8.8.8.8', 'ipv4Compatible'], // deprecated form, refused even with a public address
    ['64:ff9b::7f00:1', 'loopback'], // NAT64 well-known prefix
    ['64:ff9b::a00:1', 'private'],
    ['64:ff9b:1::1', 'rfc6052'], // local-use NAT64 (RFC 8215)
  ];
  for (const [literal, range] of nonPublic) {
    it(`${literal} is non-public (${range})`, () => {
      assert.deepEqual(classifyAddress(ip(literal)), { verdict: 'non_public', range });
    });
  }

  for (const literal of [
    '169.254.169.254',
    '169.254.170.2',
    '100.100.100.200',
    'fd00:ec2::254',
    '::ffff:169.254.169.254',
    '64:ff9b::a9fe:a9fe',
  ]) {
    it(`${literal} is a metadata endpoint`, () => {
      assert.deepEqual(classifyAddress(ip(literal)), { verdict: 'metadata' });
    });
  }

  for (const literal of [
    '8.8.8.8',
    '1.1.1.1',
    '104.18.6.192',
    '2606:4700::1111',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
  ]) {
    it(`${literal} is public`, () => {
      assert.deepEqual(classifyAddress(ip(literal)), { verdict: 'public' });
    });
  }
});

describe('parseIpLiteral', () => {
  // Spellings the system resolver (inet_aton) turns into 127.0.0.1; a name check would miss them.
  for (const odd of [
    '2130706433',
    '0177.0.0.1',
    '0x7f.0.0.1',
    '0x7f000001',
    '017700000001',
    '127.1',
    '0x7F.1',
  ]) {
    it(`reads ${odd} as 127.0.0.1`, () => {
      assert.equal(ip(odd).toString(), '127.0.0.1');
      assert.deepEqual(checkAddress(none, odd, ip(odd)), { reason: 'private_address', range: 'loopback' });
    });
  }

  it('reads bracketed IPv6 and leaves names alone', () => {
    assert.equal(ip('[::1]').toString(), '::1');
    assert.equal(parseIpLiteral('api.openai.com'), null);
    assert.equal(parseIpLiteral('1.2.3.4.5'), null);
  });
});

describe('parseAllowList', () => {
  it('reads hostnames, wildcards, addresses and CIDRs', () => {
    const allow = parseAllowList([
      'vllm.internal',
      'Ollama.Local.',
      '*.corp.internal',
      '127.0.0.1',
      '[::1]',
      '10.0.0.0/8',
    ]);
    assert.deepEqual([...allow.names], ['vllm.internal', 'ollama.local']);
    assert.deepEqual(allow.suffixes, ['corp.internal']);
    assert.deepEqual([...allow.exactAddresses], ['127.0.0.1', '::1']);
    assert.equal(allow.cidrs.length, 3);
  });

  for (const bad of ['10.0.0.0/33', 'not a host', 'http://x', '2130706433', '0177.0.0.1/32', '*.']) {
    it(`rejects ${JSON.stringify(bad)}`, () => {
      assert.throws(() => parseAllowList([bad]), /egress\.allow/);
    });
  }
});

describe('checkAddress', () => {
  it('allows public addresses without any allowlist', () => {
    assert.equal(checkAddress(none, 'api.openai.com', ip('104.18.6.192')), null);
  });

  it('allows a private address inside an allowlisted CIDR, also in IPv4-mapped form', () => {
    const allow = parseAllowList(['10.0.0.0/8', '127.0.0.1/32']);
    assert.equal(checkAddress(allow, 'x.internal', ip('10.1.2.3')), null);
    assert.equal(checkAddress(allow, '::ffff:127.0.0.1', ip('::ffff:127.0.0.1')), null);
    assert.deepEqual(checkAddress(allow, '127.0.0.2', ip('127.0.0.2')), {
      reason: 'private_address',
      range: 'loopback',
    });
  });

  it('allows whatever an allowlisted hostname resolves to, and its wildcard subdomains', () => {
    const allow = parseAllowList(['vllm.internal', '*.corp.internal']);
    assert.equal(checkAddress(allow, 'vllm.internal', ip('10.9.9.9')), null);
    assert.equal(checkAddress(allow, 'gpu1.corp.internal', ip('192.168.0.7')), null);
    assert.notEqual(checkAddress(allow, 'corp.internal', ip('192.168.0.7')), null);
    assert.notEqual(checkAddress(allow, 'evil.example', ip('10.9.9.9')), null);
  });

  it('refuses metadata addresses even inside allowlisted CIDRs or behind allowlisted names', () => {
    const allow = parseAllowList(['169.254.0.0/16', '0.0.0.0/0', 'vllm.internal', 'fd00::/8']);
    const metadata = { reason: 'metadata', range: 'metadata' };
    assert.deepEqual(checkAddress(allow, '169.254.169.254', ip('169.254.169.254')), metadata);
    assert.deepEqual(checkAddress(allow, 'vllm.internal', ip('169.254.169.254')), metadata);
    assert.deepEqual(checkAddress(allow, 'fd00:ec2::254', ip('fd00:ec2::254')), metadata);
    assert.equal(checkAddress(allow, '169.254.1.1', ip('169.254.1.1')), null);
  });

  it('allows a metadata address only when listed exactly', () => {
    assert.equal(checkAddress(parseAllowList(['169.254.169.254']), 'x', ip('169.254.169.254')), null);
    assert.equal(
      checkAddress(parseAllowList(['169.254.169.254/32']), 'x', ip('::ffff:169.254.169.254')),
      null,
    );
  });

  it('refuses metadata hostnames before any DNS, unless listed exactly', () => {
    assert.deepEqual(checkHostname(none, 'metadata.google.internal'), {
      reason: 'metadata',
      range: 'metadata',
    });
    assert.deepEqual(checkHostname(parseAllowList(['*.google.internal']), 'metadata.google.internal'), {
      reason: 'metadata',
      range: 'metadata',
    });
    const exact = parseAllowList(['metadata.google.internal']);
    assert.equal(checkHostname(exact, 'metadata.google.internal'), null);
    assert.equal(checkAddress(exact, 'metadata.google.internal', ip('169.254.169.254')), null);
    assert.equal(checkHostname(none, 'api.openai.com'), null);
  });
});
