import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PortcullisError } from '../errors/catalogue.ts';
import { type Actor, broaderThan, can, enforce, type KeyActor, type KeyRestrictions } from './auth.ts';

const actor = (scopes: KeyActor['scopes']): Actor => ({
  kind: 'api_key',
  id: 'key_a',
  workspaceId: 'wsp_a',
  scopes,
  restrictions: { models: ['*'], allowIps: [], allowOrigins: [], limits: {}, expiresAt: null },
});
const mine = { workspaceId: 'wsp_a' };

describe('can (admin authorization)', () => {
  it('hides every object of another workspace, whatever the scopes', () => {
    const all = actor(['admin:read', 'admin:write', 'chat']);
    for (const action of ['keys:read', 'keys:write', 'credentials:read', 'aliases:write'] as const) {
      assert.deepEqual(can(all, action, { workspaceId: 'wsp_b' }), { allowed: false, reason: 'hidden' });
    }
  });

  it('reads need admin:read, writes admin:write', () => {
    assert.equal(can(actor(['admin:read']), 'credentials:read', mine).allowed, true);
    assert.equal(can(actor(['admin:read']), 'credentials:write', mine).allowed, false);
    assert.equal(can(actor(['admin:write']), 'credentials:read', mine).allowed, false);
    assert.equal(can(actor(['admin:write']), 'keys:write', mine).allowed, true);
    assert.equal(can(actor(['chat', 'models:read']), 'workspace:read', mine).allowed, false);
  });

  it('grants only scopes the actor holds', () => {
    const mgmt = actor(['admin:read', 'admin:write']);
    assert.equal(can(mgmt, 'keys:write', { ...mine, grantsScopes: ['admin:read'] }).allowed, true);
    assert.deepEqual(can(mgmt, 'keys:write', { ...mine, grantsScopes: ['admin:read', 'chat'] }), {
      allowed: false,
      reason: 'forbidden',
      code: 'insufficient_scope',
      vars: { scope: 'chat', what: 'an API key that carries it' },
      param: 'scopes',
    });
    assert.equal(
      can(actor(['admin:write', 'chat']), 'keys:write', { ...mine, grantsScopes: ['chat'] }).allowed,
      true,
    );
  });

  it('enforce: hidden → the caller’s not-found, forbidden → 403 insufficient_scope', () => {
    const notFound = new Error('not found');
    assert.throws(
      () => enforce(actor(['admin:read']), 'keys:read', { workspaceId: 'wsp_b' }, () => notFound),
      notFound,
    );
    assert.throws(
      () => enforce(actor(['admin:read']), 'keys:write', mine, () => notFound),
      (err: unknown) =>
        err instanceof PortcullisError && err.code === 'insufficient_scope' && err.status === 403,
    );
  });
});

describe('broaderThan (no privilege escalation through key attributes)', () => {
  const open: KeyRestrictions = {
    models: ['*'],
    allowIps: [],
    allowOrigins: [],
    limits: {},
    expiresAt: null,
  };
  const tight: KeyRestrictions = {
    models: ['gpt-4o-mini'],
    allowIps: ['10.0.0.0/8'],
    allowOrigins: [],
    limits: { rpm: 60, budgetUsd: 5, budgetWindow: 'day' },
    expiresAt: 1_000,
  };

  it('lets an unrestricted key grant anything, and a restricted one grant only within itself', () => {
    assert.equal(broaderThan(open, tight), undefined);
    assert.equal(broaderThan(tight, tight), undefined);
    assert.equal(
      broaderThan(tight, {
        ...tight,
        limits: { rpm: 10, budgetUsd: 1, budgetWindow: 'day' },
        expiresAt: 500,
      }),
      undefined,
    );
  });

  it('names the first attribute that would widen', () => {
    assert.equal(broaderThan(tight, { ...tight, models: ['*'] })?.field, 'models');
    assert.equal(broaderThan(tight, { ...tight, allowIps: [] })?.field, 'allowIps');
    assert.equal(broaderThan(tight, { ...tight, allowIps: ['0.0.0.0/0'] })?.field, 'allowIps');
    assert.equal(broaderThan(tight, { ...tight, expiresAt: null })?.field, 'expiresAt');
    assert.equal(
      broaderThan(tight, { ...tight, limits: { budgetUsd: 5, budgetWindow: 'day' } })?.field,
      'limits.rpm',
    );
    assert.equal(
      broaderThan(tight, { ...tight, limits: { rpm: 60, budgetUsd: 9, budgetWindow: 'day' } })?.field,
      'limits.budgetUsd',
    );
    assert.equal(
      broaderThan(tight, { ...tight, limits: { rpm: 60, budgetUsd: 5, budgetWindow: 'month' } })?.field,
      'limits.budgetWindow',
    );
  });
});
