import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import OpenAI from 'openai';
import { systemClock } from '../../src/clock.ts';
import { DEFAULT_POLICY } from '../../src/guardrails/policy.ts';
import { SCOPES } from '../../src/keys/types.ts';
import { createWorkspaceRepository } from '../../src/workspaces/repository.ts';
import { type DataPlaneFixture, startDataPlane } from '../helpers/dataplane.ts';
import { isolatedSchema } from '../helpers/postgres.ts';

/**
 * Guardrail policies through the admin API (issue 7): GET/PUT/PATCH /admin/api/v1/guardrails and
 * GET/PUT/DELETE /admin/api/v1/keys/:id/guardrails against the real gateway, with the official
 * openai SDK on the data plane proving that what the API sets is what the gateway enforces.
 * On PostgreSQL + Redis when TEST_DATABASE_URL and TEST_REDIS_URL are set.
 */
const pgUrl = process.env.TEST_DATABASE_URL;
const redisUrl = process.env.TEST_REDIS_URL;
const BASE = '/admin/api/v1';
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** Generous time budgets for every text detector (see the first PUT). */
const BUDGETS = {
  'prompt-injection': { timeBudgetMs: 5000 },
  pii: { timeBudgetMs: 5000 },
  secrets: { timeBudgetMs: 5000 },
};
/** A GitHub-token-shaped secret, fresh per call: the gitleaks `github-pat` rule finds it. */
const token = (): string => `ghp_${Array.from(randomBytes(36), (b) => ALNUM[b % 62]).join('')}`;

interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies are inspected field by field in assertions
  body: any;
}

