import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../../src/clock.ts';
import { createPriceRepository } from '../../src/limits/price-repository.ts';
import { type DataPlaneFixture, startDataPlane } from '../helpers/dataplane.ts';
import { tempDir } from '../helpers/gateway.ts';
import { isolatedSchema } from '../helpers/postgres.ts';

/**
 * DESIGN.md invariant 6 (limits hold across replicas), issue 6's "Done when": two `portcullis
 * serve` processes sharing one PostgreSQL schema and one Redis, each request sent to either of
 * them, and what reached the provider counted at the mock.
 */

const pgUrl = process.env.TEST_DATABASE_URL;
const redisUrl = process.env.TEST_REDIS_URL;
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'src/cli/run.ts');

interface Replica {
  child: ChildProcess;
  url: string;
  exited: Promise<unknown>;
}

async function serve(env: Record<string, string>): Promise<Replica> {
  const clean: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('PORTCULLIS_') && k !== 'DATABASE_URL' && k !== 'REDIS_URL') clean[k] = v;
  }
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', CLI, 'serve'], {
    env: { ...clean, PORTCULLIS_PORT: '0', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  let err = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start within 15 s:\n${err}`)), 15_000);
    child.stderr?.on('data', (d: Buffer) => {
      if (err.length < 200_000) err += d.toString();
      const m = /"url":"(http[^"]+)".*portcullis listening/.exec(err);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', () => reject(new Error(`gateway exited early:\n${err}`)));
  });
  return { child, url, exited };
}

async function chat(url: string, key: string, body: Record<string, unknown> = {}) {
  const r = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'gpt-4o-mini',
      max_tokens: 50,
      messages: [{ role: 'user', content: 'Say hello to both replicas.' }],
      ...body,
    }),
  });
  const json = (await r.json()) as {
    error?: { code: string };
    usage?: { total_tokens: number; completion_tokens: number };
  };
  return { status: r.status, json };
}

describe('limits across two gateway processes (PostgreSQL + Redis)', {
  skip: (!pgUrl || !redisUrl) && 'needs TEST_DATABASE_URL and TEST_REDIS_URL',
}, () => {
  let fx: DataPlaneFixture;
  let replicas: Replica[] = [];
  let dropSchema: () => Promise<void> = async () => {};
  const tmp = tempDir('pcx-limits-');

  before(async () => {
    const schema = await isolatedSchema(pgUrl ?? '', 'limits_replicas');
    dropSchema = schema.drop;
    const env = {
      PORTCULLIS_DATABASE_URL: schema.url,
      PORTCULLIS_REDIS_URL: redisUrl ?? '',
      PORTCULLIS_MASTER_KEY: randomBytes(32).toString('base64'),
      PORTCULLIS_EGRESS_ALLOW: '127.0.0.1',
    };
    // The in-process gateway sets up the workspace, credentials and mock; the replicas serve.
    fx = await startDataPlane(env);
    await createPriceRepository({ store: fx.gateway.store, clock: systemClock }).set({
      workspaceId: fx.workspaceId,
      model: 'gpt-4o-mini',
      inputMicrosPerMtok: 1_000_000,
      outputMicrosPerMtok: 1_000_000,
    });
    replicas = await Promise.all(
      [1, 2].map((i) => serve({ ...env, PORTCULLIS_DATA_DIR: path.join(tmp.dir, `r${i}`) })),
    );
  });
  after(async () => {
    for (const r of replicas) r.child.kill('SIGTERM');
    await Promise.all(replicas.map((r) => r.exited));
    await fx?.close();
    await dropSchema();
    tmp.remove();
  });

  it('200 concurrent requests against a budget that admits 50 let at most 50 reach the provider', async () => {
    const [a, b] = replicas.map((r) => r.url) as [string, string];
    const calibration = await chat(a, fx.key);
    assert.equal(calibration.status, 200);
    const usage = calibration.json.usage ?? { total_tokens: 0, completion_tokens: 0 };
    const { key } = await fx.keys.create({
      workspaceId: fx.workspaceId,
      name: 'budget',
      limits: { budgetUsd: (50 * usage.total_tokens) / 1_000_000, budgetWindow: 'day' },
    });
    fx.mock.setScenario({ latencyMs: 30 });
    const before = fx.mock.requests.length;
    try {
      const answers = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          chat(i % 2 ? b : a, key, { max_tokens: usage.completion_tokens }),
        ),
      );
      const reached = fx.mock.requests.length - before;
      const ok = answers.filter((x) => x.status === 200).length;
      assert.ok(reached <= 50, `${reached} requests reached the provider`);
      assert.equal(ok, reached);
      assert.ok(ok >= 20, `only ${ok} admitted`);
      for (const x of answers) if (x.status !== 200) assert.equal(x.json.error?.code, 'budget_exceeded');
    } finally {
      fx.mock.setScenario({});
    }
  });

  it('an RPM limit across two replicas admits no more than the limit', async () => {
    const [a, b] = replicas.map((r) => r.url) as [string, string];
    const { key } = await fx.keys.create({ workspaceId: fx.workspaceId, name: 'rpm', limits: { rpm: 10 } });
    const before = fx.mock.requests.length;
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => chat(i % 2 ? b : a, key)));
    const ok = answers.filter((x) => x.status === 200).length;
    assert.equal(ok, 10);
    assert.equal(fx.mock.requests.length - before, 10);
    for (const x of answers) if (x.status !== 200) assert.equal(x.json.error?.code, 'rate_limited');
  });
});
