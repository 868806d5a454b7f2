import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../../src/clock.ts';
import { MANAGEMENT_SCOPES, SCOPES } from '../../src/keys/types.ts';
import { createWorkspaceRepository } from '../../src/workspaces/repository.ts';
import { type DataPlaneFixture, startDataPlane } from '../helpers/dataplane.ts';
import { tempDir } from '../helpers/gateway.ts';
import { isolatedSchema } from '../helpers/postgres.ts';

/**
 * Issue 6 item 6 (visibility) and per-model limits through real HTTP: GET/PUT /admin/api/v1/limits
 * and GET /admin/api/v1/keys/:id/limits against the real gateway (memory counters, or PostgreSQL
 * and Redis when TEST_DATABASE_URL and TEST_REDIS_URL are set), and `portcullis limits set --model`.
 */
const pgUrl = process.env.TEST_DATABASE_URL;
const redisUrl = process.env.TEST_REDIS_URL;
const BASE = '/admin/api/v1';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'src/cli/run.ts');

interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies are inspected field by field in assertions
  body: any;
}

interface Row {
  scope: string;
  id: string;
  model?: string;
  limit: string;
  max: number;
  used: number;
}

describe('admin API: limits and usage', () => {
  let dp: DataPlaneFixture;
  let dropSchema: (() => Promise<void>) | undefined;
  let adminA: string;
  let ownerA: string;
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

  function chat(key: string, model: string) {
    return fetch(`${dp.gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model, max_tokens: 50, messages: [{ role: 'user', content: 'Hi' }] }),
    }).then(async (r) => ({
      status: r.status,
      body: (await r.json()) as { error?: { code: string; message: string } },
    }));
  }

  const row = (rows: Row[], scope: string, limit: string, model?: string): Row | undefined =>
    rows.find((r) => r.scope === scope && r.limit === limit && r.model === model);

  before(async () => {
    const env: Record<string, string> = {};
    if (pgUrl && redisUrl) {
      const schema = await isolatedSchema(pgUrl, 'admin_limits');
      dropSchema = schema.drop;
      env.PORTCULLIS_DATABASE_URL = schema.url;
      env.PORTCULLIS_REDIS_URL = redisUrl;
      env.PORTCULLIS_MASTER_KEY = randomBytes(32).toString('base64');
    }
    dp = await startDataPlane(env);
    if (dropSchema) assert.equal(dp.gateway.counters.kind, 'redis');
    adminA = await dp.newKey({ name: 'admin-a', scopes: [...SCOPES] });
    // The spend budget is an Owner's to set (docs/rbac.md): a user session, not a management key.
    const password = `pw-${randomBytes(12).toString('hex')}`;
    await dp.gateway.identity.bootstrap(
      { email: 'owner@example.com', password, workspace: 'acme' },
      { actor: 'test' },
    );
    const login = await fetch(`${dp.gateway.url}/admin/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'owner@example.com', password }),
    });
    ownerA = ((await login.json()) as { accessToken: string }).accessToken;
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

  it('GET /limits: a workspace without limits has no rows', async () => {
    const res = await api('GET', '/limits', adminA);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { workspaceId: dp.workspaceId, limits: {}, usage: [] });
  });

  it('PUT /limits sets the workspace limits (audited); GET shows usage against each', async () => {
    // Small rates: GCRA refills continuously, and the view must still show this call's charge.
    const limits = {
      rpm: 10,
      tpm: 1000,
      concurrency: 10,
      budgetUsd: 5,
      budgetWindow: 'day',
      models: { 'gpt-4o': { rpm: 1 } },
    };
    const refused = await api('PUT', '/limits', adminA, limits);
    assert.equal(refused.status, 403, 'a management key acts at most as an Admin: no budgets');
    assert.equal(refused.body.error.code, 'user_session_required');
    const put = await api('PUT', '/limits', ownerA, limits);
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.deepEqual(put.body.limits, limits);
    assert.equal(row(put.body.usage, 'workspace', 'rpm')?.used, 0);

    assert.equal((await chat(dp.key, 'gpt-4o-mini')).status, 200);
    const res = await api('GET', '/limits', readA);
    assert.equal(res.status, 200);
    const usage: Row[] = res.body.usage;
    assert.deepEqual(usage.map((r) => `${r.scope}:${r.limit}${r.model ? `:${r.model}` : ''}`).sort(), [
      'model:rpm:gpt-4o',
      'workspace:budget',
      'workspace:concurrency',
      'workspace:rpm',
      'workspace:tpm',
    ]);
    assert.deepEqual(
      { ...row(usage, 'workspace', 'rpm') },
      { scope: 'workspace', id: dp.workspaceId, limit: 'rpm', max: 10, used: 1 },
    );
    const tokens = row(usage, 'workspace', 'tpm');
    assert.ok(tokens && tokens.used > 0 && tokens.used < 200, `tokens used ${tokens?.used}`);
    assert.equal(row(usage, 'workspace', 'concurrency')?.used, 0, 'the slot was released');
    const budget = usage.find((r) => r.limit === 'budget') as Row & { window: string; resets: string };
    assert.equal(budget.max, 5_000_000);
    assert.ok(budget.used > 0, 'the call was charged to the budget');
    assert.equal(budget.window, 'day');
    assert.match(budget.resets, /^\d{4}-\d\d-\d\dT00:00Z$/);

    const audit = await api('GET', '/audit?action=limits.set', adminA);
    assert.equal(audit.status, 200);
    const entry = audit.body.data.at(-1);
    assert.equal(entry.target, dp.workspaceId);
    assert.equal(entry.actor.startsWith('usr_'), true, 'the Owner who set it');
    assert.deepEqual(entry.details, {
      scope: 'workspace',
      changed: ['budgetUsd', 'budgetWindow', 'concurrency', 'models', 'rpm', 'tpm'],
    });
  });

  it('a model limit refuses that model while another model of the workspace is still served', async () => {
    await api('PUT', '/limits', ownerA, { models: { 'gpt-4o': { rpm: 1 } } });
    const key = await dp.newKey({ name: 'model-limit' });
    assert.equal((await chat(key, 'gpt-4o')).status, 200);
    const refused = await chat(key, 'gpt-4o');
    assert.equal(refused.status, 429);
    assert.equal(refused.body.error?.code, 'rate_limited');
    assert.match(refused.body.error?.message ?? '', /model "gpt-4o" limit of 1 requests per minute/);
    assert.equal((await chat(key, 'gpt-4o-mini')).status, 200, 'another model is still served');
    assert.equal((await chat(dp.key, 'gpt-4o')).status, 429, 'the limit is per workspace, not per key');
    const usage: Row[] = (await api('GET', '/limits', adminA)).body.usage;
    assert.deepEqual(row(usage, 'model', 'rpm', 'gpt-4o'), {
      scope: 'model',
      id: `${dp.workspaceId}:gpt-4o`,
      model: 'gpt-4o',
      limit: 'rpm',
      max: 1,
      used: 1,
    });
  });

  it('GET /keys/:id/limits: every level that applies to the key, with usage', async () => {
    await api('PUT', '/limits', ownerA, { rpm: 50, models: { 'claude-haiku-4-5': { tpm: 9000 } } });
    const { key, record } = await dp.keys.create({
      workspaceId: dp.workspaceId,
      name: 'limited',
      limits: { rpm: 7, tpm: 500 },
    });
    assert.equal((await chat(key, 'gpt-4o-mini')).status, 200);
    const res = await api('GET', `/keys/${record.id}/limits`, readA);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.keyId, record.id);
    assert.equal(res.body.workspaceId, dp.workspaceId);
    const usage: Row[] = res.body.usage;
    assert.deepEqual(row(usage, 'key', 'rpm'), {
      scope: 'key',
      id: record.id,
      limit: 'rpm',
      max: 7,
      used: 1,
    });
    assert.ok((row(usage, 'key', 'tpm')?.used ?? 0) > 0);
    assert.equal(row(usage, 'workspace', 'rpm')?.max, 50);
    assert.equal(row(usage, 'model', 'tpm', 'claude-haiku-4-5')?.max, 9000);
  });

  it('PUT /limits validates like the CLI and refuses unknown fields', async () => {
    const cases: [unknown, string | null][] = [
      [{ rpm: 0 }, 'rpm'],
      [{ rpm: 1.5 }, 'rpm'],
      [{ rps: 5 }, null],
      [{ budgetWindow: 'day' }, 'limits.budgetWindow'],
      [{ budgetUsd: 5, budgetWindow: 'year' }, 'budgetWindow'],
      [{ models: { 'gpt-4o': { concurrency: 2 } } }, null],
      [{ models: { '../etc': { rpm: 2 } } }, 'limits.models'],
      [{ models: { 'gpt-4o': { rpm: 0 } } }, null],
    ];
    for (const [body, param] of cases) {
      const res = await api('PUT', '/limits', adminA, body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.body.error.code, 'invalid_request');
      if (param !== null) assert.match(res.body.error.param ?? '', new RegExp(param.replace('.', '\\.')));
    }
    assert.equal((await api('GET', '/limits', adminA)).body.limits.rpm, 50, 'nothing changed');
  });

  it('needs admin:read to look and admin:write to change; other workspaces are invisible', async () => {
    assert.equal((await api('GET', '/limits')).status, 401);
    const readOnly = await api('PUT', '/limits', readA, { rpm: 1 });
    assert.equal(readOnly.status, 403);
    assert.equal(readOnly.body.error.code, 'insufficient_scope');
    const chatOnly = await api('GET', '/limits', dp.key);
    assert.equal(chatOnly.status, 403);
    const writeOnly = await dp.newKey({ name: 'mgmt', scopes: [...MANAGEMENT_SCOPES] });
    assert.equal((await api('GET', '/limits', writeOnly)).status, 200);

    const { record } = await dp.keys.create({
      workspaceId: dp.workspaceId,
      name: 'mine',
      limits: { rpm: 3 },
    });
    const foreign = await api('GET', `/keys/${record.id}/limits`, adminB);
    const missing = await api('GET', '/keys/key_000000000000/limits', adminB);
    assert.equal(foreign.status, 404);
    assert.equal(foreign.body.error.code, 'resource_not_found');
    assert.equal(
      foreign.body.error.message.replace(record.id, 'ID'),
      missing.body.error.message.replace('key_000000000000', 'ID'),
      "another workspace's key answers like a missing one",
    );
    // B's PUT changes B's workspace only.
    assert.equal((await api('PUT', '/limits', adminB, { rpm: 2 })).body.workspaceId, workspaceB);
    assert.equal((await api('GET', '/limits', adminA)).body.limits.rpm, 50);
  });

  it('PUT {} removes every limit of the workspace', async () => {
    const res = await api('PUT', '/limits', ownerA, {});
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.limits, {});
    assert.deepEqual(res.body.usage, []);
    const again = await dp.newKey({ name: 'free' });
    assert.equal((await chat(again, 'gpt-4o')).status, 200);
    assert.equal((await chat(again, 'gpt-4o')).status, 200, 'the model limit is gone at once');
  });
});

