import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { APIError } from 'openai';
import { systemClock } from '../../src/clock.ts';
import { IdentityError } from '../../src/identity/errors.ts';
import { eraseSubject } from '../../src/identity/subject.ts';
import { type DataPlaneFixture, startDataPlane } from '../helpers/dataplane.ts';

/**
 * Data-subject requests (issue 8 item 7): a user exports everything held about them, and an
 * operator erases it; afterwards their email is nowhere in the store, their keys and sessions are
 * dead, and the audit trail still names them by their pseudonymous usr_ id only.
 */
describe('data-subject export and erasure', () => {
  let dp: DataPlaneFixture;
  const base = () => `${dp.gateway.url}/admin/api/v1`;
  const email = `subject-${randomBytes(4).toString('hex')}@example.com`;
  const password = `Pw-${randomBytes(12).toString('base64url')}`;
  let ownerId: string;
  let token: string;
  let userId: string;
  let key: string;

  async function call(method: string, path: string, body?: unknown, bearer?: string) {
    const res = await fetch(base() + path, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(bearer === undefined ? {} : { authorization: `Bearer ${bearer}` }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    // biome-ignore lint/suspicious/noExplicitAny: JSON answers are inspected field by field
    return { status: res.status, text, body: (text ? JSON.parse(text) : undefined) as any };
  }

  before(async () => {
    dp = await startDataPlane();
    const ownerPassword = `Pw-${randomBytes(12).toString('base64url')}`;
    const { user } = await dp.gateway.identity.bootstrap(
      { email: 'owner@example.com', password: ownerPassword, workspace: 'acme' },
      { actor: 'test' },
    );
    ownerId = user.id;
    const owner = (await call('POST', '/auth/login', { email: 'owner@example.com', password: ownerPassword }))
      .body.accessToken as string;
    const invited = await call('POST', '/members', { email, role: 'user' }, owner);
    const accepted = await call('POST', '/auth/invitations/accept', { token: invited.body.token, password });
    assert.equal(accepted.status, 200, accepted.text);
    userId = accepted.body.user.id;
    token = (await call('POST', '/auth/login', { email, password })).body.accessToken;
    const created = await call('POST', '/keys', { name: 'mine' }, token);
    assert.equal(created.status, 201, created.text);
    key = created.body.key;
    await dp
      .openai(key)
      .chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    await dp.gateway.auditing.events.flush();
  });
  after(() => dp.close());

  it('GET /auth/me/export: profile, memberships, sessions, keys (masked), usage and audit entries; no secret', async () => {
    const res = await call('GET', '/auth/me/export', undefined, token);
    assert.equal(res.status, 200, res.text);
    const out = res.body;
    assert.equal(out.user.email, email);
    assert.deepEqual(
      out.memberships.map((m: { role: string }) => m.role),
      ['user'],
    );
    assert.ok(out.sessions.length >= 1);
    assert.equal(out.keys.length, 1);
    assert.equal(out.keys[0].status, 'active');
    assert.equal(
      out.usage.reduce((n: number, u: { requests: number }) => n + u.requests, 0),
      1,
    );
    const actions = out.audit.map((e: { action: string }) => e.action);
    for (const a of ['user.created', 'member.added', 'auth.login', 'key.created'])
      assert.ok(actions.includes(a), a);
    assert.ok(!res.text.includes(key), 'the raw key is not exported');
    assert.ok(!res.text.includes(password));
    assert.doesNotMatch(res.text, /\$argon2id\$|password_hash|pcr_|pci_/);
  });

  it('erasure: refused for a last Owner; otherwise the email is gone everywhere, keys and sessions are dead', async () => {
    const deps = {
      store: dp.gateway.store,
      audit: dp.gateway.auditing.log,
      clock: systemClock,
      identity: dp.gateway.identity,
      keys: dp.keys,
    };
    await assert.rejects(
      eraseSubject(deps, ownerId, { actor: 'test' }),
      (err: unknown) => err instanceof IdentityError && err.code === 'last_owner',
    );
    const r = await eraseSubject(deps, userId, { actor: 'test' });
    assert.deepEqual(r, { userId, memberships: 1, revokedKeys: 1, sessions: r.sessions });
    assert.ok(r.sessions >= 1);

    assert.equal((await call('GET', '/auth/me', undefined, token)).status, 401, 'the session is gone');
    assert.equal((await call('POST', '/auth/login', { email, password })).status, 401, 'no login');
    await assert.rejects(
      dp
        .openai(key)
        .chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
      (err: unknown) => err instanceof APIError && err.status === 401,
    );

    // The address is nowhere in the store; the audit trail names the person by id only.
    const { db } = dp.gateway.store;
    const tables = [
      'users',
      'invitations',
      'sessions',
      'audit_log',
      'usage_records',
      'api_keys',
      'workspace_members',
    ] as const;
    for (const table of tables) {
      const rows = await db.selectFrom(table).selectAll().execute();
      assert.ok(!JSON.stringify(rows).includes(email), `${table} still holds the email`);
    }
    const erased = await db.selectFrom('audit_log').selectAll().where('action', '=', 'user.erased').execute();
    assert.equal(erased.length, 1);
    assert.equal(erased[0]?.target, userId);
    const recovery = await db
      .selectFrom('recovery_codes')
      .selectAll()
      .where('user_id', '=', userId)
      .execute();
    assert.equal(recovery.length, 0);
  });
});
