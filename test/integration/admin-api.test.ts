import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { APIError } from 'openai';
import { adminRoutes } from '../../src/admin/routes.ts';
import { systemClock } from '../../src/clock.ts';
import { MANAGEMENT_SCOPES, SCOPES } from '../../src/keys/types.ts';
import { createWorkspaceRepository } from '../../src/workspaces/repository.ts';
import { type DataPlaneFixture, PROVIDER_SECRET, startDataPlane } from '../helpers/dataplane.ts';
import { isolatedSchema } from '../helpers/postgres.ts';

/**
 * The admin API through real HTTP against the real gateway wiring (startGateway), with the mock
 * provider behind it and the official openai SDK on the data plane. First every route's happy
 * path, then the OWASP API Security Top 10 angles: broken authentication (API2), function-level
 * authorization (API5), object-level authorization across workspaces (API1), mass assignment
 * (API3/API6), and excessive data exposure: no secret or hash in any response.
 * On PostgreSQL + Redis when TEST_DATABASE_URL and TEST_REDIS_URL are set.
 */
const pgUrl = process.env.TEST_DATABASE_URL;
const redisUrl = process.env.TEST_REDIS_URL;
const BASE = '/admin/api/v1';
/** A provider secret the mock refuses: proves a rotation took effect on the next call. */
const WRONG_SECRET = `sk-rotated-${randomBytes(12).toString('hex')}`;

interface Answer {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies are inspected field by field in assertions
  body: any;
  text: string;
}

