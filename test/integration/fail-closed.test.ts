import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type DataPlaneFixture, startDataPlane } from '../helpers/dataplane.ts';
import { isolatedSchema } from '../helpers/postgres.ts';
import { CuttableProxy } from '../helpers/proxy.ts';

/**
 * DESIGN.md invariant 4: when the store or the counters cannot be reached, the gateway refuses
 * (503, /readyz unready) rather than skip a check, and recovers by itself when they return.
 * PostgreSQL and Redis sit behind proxies this test cuts; the shared servers are never touched.
 */
const pgUrl = process.env.TEST_DATABASE_URL;
const redisUrl = process.env.TEST_REDIS_URL;

async function eventually(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const started = Date.now();
  while (Date.now() - started < ms) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`${what} within ${ms} ms`);
}

describe('fail closed when PostgreSQL or Redis disappears', {
  skip: (!pgUrl || !redisUrl) && 'needs TEST_DATABASE_URL and TEST_REDIS_URL',
}, () => {
  let dp: DataPlaneFixture;
  let pgProxy: CuttableProxy;
  let redisProxy: CuttableProxy;
  let dropSchema: () => Promise<void>;

  before(async () => {
    const schema = await isolatedSchema(pgUrl ?? '', 'fail_closed');
    dropSchema = schema.drop;
    const pgTarget = new URL(schema.url);
    pgProxy = new CuttableProxy({ host: pgTarget.hostname, port: Number(pgTarget.port || 5432) });
    await pgProxy.up();
    pgTarget.host = `127.0.0.1:${pgProxy.port}`;
    const redisTarget = new URL(redisUrl ?? '');
    redisProxy = new CuttableProxy({ host: redisTarget.hostname, port: Number(redisTarget.port || 6379) });
    await redisProxy.up();
    redisTarget.host = `127.0.0.1:${redisProxy.port}`;
    dp = await startDataPlane({
      PORTCULLIS_DATABASE_URL: pgTarget.toString(),
      PORTCULLIS_REDIS_URL: redisTarget.toString(),
      PORTCULLIS_MASTER_KEY: randomBytes(32).toString('base64'),
    });
  });
  after(async () => {
    await pgProxy.up().catch(() => undefined);
    await redisProxy.up().catch(() => undefined);
    await dp?.close();
    await pgProxy.down();
    await redisProxy.down();
    await dropSchema();
  });

  const ready = async (): Promise<{ status: number; body: { checks?: Record<string, string> } }> => {
    const res = await fetch(`${dp.gateway.url}/readyz`);
    return { status: res.status, body: (await res.json()) as { checks?: Record<string, string> } };
  };
  const models = async (): Promise<{ status: number; code?: string; message?: string }> => {
    const res = await fetch(`${dp.gateway.url}/v1/models`, {
      headers: { authorization: `Bearer ${dp.key}` },
    });
    const body = (await res.json()) as { error?: { code: string; message: string } };
    return { status: res.status, code: body.error?.code, message: body.error?.message };
  };

  for (const dependency of ['store', 'counters'] as const) {
    it(`refuses with 503 while the ${dependency} is gone, then recovers by itself`, async () => {
      const proxy = dependency === 'store' ? pgProxy : redisProxy;
      assert.equal((await ready()).status, 200);
      assert.equal((await models()).status, 200);

      await proxy.down();
      await eventually(async () => (await ready()).status === 503, 5000, '/readyz turns 503');
      assert.equal((await ready()).body.checks?.[dependency], 'down');
      const refused = await models();
      assert.equal(refused.status, 503);
      assert.equal(refused.code, 'service_unavailable');
      assert.match(refused.message ?? '', new RegExp(`cannot reach its ${dependency}`));
      assert.ok(!(refused.message ?? '').includes('127.0.0.1'), 'no internals in the answer');

      await proxy.up();
      await eventually(async () => (await ready()).status === 200, 10_000, '/readyz recovers');
      await eventually(async () => (await models()).status === 200, 5000, 'requests are served again');
    });
  }
});