describe('portcullis limits set --model (CLI, local store)', () => {
  const tmp = tempDir();
  after(() => tmp.remove());
  const masterKey = randomBytes(32).toString('base64');

  function cli(args: string[]) {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) {
      if (!k.startsWith('PORTCULLIS_') && k !== 'DATABASE_URL' && k !== 'REDIS_URL') env[k] = v;
    }
    const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', CLI, ...args], {
      env: { ...env, PORTCULLIS_DATA_DIR: tmp.dir, PORTCULLIS_MASTER_KEY: masterKey },
      encoding: 'utf8',
      timeout: 30_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  it('sets, merges, shows and clears one model’s limits, keeping the workspace’s own', () => {
    assert.equal(cli(['workspaces', 'create', '--name', 'acme']).code, 0);
    assert.equal(cli(['limits', 'set', '--workspace', 'acme', '--rpm', '100']).code, 0);
    const set = cli(['limits', 'set', '--workspace', 'acme', '--model', 'gpt-4o', '--rpm', '5', '--json']);
    assert.equal(set.code, 0, set.stderr);
    assert.deepEqual(JSON.parse(set.stdout).limits, { rpm: 100, models: { 'gpt-4o': { rpm: 5 } } });
    const merged = cli(['limits', 'set', '--workspace', 'acme', '--model', 'gpt-4o', '--tpm', '900']);
    assert.equal(merged.code, 0, merged.stderr);
    assert.match(merged.stdout, /gpt-4o: 5 requests\/min and 900 tokens\/min/);

    const show = cli(['limits', 'show', '--workspace', 'acme', '--json']);
    assert.equal(show.code, 0, show.stderr);
    const rows: Row[] = JSON.parse(show.stdout).usage;
    assert.deepEqual(
      rows.filter((r) => r.scope === 'model').map((r) => [r.model, r.limit, r.max]),
      [
        ['gpt-4o', 'rpm', 5],
        ['gpt-4o', 'tpm', 900],
      ],
    );

    const bad = cli(['limits', 'set', '--workspace', 'acme', '--model', 'gpt-4o', '--concurrency', '2']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /only --rpm and --tpm/);
    const badName = cli(['limits', 'set', '--workspace', 'acme', '--model', '__proto__', '--rpm', '2']);
    assert.notEqual(badName.code, 0);
    assert.match(badName.stderr, /not a model name/);

    const cleared = cli(['limits', 'set', '--workspace', 'acme', '--model', 'gpt-4o', '--clear', '--json']);
    assert.equal(cleared.code, 0, cleared.stderr);
    assert.deepEqual(JSON.parse(cleared.stdout).limits, { rpm: 100 });
  });
});
