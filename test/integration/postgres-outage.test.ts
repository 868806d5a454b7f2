import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { Value } from '@sinclair/typebox/value';
import pino from 'pino';
import { type Config, ConfigSchema } from '../../src/config/schema.ts';
import { isStoreUnavailableError, openStore, StoreUnavailableError } from '../../src/store/open.ts';
import { CuttableProxy } from '../helpers/proxy.ts';

/**
 * PostgreSQL reachability: opening fails fast and clearly, and a database lost at runtime makes
 * ping() fail (as "unavailable", for a 503) and recover once it is back. The outage is simulated with
 * a TCP proxy that this test owns, so the shared server and its other users are never disturbed.
 */

const pgUrl = process.env.TEST_DATABASE_URL;
const PASSWORD = 'hunter2-never-print-me';

function capture(): { logger: pino.Logger; text(): string } {
  let buf = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      buf += chunk.toString();
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), text: () => buf };
}

function config(databaseUrl: string): Config {
  return Value.Default(ConfigSchema, { databaseUrl }) as Config;
}

async function freePort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as AddressInfo;
  s.close();
  await once(s, 'close');
  return port;
}

async function settle<T>(p: Promise<T>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe('opening an unreachable PostgreSQL', () => {
  test('fails fast with a clear message that names the target but not the password', async () => {
    const port = await freePort();
    const log = capture();
    const started = Date.now();
    const err = await settle(
      openStore({
        config: config(`postgres://portcullis:${PASSWORD}@127.0.0.1:${port}/gw`),
        logger: log.logger,
      }),
    );
    assert.ok(err instanceof StoreUnavailableError, String(err));
    assert.ok(isStoreUnavailableError(err));
    assert.match(
      err.message,
      new RegExp(`Cannot reach PostgreSQL at 127\\.0\\.0\\.1:${port}/gw: .*ECONNREFUSED`),
    );
    assert.ok(!err.message.includes(PASSWORD) && !String(err.stack).includes(PASSWORD));
    assert.ok(!log.text().includes(PASSWORD));
    assert.ok(Date.now() - started < 2_000, 'refused connections fail at once');
  });

  test('a server that accepts but never answers times out within seconds', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((s) => sockets.push(s)).listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const { port } = silent.address() as AddressInfo;
    try {
      const started = Date.now();
      const err = await settle(
        openStore({
          config: config(`postgres://u:${PASSWORD}@127.0.0.1:${port}/gw`),
          logger: capture().logger,
        }),
      );
      assert.ok(isStoreUnavailableError(err), String(err));
      assert.ok(err instanceof Error && !err.message.includes(PASSWORD));
      assert.ok(Date.now() - started < 8_000, 'connect timeout is short');
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });
});

describe('PostgreSQL lost at runtime', { skip: !pgUrl && 'TEST_DATABASE_URL is not set' }, () => {
  test('ping fails as unavailable while the database is gone and succeeds when it returns', async () => {
    const real = new URL(pgUrl ?? '');
    const proxy = new CuttableProxy({ host: real.hostname, port: Number(real.port || 5432) });
    await proxy.up();
    const url = new URL(real);
    url.host = `127.0.0.1:${proxy.port}`;
    url.username = url.username || 'postgres';
    url.password = PASSWORD; // ignored by trust auth; here to prove it never leaks
    const log = capture();
    const store = await openStore({ config: config(url.toString()), logger: log.logger });
    try {
      await store.ping();

      await proxy.down();
      const err = await settle(store.ping());
      assert.ok(err instanceof Error, 'ping rejects while the database is unreachable');
      assert.ok(isStoreUnavailableError(err), `recognised as unavailable: ${String(err)}`);
      const queryErr = await settle(store.db.selectFrom('meta').selectAll().execute());
      assert.ok(isStoreUnavailableError(queryErr), `queries fail as unavailable too: ${String(queryErr)}`);

      await proxy.up();
      await store.ping();
      assert.ok(!log.text().includes(PASSWORD), 'no log line carries the password');
    } finally {
      await store.close();
      await proxy.down();
    }
  });
});
