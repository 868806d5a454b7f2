import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyError } from './errors.ts';
import {
  normalizeCidrs,
  normalizeOrigins,
  parseDuration,
  parseExpiry,
  validateLimits,
  validateModels,
  validateName,
  validateScopes,
  validateTags,
} from './validate.ts';

const invalid = (fn: () => unknown) =>
  assert.throws(fn, (e: unknown) => e instanceof KeyError && e.code === 'invalid_key_input');

describe('key input validation', () => {
  it('scopes: a non-empty subset of the fixed list, in canonical order', () => {
    assert.deepEqual(validateScopes(['models:read', 'chat', 'chat']), ['chat', 'models:read']);
    assert.deepEqual(validateScopes(['admin:write', 'admin:read']), ['admin:read', 'admin:write']);
    invalid(() => validateScopes([]));
    invalid(() => validateScopes(['chat', 'root']));
    invalid(() => validateScopes('chat'));
  });

  it('CIDRs: IPv4 and IPv6, bare addresses, normalised to the network', () => {
    assert.deepEqual(
      normalizeCidrs(['10.1.2.3/8', '203.0.113.7', '2001:DB8::1/32', '::1', '::ffff:192.0.2.0/120']),
      ['10.0.0.0/8', '203.0.113.7/32', '2001:db8::/32', '::1/128', '192.0.2.0/24'],
    );
    for (const bad of [
      '10.0.0.0/33',
      '2001:db8::/129',
      '127.1',
      'example.com',
      '10.0.0.0/8/1',
      '1.2.3.4/-1',
      '',
    ]) {
      invalid(() => normalizeCidrs([bad]));
    }
  });

  it('origins: scheme://host[:port] only, normalised as browsers send them', () => {
    assert.deepEqual(
      normalizeOrigins(['https://App.Example.com:443', 'http://localhost:5173', 'https://x.dev/']),
      ['https://app.example.com', 'http://localhost:5173', 'https://x.dev'],
    );
    for (const bad of [
      'app.example.com',
      'ftp://x.dev',
      'https://x.dev/path',
      'https://x.dev?q=1',
      'https://user@x.dev',
      'https://*.x.dev',
      'javascript:alert(1)',
      '*',
    ]) {
      invalid(() => normalizeOrigins([bad]));
    }
  });

  it('models: valid globs, at least one', () => {
    assert.deepEqual(validateModels(['gpt-4o*', 'meta-llama/*', '*']), ['gpt-4o*', 'meta-llama/*', '*']);
    invalid(() => validateModels([]));
    invalid(() => validateModels(['gpt 4']));
  });

  it('names, tags and limits', () => {
    assert.equal(validateName('  ci bot  '), 'ci bot');
    invalid(() => validateName(''));
    invalid(() => validateName('a\nb'));
    invalid(() => validateName('x'.repeat(101)));
    assert.deepEqual(validateTags(['team:ml', 'env=prod', 'team:ml']), ['team:ml', 'env=prod']);
    invalid(() => validateTags(['has space']));
    assert.deepEqual(validateLimits({ rpm: 60, tpm: 10000, budgetUsd: 12.5 }), {
      rpm: 60,
      tpm: 10000,
      budgetUsd: 12.5,
      budgetWindow: 'month',
    });
    invalid(() => validateLimits({ rpm: 0 }));
    invalid(() => validateLimits({ rpm: 1.5 }));
    invalid(() => validateLimits({ budgetUsd: -1 }));
    invalid(() => validateLimits({ budgetWindow: 'day' }));
    invalid(() => validateLimits({ budgetUsd: 5, budgetWindow: 'year' }));
    invalid(() => validateLimits({ rps: 5 }));
  });

  it('durations and expiry', () => {
    assert.equal(parseDuration('30d'), 30 * 86_400_000);
    assert.equal(parseDuration('24h'), 86_400_000);
    assert.equal(parseDuration('0h'), undefined);
    assert.equal(parseDuration('soon'), undefined);
    assert.equal(parseExpiry('2h', 1000), 1000 + 7_200_000);
    assert.equal(parseExpiry('2030-01-01T00:00:00Z', 0), Date.UTC(2030, 0, 1));
    invalid(() => parseExpiry('tomorrow', 0));
  });
});
