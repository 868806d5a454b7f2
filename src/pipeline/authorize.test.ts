import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PortcullisError } from '../errors/catalogue.ts';
import type { KeyPrincipal } from '../keys/types.ts';
import { allowedModels, authorize } from './authorize.ts';
import { corsHeadersFor } from './cors.ts';

function principal(over: Partial<KeyPrincipal> = {}): KeyPrincipal {
  return Object.freeze({
    keyId: 'key_AAAAAAAAAAAA',
    workspaceId: 'wsp_x',
    name: 'test',
    environment: 'live',
    scopes: ['chat', 'models:read'],
    models: ['gpt-4o*', 'claude-*'],
    allowIps: [],
    allowOrigins: [],
    limits: {},
    expiresAt: null,
    userId: null,
    ...over,
  } as const);
}

function code(fn: () => void): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    assert.ok(err instanceof PortcullisError);
    return err.code;
  }
}

describe('authorize', () => {
  const ip = '198.51.100.7';

  it('allows a request within scope and model allowlist', () => {
    authorize(principal(), { scope: 'chat', model: 'gpt-4o-mini', clientIp: ip });
    authorize(principal(), { scope: 'models:read', clientIp: ip });
  });

  it('refuses a missing scope with insufficient_scope naming it', () => {
    const p = principal();
    assert.equal(
      code(() => authorize(p, { scope: 'embeddings', clientIp: ip })),
      'insufficient_scope',
    );
    assert.throws(() => authorize(p, { scope: 'admin:write', clientIp: ip }), /"admin:write" scope/);
  });

  it('refuses a model outside the globs with model_not_allowed (param: model)', () => {
    const p = principal();
    try {
      authorize(p, { scope: 'chat', model: 'o3', clientIp: ip });
      assert.fail('allowed');
    } catch (err) {
      assert.ok(err instanceof PortcullisError);
      assert.equal(err.code, 'model_not_allowed');
      assert.equal(err.param, 'model');
    }
    assert.deepEqual(
      allowedModels(p, [{ id: 'gpt-4o' }, { id: 'o3' }, { id: 'claude-3-5-sonnet' }]).map((m) => m.id),
      ['gpt-4o', 'claude-3-5-sonnet'],
    );
  });

  it('enforces IPv4 and IPv6 allowlists, IPv4-mapped addresses included', () => {
    const p = principal({ allowIps: ['203.0.113.0/24', '2001:db8::/32'] });
    authorize(p, { scope: 'chat', clientIp: '203.0.113.200' });
    authorize(p, { scope: 'chat', clientIp: '::ffff:203.0.113.5' });
    authorize(p, { scope: 'chat', clientIp: '2001:db8:1::9' });
    assert.equal(
      code(() => authorize(p, { scope: 'chat', clientIp: '203.0.114.1' })),
      'ip_not_allowed',
    );
    assert.equal(
      code(() => authorize(p, { scope: 'chat', clientIp: '2001:db9::1' })),
      'ip_not_allowed',
    );
    assert.equal(
      code(() => authorize(p, { scope: 'chat', clientIp: 'garbage' })),
      'ip_not_allowed',
    );
  });

  it('checks the IP before the scope, so a stolen key from elsewhere learns nothing about its rights', () => {
    const p = principal({ allowIps: ['203.0.113.0/24'] });
    assert.equal(
      code(() => authorize(p, { scope: 'embeddings', clientIp: ip })),
      'ip_not_allowed',
    );
  });

  it('enforces the origin allowlist on browser calls only', () => {
    const p = principal({ allowOrigins: ['https://app.example.com'] });
    authorize(p, { scope: 'chat', clientIp: ip, origin: 'https://app.example.com' });
    authorize(p, { scope: 'chat', clientIp: ip });
    assert.equal(
      code(() => authorize(p, { scope: 'chat', clientIp: ip, origin: 'https://evil.example' })),
      'origin_not_allowed',
    );
    assert.equal(
      code(() => authorize(p, { scope: 'chat', clientIp: ip, origin: 'null' })),
      'origin_not_allowed',
    );
    // No allowlist: server-side key; the call proceeds but gets no CORS headers.
    authorize(principal(), { scope: 'chat', clientIp: ip, origin: 'https://evil.example' });
  });
});

describe('CORS headers', () => {
  it('are sent only for an origin on the key allowlist', () => {
    const p = principal({ allowOrigins: ['https://app.example.com'] });
    assert.deepEqual(corsHeadersFor(p, 'https://app.example.com'), {
      'access-control-allow-origin': 'https://app.example.com',
      'access-control-expose-headers':
        'x-request-id, retry-after, x-ratelimit-limit-requests, x-ratelimit-remaining-requests',
      vary: 'Origin',
    });
    assert.deepEqual(corsHeadersFor(p, 'https://evil.example'), {});
    assert.deepEqual(corsHeadersFor(p, undefined), {});
  });

  it('are never sent for a key without an origin allowlist', () => {
    assert.deepEqual(corsHeadersFor(principal(), 'https://app.example.com'), {});
  });
});
