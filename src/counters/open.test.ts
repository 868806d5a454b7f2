import assert from 'node:assert/strict';
import net from 'node:net';
import { it } from 'node:test';
import { openCounters } from './open.ts';

const logger = { info() {}, warn() {}, error() {} };
const clock = { now: () => 0 };

it('opens in-process counters when no Redis is configured', async () => {
  const counters = await openCounters({ config: {}, logger, clock });
  assert.equal(counters.kind, 'memory');
  await counters.close();
});

it('uses the configured Redis, and refuses to start without it', async () => {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  await assert.rejects(
    openCounters({ config: { redisUrl: `redis://127.0.0.1:${port}` }, logger, clock }),
    /cannot reach Redis/,
  );
});
