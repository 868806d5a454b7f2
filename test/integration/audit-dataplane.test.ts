import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { storedVerifier } from '../../src/audit/signer.ts';
import { verifyAuditLog } from '../../src/audit/verify.ts';
import { aggregateUsage } from '../../src/usage/records.ts';
import { type DataPlaneFixture, startDataPlane } from '../helpers/dataplane.ts';

/**
 * Accounting and the trail through the real gateway: usage rows equal what the mock provider
 * reported to the SDKs, refusals and lockouts land in the audit chain, admin changes are audited
 * with who/where, the admin API reads both, and /metrics answers only with its token and never
 * carries prompt text, a key or a key id.
 */

const CANARY = `canary-${Math.random().toString(36).slice(2)}-zebra-quartz`;
const METRICS_TOKEN = 'metrics-token-0123456789abcdef';

describe('usage, audit and metrics through the gateway', () => {
  let fx: DataPlaneFixture;
  let admin: string;
  const reported = { input: 0, output: 0, calls: 0 };

  before(async () => {
    fx = await startDataPlane({
      PORTCULLIS_METRICS_TOKEN: METRICS_TOKEN,
      PORTCULLIS_AUDIT_FLUSH_MS: '20',
      PORTCULLIS_AUTH_BRUTE_FORCE_IP_FAILURES: '6',
      PORTCULLIS_AUTH_BRUTE_FORCE_KEY_FAILURES: '0',
    });
    admin = await fx.newKey({ name: 'ops', scopes: ['admin:read', 'admin:write', 'chat'] });
  });
  after(async () => {
    await fx?.close();
  });

  async function settled(expectedCalls: number): Promise<void> {
    const deadline = Date.now() + 5000;
    for (;;) {
      await fx.gateway.auditing.events.flush();
      const rows = await fx.gateway.store.db.selectFrom('usage_records').select('id').execute();
      if (rows.length >= expectedCalls) return;
      if (Date.now() > deadline) throw new Error(`only ${rows.length} of ${expectedCalls} usage rows`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('records one usage row per call whose totals equal what the provider reported', async () => {
    const openai = fx.openai();
    for (const model of ['gpt-4o', 'gpt-4o-mini']) {
      const done = await openai.chat.completions.create({
        model,
        messages: [{ role: 'user', content: `Say hello. ${CANARY}` }],
      });
      reported.input += done.usage?.prompt_tokens ?? 0;
      reported.output += done.usage?.completion_tokens ?? 0;
      reported.calls += 1;
    }
    const stream = await openai.chat.completions.create({
      model: 'gpt-4o',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: `Stream a poem. ${CANARY} ${CANARY}` }],
    });
    for await (const chunk of stream) {
      if (chunk.usage) {
        reported.input += chunk.usage.prompt_tokens;
        reported.output += chunk.usage.completion_tokens;
      }
    }
    reported.calls += 1;
    const anthropic = fx.anthropic();
    const message = await anthropic.messages.create({
      model: 'claude-sonnet-4-5',
      max_tokens: 64,
      messages: [{ role: 'user', content: `Hi there. ${CANARY}` }],
    });
    reported.input += message.usage.input_tokens;
    reported.output += message.usage.output_tokens;
    reported.calls += 1;
    const streamed = await anthropic.messages
      .stream({
        model: 'claude-haiku-4-5',
        max_tokens: 64,
        messages: [{ role: 'user', content: `More. ${CANARY}` }],
      })
      .finalMessage();
    reported.input += streamed.usage.input_tokens;
    reported.output += streamed.usage.output_tokens;
    reported.calls += 1;

    await settled(reported.calls);
    const byModel = await aggregateUsage(fx.gateway.store, { workspaceId: fx.workspaceId, by: 'model' });
    const sum = (k: 'requests' | 'inputTokens' | 'outputTokens') => byModel.reduce((n, r) => n + r[k], 0);
    assert.ok(reported.input > 0 && reported.output > 0);
    assert.deepEqual(
      { calls: sum('requests'), input: sum('inputTokens'), output: sum('outputTokens') },
      reported,
    );
    assert.deepEqual(
      byModel.map((r) => r.group),
      ['claude-haiku-4-5', 'claude-sonnet-4-5', 'gpt-4o', 'gpt-4o-mini'],
    );
    const rows = await fx.gateway.store.db.selectFrom('usage_records').selectAll().execute();
    assert.ok(rows.every((r) => r.workspace_id === fx.workspaceId && r.status === 200 && r.latency_ms >= 0));
    assert.ok(rows.every((r) => r.request_id?.startsWith('req_')));
  });

  it('audits refusals, and the admin API reads the workspace trail and usage', async () => {
    await assert.rejects(fx.openai('pcx_live_nottherealkeyatall').models.list(), { status: 401 });
    const gw = fx.gateway.url;
    const headers = {
      authorization: `Bearer ${admin}`,
      'content-type': 'application/json',
      'user-agent': 'audit-test/1.0',
    };
    const created = await fetch(`${gw}/admin/api/v1/keys`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ name: 'made-by-admin', scopes: ['chat'] }),
    });
    assert.equal(created.status, 201);
    const newKey = (await created.json()) as { id: string; key: string };
    const requestId = created.headers.get('x-request-id');
    // A data-plane key cannot read the admin API: refused, and that refusal is audited too.
    const denied = await fetch(`${gw}/admin/api/v1/audit`, {
      headers: { authorization: `Bearer ${newKey.key}` },
    });
    assert.equal(denied.status, 403);
    await fx.gateway.auditing.events.flush();

    const page = await fetch(`${gw}/admin/api/v1/audit?action=key.*`, { headers });
    assert.equal(page.status, 200);
    const body = (await page.json()) as { data: Record<string, unknown>[]; next: number | null };
    const entry = body.data.find((e) => e.target === newKey.id);
    assert.ok(entry, 'the key creation is in the trail');
    assert.equal(entry.action, 'key.created');
    assert.equal(entry.actor, admin.slice('pcx_live_'.length, 'pcx_live_'.length + 12).replace(/^/, 'key_'));
    assert.equal(entry.clientIp, '127.0.0.1');
    assert.equal(entry.userAgent, 'audit-test/1.0');
    assert.equal(entry.requestId, requestId);
    assert.ok(body.data.every((e) => e.workspace === fx.workspaceId));

    const refusals = await fetch(`${gw}/admin/api/v1/audit?action=request.refused&limit=50`, { headers });
    const refused = ((await refusals.json()) as { data: { actor: string; details: { code: string } }[] })
      .data;
    assert.ok(refused.some((e) => e.details.code === 'insufficient_scope' && e.actor === newKey.id));
    // The invalid key belongs to no workspace: it is in the log, not in this workspace's view.
    const all = await fx.gateway.store.db
      .selectFrom('audit_log')
      .selectAll()
      .where('action', '=', 'request.refused')
      .execute();
    assert.ok(all.some((e) => JSON.parse(e.details).code === 'invalid_api_key' && e.workspace_id === null));

    const usage = await fetch(`${gw}/admin/api/v1/usage?by=model`, { headers });
    assert.equal(usage.status, 200);
    const report = (await usage.json()) as { data: { requests: number; inputTokens: number }[] };
    assert.equal(
      report.data.reduce((n, r) => n + r.inputTokens, 0),
      reported.input,
    );
    const bad = await fetch(`${gw}/admin/api/v1/audit?since=yesterday`, { headers });
    assert.equal(bad.status, 400);
    const openapi = (await (await fetch(`${gw}/admin/api/openapi.json`)).json()) as {
      paths: Record<string, unknown>;
    };
    assert.ok(openapi.paths['/admin/api/v1/audit'] && openapi.paths['/admin/api/v1/usage']);
  });

  it('serves /metrics only with its token, with no prompt text, key or key id in it', async () => {
    const url = `${fx.gateway.url}/metrics`;
    assert.equal((await fetch(url)).status, 401);
    assert.equal(
      (await fetch(url, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status,
      401,
    );
    const ok = await fetch(url, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    assert.equal(ok.status, 200);
    const text = await ok.text();
    assert.match(
      text,
      /portcullis_http_requests_total\{route="\/v1\/chat\/completions",method="POST",status="200"\} 3/,
    );
    assert.match(text, /portcullis_tokens_total\{provider="openai",model="gpt-4o",direction="input"\} \d+/);
    assert.match(text, /portcullis_upstream_duration_seconds_bucket/);
    assert.match(text, /portcullis_refusals_total\{code="invalid_api_key",status="401"\} 1/);
    assert.match(text, /portcullis_auth_failures_total\{code="invalid_api_key"\} 1/);
    assert.doesNotMatch(text, new RegExp(CANARY));
    assert.doesNotMatch(text, /pcx_(live|test)_|key_[A-Za-z0-9]{12}|wsp_/);
    assert.ok(!text.includes(METRICS_TOKEN));
  });

  it('audits a brute-force lockout, keeps prompt text out of the trail, and the chain verifies', async () => {
    for (let i = 0; i < 7; i++) {
      await fetch(`${fx.gateway.url}/v1/models`, { headers: { authorization: `Bearer wrong-${i}` } });
    }
    await fx.gateway.auditing.events.flush();
    const { store } = fx.gateway;
    const blocked = await store.db
      .selectFrom('audit_log')
      .selectAll()
      .where('action', '=', 'auth.blocked')
      .execute();
    assert.equal(blocked.length, 1);
    assert.equal(blocked[0]?.target, 'ip:127.0.0.1');
    assert.equal(blocked[0]?.outcome, 'denied');
    const dump = JSON.stringify([
      await store.db.selectFrom('audit_log').selectAll().execute(),
      await store.db.selectFrom('usage_records').selectAll().execute(),
    ]);
    assert.ok(!dump.includes(CANARY), 'no prompt text in the audit log or usage records');
    assert.doesNotMatch(dump, /pcx_(live|test)_[A-Za-z0-9]{20,}/);
    const report = await verifyAuditLog(store, await storedVerifier(store));
    assert.equal(report.ok, true, JSON.stringify(report.problem));
  });
});

describe('/metrics without a configured token', () => {
  it('does not exist (404)', async () => {
    const fx = await startDataPlane();
    try {
      const res = await fetch(`${fx.gateway.url}/metrics`);
      assert.equal(res.status, 404);
    } finally {
      await fx.close();
    }
  });
});