describe('admin API', () => {
  let dp: DataPlaneFixture;
  let dropSchema: (() => Promise<void>) | undefined;
  /** Every admin response body, and whether it is one of the two allowed to carry a raw key. */
  const seen: { text: string; mayCarryKey: boolean; schema: boolean }[] = [];
  const rawKeys: string[] = [];
  let adminA: string;
  let readA: string;
  let writeOnlyA: string;
  let adminB: string;
  let workspaceB: string;

  async function api(
    method: string,
    path: string,
    opts: { key?: string; body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<Answer> {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.key !== undefined) headers.authorization = `Bearer ${opts.key}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${dp.gateway.url}${path}`, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
    const text = await res.text();
    const mayCarryKey =
      res.status < 300 && (path.endsWith('/rotate') || (method === 'POST' && path === `${BASE}/keys`));
    // The OpenAPI document names the write-only `secret` field; it is a schema, not data.
    seen.push({ text, mayCarryKey, schema: path.endsWith('/openapi.json') });
    const body = text === '' ? undefined : JSON.parse(text);
    if (typeof body?.key === 'string') rawKeys.push(body.key);
    return { status: res.status, headers: res.headers, body, text };
  }

  const chat = (key: string, model: string) =>
    dp.openai(key).chat.completions.create({ model, messages: [{ role: 'user', content: 'Hi' }] });

  async function refusal(promise: Promise<unknown>): Promise<APIError> {
    try {
      await promise;
    } catch (err) {
      assert.ok(err instanceof APIError, String(err));
      return err;
    }
    assert.fail('the call succeeded');
  }

  before(async () => {
    const env: Record<string, string> = {};
    if (pgUrl && redisUrl) {
      const schema = await isolatedSchema(pgUrl, 'admin_api');
      dropSchema = schema.drop;
      env.PORTCULLIS_DATABASE_URL = schema.url;
      env.PORTCULLIS_REDIS_URL = redisUrl;
      env.PORTCULLIS_MASTER_KEY = randomBytes(32).toString('base64');
    }
    dp = await startDataPlane(env);
    if (dropSchema) {
      assert.equal(dp.gateway.store.dialect, 'postgres');
      assert.equal(dp.gateway.counters.kind, 'redis');
    }
    adminA = await dp.newKey({ name: 'admin-a', scopes: [...SCOPES] });
    readA = await dp.newKey({ name: 'read-a', scopes: ['admin:read'] });
    writeOnlyA = await dp.newKey({ name: 'mgmt-a', scopes: [...MANAGEMENT_SCOPES] });
    const wsB = await createWorkspaceRepository({ store: dp.gateway.store, clock: systemClock }).create(
      'beta',
    );
    workspaceB = wsB.id;
    adminB = (await dp.keys.create({ workspaceId: workspaceB, name: 'admin-b', scopes: [...SCOPES] })).key;
  });

  after(async () => {
    const logs = dp?.logs.text() ?? '';
    await dp?.close();
    await dropSchema?.();
    for (const secret of [PROVIDER_SECRET, WRONG_SECRET]) {
      assert.ok(!logs.includes(secret), 'no provider secret in any log line');
    }
    for (const key of [...rawKeys, adminA, readA, writeOnlyA, adminB]) {
      assert.ok(!logs.includes(key), 'no raw API key in any log line');
    }
  });

  describe('happy paths', () => {
    it('GET /workspace: the caller’s workspace', async () => {
      const res = await api('GET', `${BASE}/workspace`, { key: adminA });
      assert.equal(res.status, 200);
      assert.deepEqual(Object.keys(res.body).sort(), ['createdAt', 'id', 'mfaRequired', 'name', 'role']);
      assert.equal(res.body.id, dp.workspaceId);
      assert.equal(res.body.name, 'acme');
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(res.headers.get('x-frame-options'), 'DENY');
    });

    it('credentials: add, use at once through the SDK, list, show, rotate the secret, remove', async () => {
      const created = await api('POST', `${BASE}/credentials`, {
        key: adminA,
        body: {
          name: 'extra',
          provider: 'openai-compatible',
          baseUrl: `${dp.mock.url}/v1`,
          models: ['extra-*'],
          secret: PROVIDER_SECRET,
        },
      });
      assert.equal(created.status, 201, created.text);
      assert.equal(created.body.name, 'extra');
      assert.match(created.body.id, /^crd_/);
      assert.equal(created.body.workspaceId, dp.workspaceId);
      assert.ok(created.body.masked.includes('…'));
      assert.equal(created.body.secret, undefined);

      // Usable on the very next call: the routing cache of this process was invalidated.
      dp.mock.clear();
      const answer = await chat(dp.key, 'extra-1');
      assert.match(answer.choices[0]?.message.content ?? '', /^Mock reply/);
      assert.equal(dp.mock.requests.at(-1)?.headers.authorization, `Bearer ${PROVIDER_SECRET}`);

      const list = await api('GET', `${BASE}/credentials`, { key: readA });
      assert.equal(list.status, 200);
      assert.deepEqual(
        list.body.data.map((c: { name: string }) => c.name),
        ['openai-main', 'anthropic-main', 'extra'],
      );
      const byId = await api('GET', `${BASE}/credentials/${created.body.id}`, { key: readA });
      const byName = await api('GET', `${BASE}/credentials/extra`, { key: readA });
      assert.equal(byId.status, 200);
      assert.deepEqual(byId.body, byName.body);
      assert.deepEqual(byId.body, created.body);

      // Rotate to a secret the provider refuses: the next call uses it (no stale secret cache).
      const rotated = await api('PATCH', `${BASE}/credentials/extra`, {
        key: adminA,
        body: { secret: WRONG_SECRET, models: ['extra-*', 'more-*'] },
      });
      assert.equal(rotated.status, 200, rotated.text);
      assert.notEqual(rotated.body.masked, created.body.masked);
      assert.deepEqual(rotated.body.models, ['extra-*', 'more-*']);
      const refused = await refusal(chat(dp.key, 'more-1'));
      assert.equal(refused.status, 502);
      assert.equal(refused.code, 'upstream_auth_failed');
      const back = await api('PATCH', `${BASE}/credentials/${created.body.id}`, {
        key: adminA,
        body: { secret: PROVIDER_SECRET },
      });
      assert.equal(back.status, 200);
      assert.ok((await chat(dp.key, 'more-1')).choices.length > 0);

      // Pointing the credential at another host without giving its secret again is refused:
      // otherwise an editor could have the stored secret sent to a server they control.
      const moved = await api('PATCH', `${BASE}/credentials/extra`, {
        key: adminA,
        body: { baseUrl: 'http://127.0.0.1:9/v1' },
      });
      assert.equal(moved.status, 400, moved.text);
      assert.equal(moved.body.error.param, 'secret');
      const samePlace = await api('PATCH', `${BASE}/credentials/extra`, {
        key: adminA,
        body: { baseUrl: `${dp.mock.url}/v1/` },
      });
      assert.equal(samePlace.status, 200, 'the same host may be edited without the secret');

      const removed = await api('DELETE', `${BASE}/credentials/extra`, { key: adminA });
      assert.equal(removed.status, 200);
      assert.equal(removed.body.id, created.body.id);
      const gone = await api('GET', `${BASE}/credentials/extra`, { key: adminA });
      assert.equal(gone.status, 404);
      assert.equal(gone.body.error.code, 'resource_not_found');
      const unserved = await refusal(chat(dp.key, 'extra-1'));
      assert.equal(unserved.status, 404);
      assert.equal(unserved.code, 'model_not_found');
    });

    it('credentials: a duplicate name is 409, a private base URL is refused with param baseUrl', async () => {
      const dup = await api('POST', `${BASE}/credentials`, {
        key: adminA,
        body: { name: 'openai-main', provider: 'openai', secret: 'sk-whatever-123456789012' },
      });
      assert.equal(dup.status, 409);
      assert.equal(dup.body.error.code, 'resource_conflict');
      const ssrf = await api('POST', `${BASE}/credentials`, {
        key: adminA,
        body: {
          name: 'meta',
          provider: 'openai-compatible',
          baseUrl: 'https://169.254.169.254/v1',
          models: ['x'],
          secret: 'sk-whatever-123456789012',
        },
      });
      assert.equal(ssrf.status, 400);
      assert.equal(ssrf.body.error.code, 'invalid_request');
      assert.equal(ssrf.body.error.param, 'baseUrl');
    });

    it('aliases: put, use at once, list, remove', async () => {
      const put = await api('PUT', `${BASE}/aliases/smart`, {
        key: adminA,
        body: { targets: [{ credential: 'anthropic-main', model: 'claude-haiku-4-5' }] },
      });
      assert.equal(put.status, 200, put.text);
      assert.equal(put.body.name, 'smart');
      dp.mock.clear();
      await chat(dp.key, 'smart');
      assert.equal(dp.mock.requests.at(-1)?.path, '/v1/messages', 'routed to the Anthropic target');

      const list = await api('GET', `${BASE}/aliases`, { key: readA });
      assert.deepEqual(
        list.body.data.map((a: { name: string }) => a.name),
        ['smart'],
      );
      const removed = await api('DELETE', `${BASE}/aliases/smart`, { key: adminA });
      assert.equal(removed.status, 200);
      assert.equal((await refusal(chat(dp.key, 'smart'))).code, 'model_not_found');
      const again = await api('DELETE', `${BASE}/aliases/smart`, { key: adminA });
      assert.equal(again.status, 404);
      assert.equal(again.body.error.code, 'resource_not_found');
    });

    it('aliases: a target on an unknown credential is a 400 naming the field', async () => {
      const res = await api('PUT', `${BASE}/aliases/smart`, {
        key: adminA,
        body: { targets: [{ credential: 'nope', model: 'gpt-4o' }] },
      });
      assert.equal(res.status, 400);
      assert.equal(res.body.error.param, 'targets[0].credential');
    });

    it('keys: create (raw key once), use, list, show, update, rotate with grace, revoke, delete', async () => {
      const created = await api('POST', `${BASE}/keys`, {
        key: adminA,
        body: { name: 'app', scopes: ['chat', 'models:read'], models: ['gpt-*'], tags: ['team:x'] },
      });
      assert.equal(created.status, 201, created.text);
      const { id, key } = created.body;
      assert.match(key, /^pcx_live_[0-9A-Za-z]{61}$/);
      assert.equal(Object.keys(created.body)[1], 'key');
      assert.equal(created.body.status, 'active');
      assert.ok(created.body.createdBy?.startsWith('key_'), 'records which key created it');
      assert.ok((await chat(key, 'gpt-4o')).choices.length > 0);
      assert.equal((await refusal(chat(key, 'claude-haiku-4-5'))).code, 'model_not_allowed');

      const list = await api('GET', `${BASE}/keys`, { key: readA });
      const listed = list.body.data.find((k: { id: string }) => k.id === id);
      assert.equal(listed.masked, created.body.masked);
      assert.equal(listed.key, undefined);
      const shown = await api('GET', `${BASE}/keys/${id}`, { key: readA });
      assert.equal(shown.status, 200);
      assert.equal(shown.body.key, undefined);

      const updated = await api('PATCH', `${BASE}/keys/${id}`, {
        key: adminA,
        body: { name: 'app-renamed', models: ['gpt-*', 'claude-*'] },
      });
      assert.equal(updated.status, 200, updated.text);
      assert.equal(updated.body.name, 'app-renamed');
      assert.ok((await chat(key, 'claude-haiku-4-5')).choices.length > 0, 'the update applies at once');

      const rotated = await api('POST', `${BASE}/keys/${id}/rotate`, {
        key: adminA,
        body: { graceSeconds: 60 },
      });
      assert.equal(rotated.status, 200, rotated.text);
      const fresh = rotated.body.key as string;
      assert.notEqual(fresh, key);
      assert.ok(rotated.body.previousValidUntil > Date.now());
      assert.ok(
        (await chat(key, 'gpt-4o')).choices.length > 0,
        'the old secret works during the grace period',
      );
      assert.ok((await chat(fresh, 'gpt-4o')).choices.length > 0, 'the new secret works');

      // Without a body: the default grace. Then with 0: the previous secret stops at once.
      const rotatedAgain = await api('POST', `${BASE}/keys/${id}/rotate`, { key: adminA });
      assert.equal(rotatedAgain.status, 200, rotatedAgain.text);
      const third = rotatedAgain.body.key as string;
      const cut = await api('POST', `${BASE}/keys/${id}/rotate`, { key: adminA, body: { graceSeconds: 0 } });
      assert.equal(cut.status, 200);
      assert.equal((await refusal(chat(third, 'gpt-4o'))).code, 'api_key_expired');
      const current = cut.body.key as string;
      assert.ok((await chat(current, 'gpt-4o')).choices.length > 0);

      const revoked = await api('POST', `${BASE}/keys/${id}/revoke`, { key: adminA });
      assert.equal(revoked.status, 200);
      assert.equal(revoked.body.status, 'revoked');
      const refused = await refusal(chat(current, 'gpt-4o'));
      assert.equal(refused.status, 401);
      assert.equal(refused.code, 'api_key_revoked');
      const patchRevoked = await api('PATCH', `${BASE}/keys/${id}`, { key: adminA, body: { name: 'x' } });
      assert.equal(patchRevoked.status, 409);
      assert.equal(patchRevoked.body.error.code, 'resource_conflict');

      const deleted = await api('DELETE', `${BASE}/keys/${id}`, { key: adminA });
      assert.equal(deleted.status, 200);
      assert.equal(deleted.body.status, 'deleted');
      const remaining = await api('GET', `${BASE}/keys`, { key: readA });
      assert.ok(!remaining.body.data.some((k: { id: string }) => k.id === id), 'deleted keys leave the list');
      assert.equal((await api('GET', `${BASE}/keys/${id}`, { key: readA })).body.status, 'deleted');
    });
  });

  describe('authentication and function-level authorization', () => {
    it('no key → 401 missing_api_key; a wrong key → 401 invalid_api_key', async () => {
      const none = await api('GET', `${BASE}/credentials`);
      assert.equal(none.status, 401);
      assert.equal(none.body.error.code, 'missing_api_key');
      assert.equal(none.headers.get('www-authenticate'), 'Bearer');
      const wrong = await api('GET', `${BASE}/credentials`, { key: `${adminA.slice(0, -8)}AAAAAAAA` });
      assert.equal(wrong.status, 401);
      assert.equal(wrong.body.error.code, 'invalid_api_key');
      const viaHeader = await api('GET', `${BASE}/workspace`, { headers: { 'x-api-key': readA } });
      assert.equal(viaHeader.status, 200, 'x-api-key works like the data plane');
    });

    it('authentication comes before validation: an anonymous bad body is still 401', async () => {
      const res = await api('POST', `${BASE}/keys`, { body: { nonsense: true } });
      assert.equal(res.status, 401);
    });

    it('a data-plane key → 403 insufficient_scope on every route', async () => {
      // Workspace routes (user-only and public routes answer to user sessions; see admin-rbac tests).
      for (const r of adminRoutes(stubDeps()).filter((r) => (r.auth ?? 'workspace') === 'workspace')) {
        const path =
          BASE +
          r.path
            .replace(':idOrName', 'openai-main')
            .replace(':id', 'key_000000000000')
            .replace(':name', 'smart')
            .replace(':userId', 'usr_0000000000000000000000');
        const res = await api(r.method, path, { key: dp.key, body: r.body ? {} : undefined });
        assert.equal(res.status, 403, `${r.method} ${r.path}`);
        // Owner-only actions are refused to every key, whatever its scopes.
        assert.match(res.body.error.code, /^(insufficient_scope|user_session_required)$/);
        assert.equal(res.body.error.type, 'permission_error');
      }
    });

    it('an admin:read key reads but cannot write', async () => {
      assert.equal((await api('GET', `${BASE}/keys`, { key: readA })).status, 200);
      const attempts: [string, string, unknown][] = [
        ['POST', `${BASE}/credentials`, { name: 'n', provider: 'openai', secret: 'sk-abcdefghijklmnop' }],
        ['DELETE', `${BASE}/credentials/openai-main`, undefined],
        ['PUT', `${BASE}/aliases/x`, { targets: [{ credential: 'openai-main', model: 'gpt-4o' }] }],
        ['POST', `${BASE}/keys`, { name: 'escalate', scopes: ['admin:read', 'admin:write'] }],
      ];
      for (const [method, path, body] of attempts) {
        const res = await api(method, path, { key: readA, body });
        assert.equal(res.status, 403, `${method} ${path}`);
        assert.equal(res.body.error.code, 'insufficient_scope');
        assert.match(res.body.error.message, /admin:write/);
      }
      const names = (await api('GET', `${BASE}/keys`, { key: readA })).body.data.map(
        (k: { name: string }) => k.name,
      );
      assert.ok(!names.includes('escalate'), 'no admin:write key was minted by a read-only key');
      assert.equal((await api('GET', `${BASE}/credentials/openai-main`, { key: readA })).status, 200);
    });

    it('no privilege escalation: a key grants only scopes it holds, and cannot take over a stronger key', async () => {
      // writeOnlyA holds admin:read + admin:write, no data-plane scope.
      const mgmt = await api('POST', `${BASE}/keys`, {
        key: writeOnlyA,
        body: { name: 'auditor', scopes: ['admin:read'] },
      });
      assert.equal(mgmt.status, 201, 'granting a scope it holds is fine');
      const chatKey = await api('POST', `${BASE}/keys`, {
        key: writeOnlyA,
        body: { name: 'sneaky', scopes: ['chat'] },
      });
      assert.equal(chatKey.status, 403);
      assert.equal(chatKey.body.error.code, 'insufficient_scope');
      assert.equal(chatKey.body.error.param, 'scopes');
      const defaults = await api('POST', `${BASE}/keys`, { key: writeOnlyA, body: { name: 'sneaky' } });
      assert.equal(defaults.status, 403, 'the default data-plane scopes count too');

      const dataKeyId = (await dp.keys.list(dp.workspaceId)).find((k) => k.name === 'sdk')?.id ?? '';
      const rotate = await api('POST', `${BASE}/keys/${dataKeyId}/rotate`, { key: writeOnlyA });
      assert.equal(rotate.status, 403, 'rotating would hand out a chat secret');
      const widen = await api('PATCH', `${BASE}/keys/${mgmt.body.id}`, {
        key: writeOnlyA,
        body: { scopes: ['admin:read', 'chat'] },
      });
      assert.equal(widen.status, 403);
      const loosen = await api('PATCH', `${BASE}/keys/${dataKeyId}`, {
        key: writeOnlyA,
        body: { models: ['*'] },
      });
      assert.equal(loosen.status, 403, 'cannot change a key stronger than itself');
      assert.ok((await chat(dp.key, 'gpt-4o')).choices.length > 0, 'the data key is untouched');

      // Taking rights away is allowed.
      const victim = await dp.newKey({ name: 'victim', scopes: ['chat'] });
      const victimId = (await dp.keys.list(dp.workspaceId)).find((k) => k.name === 'victim')?.id ?? '';
      const revoke = await api('POST', `${BASE}/keys/${victimId}/revoke`, { key: writeOnlyA });
      assert.equal(revoke.status, 200);
      assert.equal((await refusal(chat(victim, 'gpt-4o'))).code, 'api_key_revoked');
    });

    it('no privilege escalation through attributes: a restricted key cannot mint or become an unrestricted one', async () => {
      const restricted = await dp.newKey({
        name: 'restricted-admin',
        scopes: ['admin:read', 'admin:write', 'chat'],
        models: ['gpt-4o-mini'],
        limits: { budgetUsd: 0.01, budgetWindow: 'day' },
        expiresAt: Date.now() + 3_600_000,
      });
      const selfId =
        (await dp.keys.list(dp.workspaceId)).find((k) => k.name === 'restricted-admin')?.id ?? '';
      const mint = await api('POST', `${BASE}/keys`, {
        key: restricted,
        body: { name: 'unrestricted', scopes: ['chat'], models: ['*'] },
      });
      assert.equal(mint.status, 403, mint.text);
      assert.equal(mint.body.error.code, 'grant_exceeds_own');
      assert.equal(mint.body.error.param, 'models');
      const noBudget = await api('POST', `${BASE}/keys`, {
        key: restricted,
        body: {
          name: 'unbudgeted',
          scopes: ['chat'],
          models: ['gpt-4o-mini'],
          expiresAt: Date.now() + 60_000,
        },
      });
      assert.equal(noBudget.body.error?.param, 'limits.budgetUsd');
      const self = await api('PATCH', `${BASE}/keys/${selfId}`, {
        key: restricted,
        body: { models: ['*'], limits: {}, expiresAt: null },
      });
      assert.equal(self.status, 403, 'nor loosen itself');
      const within = await api('POST', `${BASE}/keys`, {
        key: restricted,
        body: {
          name: 'narrower',
          scopes: ['chat'],
          models: ['gpt-4o-mini'],
          limits: { budgetUsd: 0.005, budgetWindow: 'day' },
          expiresAt: Date.now() + 60_000,
        },
      });
      assert.equal(within.status, 201, within.text);
    });
  });

  describe('object-level authorization across workspaces', () => {
    let crdA: string;
    let keyIdA: string;
    before(async () => {
      crdA = (await dp.credentials.show(dp.workspaceId, 'openai-main')).id;
      keyIdA = (await dp.keys.list(dp.workspaceId)).find((k) => k.name === 'sdk')?.id ?? '';
      await dp.aliases.set(dp.workspaceId, 'a-only', [{ credential: 'openai-main', model: 'gpt-4o' }]);
    });

    it('B sees only its own workspace in every list', async () => {
      const ws = await api('GET', `${BASE}/workspace`, { key: adminB });
      assert.equal(ws.body.id, workspaceB);
      for (const path of ['/credentials', '/aliases', '/keys']) {
        const res = await api('GET', BASE + path, { key: adminB });
        assert.equal(res.status, 200);
        assert.ok(!res.text.includes(dp.workspaceId), `${path}: nothing of workspace A`);
        assert.ok(
          !res.text.includes('openai-main') && !res.text.includes(keyIdA) && !res.text.includes('a-only'),
        );
      }
    });

    it('A’s objects answer B exactly like missing ones (404, same body)', async () => {
      const missingCrd = `crd_${randomBytes(16).toString('base64url')}`;
      const missingKey = 'key_000000000000';
      const pairs: [string, string, string, string, unknown][] = [
        ['GET', `/credentials/${crdA}`, crdA, missingCrd, undefined],
        ['GET', '/credentials/openai-main', 'openai-main', 'no-such-credential', undefined],
        ['PATCH', `/credentials/${crdA}`, crdA, missingCrd, { models: ['*'] }],
        ['DELETE', `/credentials/${crdA}`, crdA, missingCrd, undefined],
        ['DELETE', '/aliases/a-only', 'a-only', 'no-such-alias', undefined],
        ['GET', `/keys/${keyIdA}`, keyIdA, missingKey, undefined],
        ['PATCH', `/keys/${keyIdA}`, keyIdA, missingKey, { name: 'pwned' }],
        ['POST', `/keys/${keyIdA}/revoke`, keyIdA, missingKey, undefined],
        ['POST', `/keys/${keyIdA}/rotate`, keyIdA, missingKey, {}],
        ['DELETE', `/keys/${keyIdA}`, keyIdA, missingKey, undefined],
      ];
      for (const [method, path, foreign, missing, body] of pairs) {
        const a = await api(method, BASE + path, { key: adminB, body });
        const b = await api(method, BASE + path.replace(foreign, missing), { key: adminB, body });
        assert.equal(a.status, 404, `${method} ${path}`);
        assert.equal(a.body.error.code, 'resource_not_found');
        assert.equal(a.body.error.message.replace(foreign, 'X'), b.body.error.message.replace(missing, 'X'));
        assert.equal(a.body.error.type, b.body.error.type);
        assert.equal(a.body.error.param, b.body.error.param);
      }
      // Nothing of A changed.
      assert.ok((await chat(dp.key, 'gpt-4o')).choices.length > 0);
      assert.deepEqual((await dp.credentials.show(dp.workspaceId, 'openai-main')).models, [
        'gpt-*',
        'text-embedding-*',
      ]);
      assert.ok(await dp.aliases.find(dp.workspaceId, 'a-only'));
    });

    it('B cannot point its alias at A’s credential', async () => {
      const res = await api('PUT', `${BASE}/aliases/steal`, {
        key: adminB,
        body: { targets: [{ credential: 'openai-main', model: 'gpt-4o' }] },
      });
      assert.equal(res.status, 400);
      assert.equal(res.body.error.param, 'targets[0].credential');
    });
  });

  describe('mass assignment and input validation', () => {
    it('unknown fields are refused with 400 naming the field, and nothing is created', async () => {
      const cases: [string, string, unknown, string][] = [
        [
          'POST',
          '/credentials',
          { name: 'x1', provider: 'openai', secret: 'sk-abcdefghijklmnop', workspace_id: workspaceB },
          'workspace_id',
        ],
        [
          'POST',
          '/credentials',
          { name: 'x2', provider: 'openai', secret: 'sk-abcdefghijklmnop', options: { owner: 'me' } },
          'options.owner',
        ],
        ['PATCH', '/credentials/openai-main', { workspaceId: workspaceB }, 'workspaceId'],
        ['POST', '/keys', { name: 'x3', scopes: ['chat'], role: 'owner' }, 'role'],
        ['POST', '/keys', { name: 'x4', scopes: ['chat'], workspaceId: workspaceB }, 'workspaceId'],
        ['POST', '/keys', { name: 'x5', scopes: ['chat'], limits: { rpm: 5, sneaky: 1 } }, 'limits.sneaky'],
        ['PATCH', `/keys/${(await dp.keys.list(dp.workspaceId))[0]?.id}`, { owner: 'me' }, 'owner'],
        [
          'PUT',
          '/aliases/x6',
          { targets: [{ credential: 'openai-main', model: 'gpt-4o', workspace: 'b' }] },
          'targets.0.workspace',
        ],
        [
          'POST',
          `/keys/${(await dp.keys.list(dp.workspaceId))[0]?.id}/rotate`,
          { graceSeconds: 1, createdBy: 'x' },
          'createdBy',
        ],
      ];
      for (const [method, path, body, field] of cases) {
        const res = await api(method, BASE + path, { key: adminA, body });
        assert.equal(res.status, 400, `${method} ${path}: ${res.text}`);
        assert.equal(res.body.error.code, 'invalid_request');
        assert.equal(res.body.error.param, field);
        assert.ok(res.body.error.message.includes(field));
      }
      const creds = (await api('GET', `${BASE}/credentials`, { key: adminA })).body.data;
      assert.ok(!creds.some((c: { name: string }) => c.name === 'x1' || c.name === 'x2'));
      const keys = (await api('GET', `${BASE}/keys`, { key: adminA })).body.data;
      assert.ok(!keys.some((k: { name: string }) => /^x\d$/.test(k.name)));
      assert.equal(await dp.aliases.find(dp.workspaceId, 'x6'), undefined);
    });

    it('bad values and bad ids are 400 naming the field', async () => {
      const scope = await api('POST', `${BASE}/keys`, { key: adminA, body: { name: 'x', scopes: ['root'] } });
      assert.equal(scope.status, 400);
      assert.equal(scope.body.error.param, 'scopes.0');
      const missing = await api('POST', `${BASE}/credentials`, {
        key: adminA,
        body: { name: 'x', provider: 'openai' },
      });
      assert.equal(missing.status, 400);
      assert.equal(missing.body.error.param, 'secret');
      const cidr = await api('POST', `${BASE}/keys`, {
        key: adminA,
        body: { name: 'x', scopes: ['chat'], allowIps: ['nope'] },
      });
      assert.equal(cidr.status, 400);
      assert.equal(cidr.body.error.param, 'allowIps');
      const badId = await api('GET', `${BASE}/keys/not-a-key`, { key: adminA });
      assert.equal(badId.status, 400);
      assert.equal(badId.body.error.param, 'id');
      const empty = await api('PATCH', `${BASE}/credentials/openai-main`, { key: adminA, body: {} });
      assert.equal(empty.status, 400);
    });
  });

  describe('OpenAPI document', () => {
    it('describes every admin route, the security scheme and the error envelope, without a key', async () => {
      const res = await api('GET', '/admin/api/openapi.json');
      assert.equal(res.status, 200);
      const doc = res.body;
      assert.equal(doc.openapi, '3.1.0');
      for (const r of adminRoutes(stubDeps())) {
        const path = BASE + r.path.replace(/:(\w+)/g, '{$1}');
        const op = doc.paths[path]?.[r.method.toLowerCase()];
        assert.ok(op, `${r.method} ${path} is documented`);
        assert.ok(op.responses[String(r.status)], 'its success response');
        assert.ok(op.responses['401'] && op.responses['403'], 'its auth errors');
      }
      assert.equal(doc.components.securitySchemes.bearerApiKey.scheme, 'bearer');
      assert.ok(doc.components.schemas.ErrorEnvelope.properties.error);
      const createCredential =
        doc.paths[`${BASE}/credentials`].post.requestBody.content['application/json'].schema;
      assert.equal(createCredential.additionalProperties, false);
      assert.equal(createCredential.properties.secret.writeOnly, true);
      const credential =
        doc.paths[`${BASE}/credentials`].post.responses['201'].content['application/json'].schema;
      assert.equal(credential.properties.secret, undefined, 'no secret in the response schema');
    });
  });

  describe('no secret, hash or ciphertext in any response', () => {
    it('searches every admin response body of this run', () => {
      assert.ok(seen.length > 50, `${seen.length} responses checked`);
      const forbiddenField = /"[^"]*(?:hash|cipher|wrapped|nonce|secret_id)[^"]*"\s*:|"secret"\s*:/i;
      for (const { text, mayCarryKey, schema } of seen) {
        assert.ok(!text.includes(PROVIDER_SECRET), 'no provider secret');
        assert.ok(!text.includes(WRONG_SECRET), 'no rotated provider secret');
        assert.ok(schema || !forbiddenField.test(text), `no secret-bearing field in ${text.slice(0, 200)}`);
        if (!mayCarryKey) {
          for (const key of [...rawKeys, adminA, readA, writeOnlyA, adminB, dp.key]) {
            assert.ok(!text.includes(key), 'a raw key only in its create/rotate response');
          }
        }
      }
    });
  });
});

/** The route list needs deps only to build handlers, which these tests never call directly. */
function stubDeps(): Parameters<typeof adminRoutes>[0] {
  return {} as Parameters<typeof adminRoutes>[0];
}
