import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { after as afterAll, afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { evaluateRate, type GcraState } from '../../src/counters/gcra.ts';
import { createRedisCounters } from '../../src/counters/redis.ts';
import { RATE_LUA, SERVER_NOW_LUA } from '../../src/counters/redis-scripts.ts';
import type { Counters, RateSpec } from '../../src/counters/types.ts';
import { cleanRedisPrefix, quietLogger } from './counters-helpers.ts';

/** Redis-specific behaviour: startup and outage failure modes, key expiry, and Lua ≡ gcra.ts. */

const REDIS_URL = process.env.TEST_REDIS_URL;
const RUN_PREFIX = `pcx-test:${randomUUID()}:`;
const needsRedis = { skip: !REDIS_URL && 'TEST_REDIS_URL is not set' };

const opened: Counters[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((c) => c.close()));
  for (const fn of cleanups.splice(0)) await fn();
});
afterAll(async () => {
  if (REDIS_URL) await cleanRedisPrefix(REDIS_URL, RUN_PREFIX);
});

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A TCP proxy in front of the shared Redis, so a test can cut "Redis" without touching it. */
function redisProxy(target: URL) {
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  let port = 0;
  let blackholed = false;
  return {
    get port() {
      return port;
    },
    async start(): Promise<void> {
      server = net.createServer((client) => {
        const upstream = net.connect(Number(target.port || 6379), target.hostname);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('error', () => s.destroy());
          s.on('close', () => sockets.delete(s));
        }
        client.on('data', (d) => blackholed || upstream.write(d));
        upstream.on('data', (d) => blackholed || client.write(d));
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
      });
      const s = server;
      await new Promise<void>((resolve) => s.listen(port, '127.0.0.1', resolve));
      port = (s.address() as net.AddressInfo).port;
    },
    async stop(): Promise<void> {
      for (const s of sockets) s.destroy();
      const s = server;
      if (s) await new Promise((resolve) => s.close(resolve));
    },
    /** Keeps connections open but stops forwarding: a server that no longer answers. */
    blackhole(): void {
      blackholed = true;
    },
  };
}

describe('counters: Redis failure behaviour', () => {
  it('startup rejects fast and clearly when nothing listens, without the password', async () => {
    const port = await freePort();
    const logger = quietLogger();
    const started = Date.now();
    await assert.rejects(
      createRedisCounters({ url: `redis://user:s3cret-pw@127.0.0.1:${port}/2`, logger }),
      (err: Error) => {
        assert.match(err.message, new RegExp(`cannot reach Redis at redis://127\\.0\\.0\\.1:${port}/2`));
        assert.match(err.message, /ECONNREFUSED/);
        assert.doesNotMatch(err.message, /s3cret-pw|user/);
        return true;
      },
    );
    assert.ok(Date.now() - started < 1500, 'rejected within the connect timeout');
    assert.doesNotMatch(logger.lines.join('\n'), /s3cret-pw/);
    // Nothing keeps reconnecting in the background: the test process would not exit otherwise.
  });

  it(
    'when Redis goes away calls reject at once, and everything resumes when it returns',
    needsRedis,
    async () => {
      const proxy = redisProxy(new URL(REDIS_URL ?? ''));
      await proxy.start();
      cleanups.push(() => proxy.stop());
      const prefix = `${RUN_PREFIX}outage:`;
      const logger = quietLogger();
      const viaProxy = await createRedisCounters({ url: `redis://127.0.0.1:${proxy.port}`, logger, prefix });
      const direct = await createRedisCounters({ url: REDIS_URL ?? '', logger: quietLogger(), prefix });
      opened.push(viaProxy, direct);
      const received: string[] = [];
      await viaProxy.subscribe('revoked', (m) => received.push(m));
      await direct.publish('revoked', 'before');
      await waitFor(() => received.includes('before'));

      await proxy.stop();
      await sleep(20);
      for (const call of [
        () => viaProxy.ping(),
        () => viaProxy.rate([{ key: 'r', limit: 5, windowMs: 1000, cost: 1 }]),
        () => viaProxy.reserve([{ key: 's', amount: 1, limit: 5, ttlMs: 1000 }]),
        () => viaProxy.subscribe('other', () => {}),
      ]) {
        const started = Date.now();
        await assert.rejects(call());
        assert.ok(Date.now() - started < 100, 'rejected without waiting for Redis');
      }

      await proxy.start();
      await waitFor(async () => {
        await viaProxy.ping();
        return true;
      });
      // The subscriber connection re-subscribed by itself.
      await waitFor(async () => {
        await direct.publish('revoked', 'after');
        await sleep(20);
        return received.includes('after');
      });
      assert.equal((await viaProxy.rate([{ key: 'r', limit: 5, windowMs: 1000, cost: 1 }])).allowed, true);
      const log = logger.lines.join('\n');
      assert.match(log, /Redis connection (lost|error)/);
      assert.match(log, /Redis connection restored/);
    },
  );

  it('a Redis that stops answering makes calls reject after the command timeout', needsRedis, async () => {
    const proxy = redisProxy(new URL(REDIS_URL ?? ''));
    await proxy.start();
    cleanups.push(() => proxy.stop());
    const c = await createRedisCounters({
      url: `redis://127.0.0.1:${proxy.port}`,
      logger: quietLogger(),
      prefix: `${RUN_PREFIX}hang:`,
      commandTimeoutMs: 200,
    });
    opened.push(c);
    proxy.blackhole();
    const started = Date.now();
    await assert.rejects(c.rate([{ key: 'r', limit: 5, windowMs: 1000, cost: 1 }]), /timed out/i);
    assert.ok(Date.now() - started < 1000);
  });
});