describe('admin API: guardrail policies', () => {
  let dp: DataPlaneFixture;
  let dropSchema: (() => Promise<void>) | undefined;
  let adminA: string;
  let readA: string;
  let adminB: string;
  let workspaceB: string;

  async function api(method: string, url: string, key?: string, body?: unknown): Promise<Answer> {
    const headers: Record<string, string> = {};
    if (key !== undefined) headers.authorization = `Bearer ${key}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${dp.gateway.url}${BASE}${url}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
  }

  /** A chat call carrying a fresh secret: 'redacted' (the provider saw a placeholder) or 'blocked'. */
  async function secretOutcome(key: string): Promise<'redacted' | 'blocked' | 'passed'> {
    dp.mock.clear();
    const secret = token();
    try {
      await dp.openai(key).chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: `deploy with ${secret} please` }],
      });
    } catch (err) {
      assert.ok(err instanceof OpenAI.BadRequestError, String(err));
      assert.equal((err as { code?: unknown }).code, 'guardrail_blocked');
      assert.match(err.message, /secrets guardrail/);
      assert.ok(!err.message.includes(secret), 'the refusal does not quote the secret');
      assert.equal(dp.mock.requests.length, 0, 'a blocked call never reaches the provider');
      return 'blocked';
    }
    const sent = JSON.stringify(dp.mock.requests.map((r) => r.body));
    if (sent.includes(secret)) return 'passed';
    assert.match(sent, /\[SECRET_1\]/);
    return 'redacted';
  }

  async function lastAudit(action: string) {
    const res = await api('GET', `/audit?action=${action}`, adminA);
    assert.equal(res.status, 200);
    return res.body.data.at(-1);
  }

  before(async () => {
    const env: Record<string, string> = {};
    if (pgUrl && redisUrl) {
      const schema = await isolatedSchema(pgUrl, 'admin_guardrails');
      dropSchema = schema.drop;
      env.PORTCULLIS_DATABASE_URL = schema.url;
      env.PORTCULLIS_REDIS_URL = redisUrl;
      env.PORTCULLIS_MASTER_KEY = randomBytes(32).toString('base64');
    }
    dp = await startDataPlane(env);
    if (dropSchema) assert.equal(dp.gateway.store.dialect, 'postgres');
    adminA = await dp.newKey({ name: 'admin-a', scopes: [...SCOPES] });
    readA = await dp.newKey({ name: 'read-a', scopes: ['admin:read'] });
    const wsB = await createWorkspaceRepository({ store: dp.gateway.store, clock: systemClock }).create(
      'beta',
    );
    workspaceB = wsB.id;
    adminB = (await dp.keys.create({ workspaceId: workspaceB, name: 'admin-b', scopes: [...SCOPES] })).key;
  });

  after(async () => {
    await dp?.close();
    await dropSchema?.();
  });

  beforeEach(() => {
    dp.mock.setScenario({});
  });

  it('GET /guardrails: a new workspace has the default policy and no override', async () => {
    const res = await api('GET', '/guardrails', readA);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.workspaceId, dp.workspaceId);
    assert.deepEqual(res.body.policy, DEFAULT_POLICY);
    assert.deepEqual(res.body.default, DEFAULT_POLICY);
    assert.deepEqual(res.body.override, {});
    assert.deepEqual(res.body.keysWithOverride, []);
  });

  it('PUT /guardrails replaces the override; the rest of the policy stays the default', async () => {
    // The calls below test actions, not timing: a loaded machine must not trip the 20 ms default
    // budget, which fails closed (detector_timeout) and would block for the wrong reason.
    const res = await api('PUT', '/guardrails', adminA, BUDGETS);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body.override, BUDGETS);
    assert.equal(res.body.policy.pii.timeBudgetMs, 5000);
    assert.deepEqual({ ...res.body.policy.secrets, timeBudgetMs: 20 }, DEFAULT_POLICY.secrets);
    assert.equal(await secretOutcome(dp.key), 'redacted', 'the default redacts secrets');
    assert.deepEqual((await lastAudit('guardrails.set')).details, {
      scope: 'workspace',
      changed: ['pii.timeBudgetMs', 'prompt-injection.timeBudgetMs', 'secrets.timeBudgetMs'],
    });
  });

  it('PATCH /guardrails changes one field; the next call is blocked where it was redacted; audited', async () => {
    const res = await api('PATCH', '/guardrails', adminA, { secrets: { action: 'block' } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.policy.secrets.action, 'block');
    assert.equal(res.body.policy.secrets.where, 'both', 'the other fields are inherited');
    assert.deepEqual(res.body.override, { ...BUDGETS, secrets: { timeBudgetMs: 5000, action: 'block' } });
    assert.deepEqual(res.body.default, DEFAULT_POLICY, 'the default is unchanged');
    assert.equal(await secretOutcome(dp.key), 'blocked');

    // A second PATCH merges into the first, field by field.
    const more = await api('PATCH', '/guardrails', adminA, {
      secrets: { threshold: 0.6 },
      pii: { action: 'redact', entities: ['EMAIL'] },
      'json-schema': { retries: 1 },
    });
    assert.equal(more.status, 200, JSON.stringify(more.body));
    assert.deepEqual(more.body.override, {
      'prompt-injection': { timeBudgetMs: 5000 },
      secrets: { timeBudgetMs: 5000, action: 'block', threshold: 0.6 },
      pii: { timeBudgetMs: 5000, action: 'redact', entities: ['EMAIL'] },
      'json-schema': { retries: 1 },
    });
    assert.equal(more.body.policy['json-schema'].retries, 1);

    const entry = await lastAudit('guardrails.set');
    assert.equal(entry.target, dp.workspaceId);
    assert.ok(entry.actor.startsWith('key_'));
    assert.deepEqual(entry.details, {
      scope: 'workspace',
      changed: ['json-schema.retries', 'pii.action', 'pii.entities', 'secrets.threshold'],
    });
    assert.ok(!JSON.stringify(entry).includes('EMAIL'), 'field names only, no values');
  });

  it('PUT /keys/:id/guardrails overrides the workspace for one key; DELETE removes it', async () => {
    const { key, record } = await dp.keys.create({ workspaceId: dp.workspaceId, name: 'lenient' });
    const put = await api('PUT', `/keys/${record.id}/guardrails`, adminA, {
      secrets: { action: 'redact' },
      tools: { allow: ['lookup'] },
    });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal(put.body.keyId, record.id);
    assert.equal(put.body.policy.secrets.action, 'redact', "the key's own action");
    assert.equal(put.body.policy.secrets.threshold, 0.6, "the workspace's threshold, inherited");
    assert.deepEqual(put.body.policy.tools.allow, ['lookup']);
    assert.equal(await secretOutcome(key), 'redacted', 'this key: redacted');
    assert.equal(await secretOutcome(dp.key), 'blocked', 'other keys: still blocked');

    const shown = await api('GET', `/keys/${record.id}/guardrails`, readA);
    assert.equal(shown.status, 200);
    assert.deepEqual(shown.body.override, { secrets: { action: 'redact' }, tools: { allow: ['lookup'] } });
    assert.deepEqual((await api('GET', '/guardrails', readA)).body.keysWithOverride, [record.id]);
    assert.deepEqual((await lastAudit('guardrails.set')).details, {
      scope: 'key',
      changed: ['secrets.action', 'tools.allow'],
    });
    assert.equal((await lastAudit('guardrails.set')).target, record.id);

    // PUT replaces the key's override whole.
    const replaced = await api('PUT', `/keys/${record.id}/guardrails`, adminA, { pii: { action: 'log' } });
    assert.deepEqual(replaced.body.override, { pii: { action: 'log' } });
    assert.equal(replaced.body.policy.secrets.action, 'block');

    const removed = await api('DELETE', `/keys/${record.id}/guardrails`, adminA);
    assert.equal(removed.status, 200);
    assert.deepEqual(removed.body.override, {});
    assert.deepEqual((await api('GET', '/guardrails', readA)).body.keysWithOverride, []);
    const entry = await lastAudit('guardrails.removed');
    assert.deepEqual(entry.details, { scope: 'key', changed: ['pii.action'] });
    assert.equal(await secretOutcome(key), 'blocked', "the key is back on the workspace's policy");
  });

  it('refuses unknown fields and bad values with 400 naming the field; nothing changes', async () => {
    const before = (await api('GET', '/guardrails', readA)).body.override;
    const cases: [string, string, unknown, string][] = [
      ['PATCH', '/guardrails', { secrets: { acton: 'block' } }, 'secrets.acton'],
      ['PUT', '/guardrails', { jailbreak: { action: 'block' } }, 'jailbreak'],
      ['PATCH', '/guardrails', { workspaceId: workspaceB }, 'workspaceId'],
      ['PATCH', '/guardrails', { pii: { threshold: 2 } }, 'pii.threshold'],
      ['PATCH', '/guardrails', { secrets: { action: 'shred' } }, 'secrets.action'],
      ['PATCH', '/guardrails', { 'prompt-injection': { action: 'redact' } }, 'prompt-injection.action'],
      ['PATCH', '/guardrails', { pii: { where: 'sideways' } }, 'pii.where'],
      ['PATCH', '/guardrails', { secrets: { timeBudgetMs: 0 } }, 'secrets.timeBudgetMs'],
      ['PATCH', '/guardrails', { pii: { entities: ['EMAIL', 'BLOOD_TYPE'] } }, 'pii.entities.1'],
      ['PATCH', '/guardrails', { pii: { onError: 'ignore' } }, 'pii.onError'],
      ['PATCH', '/guardrails', { hostedTools: { allow: ['web search'] } }, 'hostedTools.allow.0'],
      ['PATCH', '/guardrails', { 'json-schema': { where: 'input' } }, 'json-schema.where'],
      ['PATCH', '/guardrails', { 'json-schema': { retries: 2 } }, 'json-schema.retries'],
      ['PATCH', '/guardrails', { 'json-schema': { threshold: 0.5 } }, 'json-schema.threshold'],
      [
        'PATCH',
        '/guardrails',
        { pii: { custom: [{ name: 'ORDER', pattern: '(a+)+$' }] } },
        'pii.custom.0.pattern',
      ],
      ['PATCH', '/guardrails', { pii: { custom: [{ name: 'order', pattern: 'x' }] } }, 'pii.custom.0.name'],
    ];
    for (const [method, url, body, param] of cases) {
      const res = await api(method, url, adminA, body);
      assert.equal(res.status, 400, `${JSON.stringify(body)} → ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.code, 'invalid_request');
      assert.equal(res.body.error.param, param, JSON.stringify(res.body.error));
      assert.ok(res.body.error.message.includes(param), res.body.error.message);
    }
    const { record } = await dp.keys.create({ workspaceId: dp.workspaceId, name: 'bad-values' });
    const onKey = await api('PUT', `/keys/${record.id}/guardrails`, adminA, { pii: { actions: 'log' } });
    assert.equal(onKey.status, 400);
    assert.equal(onKey.body.error.param, 'pii.actions');
    assert.deepEqual((await api('GET', '/guardrails', readA)).body.override, before, 'nothing changed');
    assert.deepEqual((await api('GET', `/keys/${record.id}/guardrails`, readA)).body.override, {});
  });

  it("another workspace's key answers 404, like a missing one, and stays untouched", async () => {
    const { record } = await dp.keys.create({ workspaceId: dp.workspaceId, name: 'mine' });
    const missingId = 'key_000000000000';
    for (const [method, body] of [
      ['GET', undefined],
      ['PUT', { secrets: { action: 'log' } }],
      ['DELETE', undefined],
    ] as const) {
      const foreign = await api(method, `/keys/${record.id}/guardrails`, adminB, body);
      const missing = await api(method, `/keys/${missingId}/guardrails`, adminB, body);
      assert.equal(foreign.status, 404, `${method}: ${JSON.stringify(foreign.body)}`);
      assert.equal(foreign.body.error.code, 'resource_not_found');
      assert.equal(
        foreign.body.error.message.replace(record.id, 'ID'),
        missing.body.error.message.replace(missingId, 'ID'),
        `${method}: a foreign key answers like a missing one`,
      );
    }
    assert.deepEqual((await api('GET', `/keys/${record.id}/guardrails`, readA)).body.override, {});
    // B's own workspace policy is B's alone.
    const b = await api('PATCH', '/guardrails', adminB, { pii: { action: 'block' } });
    assert.equal(b.body.workspaceId, workspaceB);
    assert.equal((await api('GET', '/guardrails', readA)).body.policy.pii.action, 'redact');
  });

  it('needs admin:read to look and admin:write to change', async () => {
    assert.equal((await api('GET', '/guardrails')).status, 401);
    assert.equal((await api('PATCH', '/guardrails', undefined, { pii: { action: 'log' } })).status, 401);
    const chatOnly = await api('GET', '/guardrails', dp.key);
    assert.equal(chatOnly.status, 403);
    assert.equal(chatOnly.body.error.code, 'insufficient_scope');

    const { record } = await dp.keys.create({ workspaceId: dp.workspaceId, name: 'target' });
    const writes: [string, string, unknown][] = [
      ['PATCH', '/guardrails', { secrets: { action: 'log' } }],
      ['PUT', '/guardrails', {}],
      ['PUT', `/keys/${record.id}/guardrails`, { secrets: { action: 'log' } }],
      ['DELETE', `/keys/${record.id}/guardrails`, undefined],
    ];
    for (const [method, url, body] of writes) {
      const res = await api(method, url, readA, body);
      assert.equal(res.status, 403, `${method} ${url}`);
      assert.equal(res.body.error.code, 'insufficient_scope');
    }
    assert.equal((await api('GET', `/keys/${record.id}/guardrails`, readA)).status, 200);
    assert.equal((await api('GET', '/guardrails', readA)).body.policy.secrets.action, 'block', 'unchanged');
  });

  it('PUT /guardrails {} returns the workspace to the default policy', async () => {
    const res = await api('PUT', '/guardrails', adminA, {});
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body.policy, DEFAULT_POLICY);
    assert.deepEqual(res.body.override, {});
    assert.deepEqual((await lastAudit('guardrails.set')).details.changed, [
      'json-schema.retries',
      'pii.action',
      'pii.entities',
      'pii.timeBudgetMs',
      'prompt-injection.timeBudgetMs',
      'secrets.action',
      'secrets.threshold',
      'secrets.timeBudgetMs',
    ]);
  });
});
