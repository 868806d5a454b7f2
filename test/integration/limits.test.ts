import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { systemClock } from '../../src/clock.ts';
import type { KeyLimits } from '../../src/keys/types.ts';
import { counterKey, spendKey } from '../../src/limits/plan.ts';
import { createPriceRepository } from '../../src/limits/price-repository.ts';
import { windowAt } from '../../src/limits/windows.ts';
import { createWorkspaceRepository } from '../../src/workspaces/repository.ts';
import { type DataPlaneFixture, startDataPlane } from '../helpers/dataplane.ts';
import { CuttableProxy } from '../helpers/proxy.ts';

/**
 * Issue 6 through the real gateway (memory counters): rate, token, concurrency and budget limits,
 * their answers and headers, settlement of streamed and aborted calls. The same across replicas
 * sharing Redis is in limits-replicas.test.ts.
 */

const redisUrl = process.env.TEST_REDIS_URL;

interface Answer {
  status: number;
  headers: Headers;
  json: { error?: { code: string; message: string } } & Record<string, unknown>;
}

function chat(fx: DataPlaneFixture, key: string, body: Record<string, unknown> = {}): Promise<Answer> {
  return fetch(`${fx.gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'gpt-4o-mini',
      max_tokens: 50,
      messages: [{ role: 'user', content: 'Say hello to the limits stage.' }],
      ...body,
    }),
  }).then(async (r) => ({ status: r.status, headers: r.headers, json: (await r.json()) as Answer['json'] }));
}

async function keyWith(fx: DataPlaneFixture, limits: KeyLimits): Promise<{ key: string; id: string }> {
  const { key, record } = await fx.keys.create({
    workspaceId: fx.workspaceId,
    name: `l${Date.now()}`,
    limits,
  });
  return { key, id: record.id };
}

/** Tokens the key's tokens-per-minute bucket holds right now (a cost-0 read). */
async function tokensUsed(fx: DataPlaneFixture, keyId: string, tpm: number): Promise<number> {
  const r = await fx.gateway.counters.rate([
    { key: counterKey('tpm', { scope: 'key', id: keyId }), limit: tpm, windowMs: 60_000, cost: 0 },
  ]);
  return tpm - (r.outcomes[0]?.remaining ?? 0);
}

async function until(check: () => Promise<boolean>, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await sleep(10);
  }
}

describe('limits and budgets (one gateway, memory counters)', () => {
  let fx: DataPlaneFixture;
  before(async () => {
    fx = await startDataPlane();
  });
  after(() => fx.close());

  it('sends the x-ratelimit headers on success and on 429, with retry-after', async () => {
    const { key } = await keyWith(fx, { rpm: 2, tpm: 100_000 });
    const first = await chat(fx, key);
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('x-ratelimit-limit-requests'), '2');
    assert.equal(first.headers.get('x-ratelimit-remaining-requests'), '1');
    assert.match(first.headers.get('x-ratelimit-reset-requests') ?? '', /^\d+(\.\d)?s$|^\d+ms$/);
    assert.equal(first.headers.get('x-ratelimit-limit-tokens'), '100000');
    assert.ok(Number(first.headers.get('x-ratelimit-remaining-tokens')) < 100_000);
    assert.equal((await chat(fx, key)).status, 200);
    const refused = await chat(fx, key);
    assert.equal(refused.status, 429);
    assert.equal(refused.json.error?.code, 'rate_limited');
    assert.match(refused.json.error?.message ?? '', /key limit of 2 requests per minute/);
    const retryAfter = Number(refused.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `retry-after ${retryAfter}`);
    assert.equal(refused.headers.get('x-ratelimit-remaining-requests'), '0');
    assert.ok(refused.headers.get('x-ratelimit-limit-tokens'));
  });

  it('refuses a request that can never fit with 400, not a 429 with an endless retry-after', async () => {
    const { key } = await keyWith(fx, { tpm: 100 });
    const r = await chat(fx, key, { max_tokens: 500 });
    assert.equal(r.status, 400);
    assert.equal(r.json.error?.code, 'request_exceeds_limit');
    assert.match(r.json.error?.message ?? '', /more than the key limit of 100 tokens per minute/);
    assert.equal(r.headers.get('retry-after'), null);
  });

  it('200 concurrent requests against a budget that admits 50 let at most 50 reach the provider', async () => {
    const prices = createPriceRepository({ store: fx.gateway.store, clock: systemClock });
    // 1 USD per million tokens: a call costs exactly its token count in micro-dollars.
    await prices.set({
      workspaceId: fx.workspaceId,
      model: 'gpt-4o-mini',
      inputMicrosPerMtok: 1_000_000,
      outputMicrosPerMtok: 1_000_000,
    });
    fx.gateway.dataPlane.limits.invalidate(fx.workspaceId);
    const calibration = await chat(fx, fx.key);
    const usage = calibration.json.usage as { total_tokens: number; completion_tokens: number };
    const budgetMicros = 50 * usage.total_tokens;
    // max_tokens as small as the answer, so the worst case is close to the real cost.
    const body = { max_tokens: usage.completion_tokens };
    const { key } = await keyWith(fx, { budgetUsd: budgetMicros / 1_000_000, budgetWindow: 'day' });

    fx.mock.setScenario({ latencyMs: 30 });
    const before = fx.mock.requests.length;
    try {
      const answers = await Promise.all(Array.from({ length: 200 }, () => chat(fx, key, body)));
      const reached = fx.mock.requests.length - before;
      const ok = answers.filter((a) => a.status === 200).length;
      assert.ok(reached <= 50, `${reached} requests reached the provider`);
      assert.equal(ok, reached);
      assert.ok(ok >= 40, `only ${ok} admitted`);
      for (const a of answers.filter((x) => x.status !== 200)) {
        assert.equal(a.status, 429);
        assert.equal(a.json.error?.code, 'budget_exceeded');
        assert.match(a.json.error?.message ?? '', /^key daily budget \$0\.\d+ (spent|has)/);
        assert.match(a.json.error?.message ?? '', /resets \d{4}-\d\d-\d\dT00:00Z\.$/);
      }
    } finally {
      fx.mock.setScenario({});
    }
    // Crossing 50 / 80 / 100 % emitted one event each.
    await until(async () => fx.logs.text().includes('"percent":80')).catch(() => {
      console.log(fx.logs.lines.filter((l) => l.includes('budget')).slice(0, 5));
    });
    const events = fx.logs.lines.filter((l) => l.includes('"event":"budget.threshold"'));
    assert.ok(events.some((l) => l.includes('"percent":50')));
    assert.equal(events.filter((l) => l.includes('"percent":50')).length, 1);
    // …and each is an audit entry of the workspace.
    await fx.gateway.auditing.events.flush();
    const audited = await fx.gateway.store.db
      .selectFrom('audit_log')
      .select(['workspace_id', 'details'])
      .where('action', '=', 'budget.threshold')
      .execute();
    const percents = audited
      .filter((a) => a.workspace_id === fx.workspaceId)
      .map((a) => JSON.parse(a.details).percent);
    assert.ok(percents.includes(50) && percents.includes(100), JSON.stringify(percents));
  });

  it('names scope, window, limit and reset when a workspace budget is spent', async () => {
    const workspaces = createWorkspaceRepository({ store: fx.gateway.store, clock: systemClock });
    await workspaces.setLimits(fx.workspaceId, { budgetUsd: 500, budgetWindow: 'month' });
    fx.gateway.dataPlane.limits.invalidate(fx.workspaceId);
    try {
      const span = windowAt('month', Date.now());
      await fx.gateway.counters.add(
        spendKey({ scope: 'workspace', id: fx.workspaceId }, 'month', span),
        500_000_000,
        60_000,
      );
      const r = await chat(fx, fx.key);
      assert.equal(r.status, 429);
      assert.equal(r.json.error?.code, 'budget_exceeded');
      const reset = `${new Date(span.end).toISOString().slice(0, 16)}Z`;
      assert.equal(r.json.error?.message, `workspace monthly budget $500.00 spent; resets ${reset}.`);
      assert.ok(Number(r.headers.get('retry-after')) > 0);
    } finally {
      await workspaces.setLimits(fx.workspaceId, {});
      fx.gateway.dataPlane.limits.invalidate(fx.workspaceId);
    }
  });

  it('refuses a model without a price when a budget applies (limits.unknownPrice: refuse)', async () => {
    const { key } = await keyWith(fx, { budgetUsd: 10 });
    const r = await chat(fx, key, { model: 'gpt-unpriced-model' });
    assert.equal(r.status, 403);
    assert.equal(r.json.error?.code, 'price_unknown');
    // Without a budget the price does not matter.
    assert.equal((await chat(fx, fx.key, { model: 'gpt-unpriced-model' })).status, 200);
  });

  it('settles a streamed answer to its real usage, refunding the unused max_tokens', async () => {
    const tpm = 6_000;
    const { key, id } = await keyWith(fx, { tpm });
    const stream = await fx.openai(key).chat.completions.create({
      model: 'gpt-4o-mini',
      max_tokens: 2_000,
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'Stream something.' }],
    });
    let total = 0;
    for await (const chunk of stream) if (chunk.usage) total = chunk.usage.total_tokens;
    assert.ok(total > 0 && total < 200);
    // The bucket refills 0.1 token per ms, so the reading is allowed to be a little below the usage.
    await until(async () => (await tokensUsed(fx, id, tpm)) <= total);
    const used = await tokensUsed(fx, id, tpm);
    assert.ok(used >= total - 60, `used ${used}, usage ${total}`);
  });

  it('refunds what an aborted stream did not deliver, and charges what it did', async () => {
    const tpm = 6_000;
    const stream = async (readChunks: number): Promise<number> => {
      const { key, id } = await keyWith(fx, { tpm });
      const controller = new AbortController();
      const res = await fetch(`${fx.gateway.url}/v1/chat/completions`, {
        method: 'POST',
        signal: controller.signal,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'gpt-4o-mini#chunks=60;chunkDelay=20;large=2400',
          max_tokens: 3_000,
          stream: true,
          messages: [{ role: 'user', content: 'A long answer, please.' }],
        }),
      });
      assert.equal(res.status, 200);
      assert.ok((await tokensUsed(fx, id, tpm)) > 3_000, 'max_tokens reserved while streaming');
      const reader = res.body?.getReader();
      for (let i = 0; i < readChunks; i++) await reader?.read();
      controller.abort();
      await sleep(300);
      return tokensUsed(fx, id, tpm);
    };
    const early = await stream(1);
    assert.ok(early < 150, `an early abort keeps little more than the input (${early})`);
    const late = await stream(55);
    assert.ok(late > 400, `an abort near the end is charged for the ~2,400 characters relayed (${late})`);
  });

  it('limits requests in flight and releases the slot when a call ends', async () => {
    const { key } = await keyWith(fx, { concurrency: 1 });
    fx.mock.setScenario({ latencyMs: 150 });
    try {
      const [a, b] = await Promise.all([chat(fx, key), sleep(30).then(() => chat(fx, key))]);
      assert.equal(a.status, 200);
      assert.equal(b.status, 429);
      assert.equal(b.json.error?.code, 'concurrency_limited');
    } finally {
      fx.mock.setScenario({});
    }
    assert.equal((await chat(fx, key)).status, 200);
    // A failed upstream call releases its slot too.
    fx.mock.setScenario({ error: { status: 500 } });
    try {
      assert.equal((await chat(fx, key)).status, 502);
    } finally {
      fx.mock.setScenario({});
    }
    assert.equal((await chat(fx, key)).status, 200);
  });
});

describe('limits when the counters are unreachable', { skip: !redisUrl && 'TEST_REDIS_URL not set' }, () => {
  for (const policy of ['refuse', 'local'] as const) {
    it(`Redis down → ${policy === 'refuse' ? '503 limits_unavailable (fail closed)' : 'limits enforced locally'}`, async () => {
      const target = new URL(redisUrl ?? '');
      const proxy = new CuttableProxy({ host: target.hostname, port: Number(target.port || 6379) });
      await proxy.up();
      const url = new URL(target);
      url.port = String(proxy.port);
      const fx = await startDataPlane({
        PORTCULLIS_REDIS_URL: url.toString(),
        PORTCULLIS_LIMITS_ON_COUNTERS_DOWN: policy,
      });
      try {
        const { key } = await keyWith(fx, { rpm: 2 });
        assert.equal((await chat(fx, key)).status, 200);
        await proxy.down();
        const r = await chat(fx, key);
        if (policy === 'refuse') {
          assert.equal(r.status, 503);
          assert.equal(r.json.error?.code, 'limits_unavailable');
          // Failing closed is audited like any refusal (issue 6, item 2); the audit log is in the store.
          await until(async () => {
            const rows = await fx.gateway.store.db
              .selectFrom('audit_log')
              .select('details')
              .where('action', '=', 'request.refused')
              .execute();
            return rows.some((row) => JSON.parse(row.details).code === 'limits_unavailable');
          });
        } else {
          assert.equal(r.status, 200);
          assert.equal((await chat(fx, key)).status, 200);
          assert.equal((await chat(fx, key)).status, 429, 'the local fallback still limits');
        }
        assert.ok(fx.logs.text().includes('"event":"limits.counters_down"'));
      } finally {
        await proxy.down().catch(() => undefined);
        await fx.close();
      }
    });
  }
});