describe('counters: Redis keys and scripts', needsRedis, () => {
  it('every key written has an expiry, so nothing grows forever', async () => {
    const prefix = `${RUN_PREFIX}ttl:`;
    const c = await createRedisCounters({ url: REDIS_URL ?? '', logger: quietLogger(), prefix });
    opened.push(c);
    await c.rate([{ key: 'r', limit: 10, windowMs: 5000, cost: 3 }]);
    await c.reserve([{ key: 's', amount: 1, limit: 10, ttlMs: 5000 }]);
    await c.add('a', 1, 5000);
    await c.admit(
      [{ key: 's2', amount: 1, limit: 10, ttlMs: 5000 }],
      [{ key: 'r2', limit: 10, windowMs: 5000, cost: 3 }],
    );
    const raw = new Redis(REDIS_URL ?? '');
    cleanups.push(() => raw.disconnect());
    for (const key of ['r', 's', 'a', 'r2', 's2']) {
      const ttl = await raw.pttl(prefix + key);
      assert.ok(ttl > 0 && ttl <= 5000, `${key} pttl ${ttl}`);
    }
    assert.equal(await raw.pttl('r'), -2, 'keys live under the prefix only');
  });

  it('the Lua rate script computes exactly what gcra.ts computes', async () => {
    // Same script, with the server clock replaced by a time the test controls and no expiry
    // (expiry runs on real time, which this test fast-forwards past).
    const setLine = ", 'PX', ttl)";
    assert.ok(RATE_LUA.includes(SERVER_NOW_LUA) && RATE_LUA.includes(setLine));
    const lua = RATE_LUA.replace(SERVER_NOW_LUA, 'local now = tonumber(ARGV[#ARGV])').replace(setLine, ')');
    const raw = new Redis(REDIS_URL ?? '');
    cleanups.push(() => raw.disconnect());
    const prefix = `${RUN_PREFIX}lua:`;

    const store = new Map<string, GcraState>();
    let seed = 42;
    const rand = (n: number): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    const shapes = [
      { limit: 3, windowMs: 1000 },
      { limit: 7, windowMs: 333 },
      { limit: 1, windowMs: 50 },
      { limit: 1_000_000_000, windowMs: 3_600_000 },
      { limit: 60, windowMs: 60_000 },
    ];
    let now = 1_700_000_000_000;
    const seen = { allowed: 0, refused: 0, never: 0 };
    for (let step = 0; step < 400; step++) {
      now += rand(2) === 0 ? rand(200) : 0;
      const specs: RateSpec[] = Array.from({ length: 1 + rand(3) }, () => {
        // Mostly one shape per key; now and then another, as when an operator changes a limit.
        const k = rand(shapes.length);
        const key = `k${k}`;
        const shape = shapes[rand(10) === 0 ? rand(shapes.length) : k] ?? { limit: 1, windowMs: 1 };
        return { key, ...shape, cost: rand(5) === 0 ? rand(shape.limit + 2) : rand(3) };
      });
      const expected = evaluateRate((k) => store.get(k), now, specs);
      for (const [k, s] of expected.writes) {
        if (s.q - now + (s.r > 0 ? 1 : 0) > 0) store.set(k, s);
        else store.delete(k);
      }
      const args: (string | number)[] = specs.map((s) => prefix + s.key);
      for (const s of specs) args.push(s.limit, s.windowMs, s.cost);
      const reply = (await raw.eval(lua, specs.length, ...args, now)) as number[];
      const actual = {
        allowed: reply[0] === 1,
        outcomes: specs.map((s, i) => ({
          key: s.key,
          limit: s.limit,
          remaining: reply[1 + 3 * i],
          resetMs: reply[2 + 3 * i],
          retryAfterMs: reply[3 + 3 * i] === -1 ? Number.POSITIVE_INFINITY : reply[3 + 3 * i],
        })),
      };
      assert.deepEqual(actual, expected.result, `step ${step}: ${JSON.stringify(specs)}`);
      seen[actual.allowed ? 'allowed' : 'refused'] += 1;
      if (actual.outcomes.some((o) => o.retryAfterMs === Number.POSITIVE_INFINITY)) seen.never += 1;
    }
    assert.ok(seen.allowed > 50 && seen.refused > 50 && seen.never > 5, JSON.stringify(seen));
  });
});

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(25);
  }
}
