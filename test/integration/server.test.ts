import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { type App, createApp } from '../../src/app.ts';
import { systemClock } from '../../src/clock.ts';
import type { Config } from '../../src/config/schema.ts';
import { createMemoryCounters } from '../../src/counters/memory.ts';
import { openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/types.ts';
import { type CapturedLogs, captureLogs, tempDir, testConfig } from '../helpers/gateway.ts';

interface Running {
  app: App;
  store: Store;
  logs: CapturedLogs;
  base: string;
  close(): Promise<void>;
}

/** Starts the real app on a real socket, with a couple of test-only routes to exercise the error paths. */
async function start(config: Readonly<Config>): Promise<Running> {
  const logs = captureLogs();
  const store = await openStore({ config, logger: logs.logger });
  await store.migrate();
  const counters = createMemoryCounters({ clock: systemClock });
  const app = createApp({ config, store, counters, logger: logs.logger, clock: systemClock });
  app.fastify.post('/test/echo', async (request) => ({ received: request.body }));
  app.fastify.get('/test/slow', async (request) => {
    const ms = Number((request.query as { ms?: string }).ms ?? 300);
    await new Promise((resolve) => setTimeout(resolve, ms));
    return { slept: ms };
  });
  app.fastify.get('/test/boom', async () => {
    throw new Error('database password is hunter2-do-not-leak');
  });
  await app.fastify.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.fastify.server.address() as AddressInfo;
  return {
    app,
    store,
    logs,
    base: `${app.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    close: async () => {
      await app.fastify.close();
      await counters.close();
      await store.close();
    },
  };
}

describe('HTTP server (plain HTTP on loopback)', () => {
  const tmp = tempDir();
  let gw: Running;
  before(async () => {
    gw = await start(testConfig(tmp.dir, { PORTCULLIS_LIMITS_BODY_BYTES: '2048' }));
  });
  after(async () => {
    await gw.close();
    tmp.remove();
  });

  it('answers /healthz and /readyz', async () => {
    const health = await fetch(`${gw.base}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const ready = await fetch(`${gw.base}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: 'ready', checks: { store: 'ok', counters: 'ok' } });
  });

  it('echoes a valid x-request-id and replaces an unsafe one', async () => {
    const given = await fetch(`${gw.base}/healthz`, { headers: { 'x-request-id': 'trace-123.abc:def' } });
    assert.equal(given.headers.get('x-request-id'), 'trace-123.abc:def');
    const unsafe = await fetch(`${gw.base}/healthz`, {
      headers: { 'x-request-id': 'bad id\twith "quotes"' },
    });
    assert.match(unsafe.headers.get('x-request-id') ?? '', /^req_[A-Za-z0-9_-]{16}$/);
    const none = await fetch(`${gw.base}/healthz`);
    assert.match(none.headers.get('x-request-id') ?? '', /^req_/);
  });

  it('sends security headers and no HSTS over plain HTTP', async () => {
    const res = await fetch(`${gw.base}/healthz`);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(res.headers.get('strict-transport-security'), null);
  });

  it('answers an unknown route with a 404 envelope', async () => {
    const res = await fetch(`${gw.base}/v1/nope?api_key=should-not-be-logged`, {
      headers: { 'x-request-id': 'r404' },
    });
    assert.equal(res.status, 404);
    assert.deepEqual(await res.json(), {
      error: {
        message: 'Unknown route: GET /v1/nope.',
        type: 'not_found_error',
        code: 'not_found',
        param: null,
        request_id: 'r404',
      },
    });
    assert.ok(!gw.logs.text().includes('should-not-be-logged'), 'query strings are never logged');
  });

  it('answers malformed JSON with a 400 envelope that names the problem', async () => {
    const res = await fetch(`${gw.base}/test/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"model": "gpt-4o", "messages": [',
    });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { error: { code: string; message: string; type: string } };
    assert.equal(body.error.code, 'invalid_json');
    assert.equal(body.error.type, 'invalid_request_error');
    assert.match(body.error.message, /^The request body is not valid JSON: .+/);
  });

  it('answers an empty JSON body and a wrong content type clearly', async () => {
    const empty = await fetch(`${gw.base}/test/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '',
    });
    assert.equal(empty.status, 400);
    assert.equal(((await empty.json()) as { error: { code: string } }).error.code, 'invalid_json');
    const xml = await fetch(`${gw.base}/test/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/xml' },
      body: '<a/>',
    });
    assert.equal(xml.status, 415);
    assert.equal(((await xml.json()) as { error: { code: string } }).error.code, 'unsupported_media_type');
  });

  it('refuses an oversized body with 413 and keeps serving', async () => {
    const res = await fetch(`${gw.base}/test/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'x'.repeat(4096) }),
    });
    assert.equal(res.status, 413);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'payload_too_large');
    assert.match(body.error.message, /2048-byte limit/);
    const ok = await fetch(`${gw.base}/test/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":1}',
    });
    assert.deepEqual(await ok.json(), { received: { a: 1 } });
  });

  it('hides internals of a 5xx behind the request id, and logs them', async () => {
    const res = await fetch(`${gw.base}/test/boom`, { headers: { 'x-request-id': 'r500' } });
    assert.equal(res.status, 500);
    const text = await res.text();
    assert.ok(!text.includes('hunter2'), 'no internals on the wire');
    assert.equal(
      (JSON.parse(text) as { error: { message: string } }).error.message,
      'Internal error (request id r500). The details are in the server log.',
    );
    const logged = gw.logs.lines.find((l) => l.includes('"reqId":"r500"') && l.includes('request failed'));
    assert.ok(logged, 'the failure is logged under the request id');
  });

  it('never logs authorization headers or API keys', async () => {
    const secret = `pcx_test_${'s'.repeat(40)}`;
    await fetch(`${gw.base}/test/echo`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'x-api-key': secret, 'content-type': 'application/json' },
      body: '{}',
    });
    await fetch(`${gw.base}/test/boom`, { headers: { authorization: `Bearer ${secret}` } });
    assert.ok(!gw.logs.text().includes(secret));
  });

  it('drops a client that never finishes its headers (slowloris)', async () => {
    // A dedicated app with a 300 ms headers timeout, so the test stays quick.
    const slowTmp = tempDir();
    const slow = await start(
      testConfig(slowTmp.dir, {
        PORTCULLIS_TIMEOUTS_HEADERS_MS: '300',
        PORTCULLIS_TIMEOUTS_REQUEST_MS: '300',
      }),
    );
    try {
      const url = new URL(slow.base);
      const socket = net.connect(Number(url.port), '127.0.0.1');
      socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
      const started = Date.now();
      const answer = await new Promise<string>((resolve) => {
        let data = '';
        socket.on('data', (d) => {
          data += d.toString();
        });
        socket.on('close', () => resolve(data));
      });
      assert.ok(Date.now() - started < 5000, 'closed by the server, not by the test');
      assert.match(answer, /^HTTP\/1\.1 408|^$/);
    } finally {
      await slow.close();
      slowTmp.remove();
    }
  });
});

function makeCertificate(dir: string): { cert: string; key: string } {
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}

function handshake(port: number, options: tls.ConnectionOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options }, () => {
      const protocol = socket.getProtocol() ?? 'unknown';
      socket.end();
      resolve(protocol);
    });
    socket.on('error', reject);
  });
}

describe('HTTPS', () => {
  const tmp = tempDir();
  let gw: Running;
  let port: number;
  let certPath: string;
  before(async () => {
    const files = makeCertificate(tmp.dir);
    certPath = files.cert;
    gw = await start(
      testConfig(tmp.dir, { PORTCULLIS_TLS_CERT_FILE: files.cert, PORTCULLIS_TLS_KEY_FILE: files.key }),
    );
    port = Number(new URL(gw.base).port);
  });
  after(async () => {
    await gw.close();
    tmp.remove();
  });

  it('negotiates TLS 1.3 by default', async () => {
    assert.equal(await handshake(port, {}), 'TLSv1.3');
  });

  it('refuses TLS 1.2 and below by default', async () => {
    await assert.rejects(handshake(port, { maxVersion: 'TLSv1.2' }), /protocol version|alert|wrong version/i);
    await assert.rejects(
      handshake(port, { maxVersion: 'TLSv1.1', minVersion: 'TLSv1', ciphers: 'DEFAULT:@SECLEVEL=0' }),
      /protocol|alert|version|no ciphers/i,
    );
  });

  it('sends Strict-Transport-Security on every HTTPS response, errors included', async () => {
    const ca = (await import('node:fs')).readFileSync(certPath);
    for (const p of ['/healthz', '/nope']) {
      const res = await new Promise<{ status: number; hsts: string | undefined }>((resolve, reject) => {
        const req = httpsRequest({ host: '127.0.0.1', port, path: p, ca, servername: 'localhost' }, (r) => {
          r.resume();
          resolve({
            status: r.statusCode ?? 0,
            hsts: r.headers['strict-transport-security'] as string | undefined,
          });
        });
        req.on('error', reject);
        req.end();
      });
      assert.match(res.hsts ?? '', /^max-age=31536000; includeSubDomains$/, `HSTS on ${p} (${res.status})`);
    }
  });

  it('accepts TLS 1.2 only when explicitly configured', async () => {
    const t12 = tempDir();
    const files = makeCertificate(t12.dir);
    const gw12 = await start(
      testConfig(t12.dir, {
        PORTCULLIS_TLS_CERT_FILE: files.cert,
        PORTCULLIS_TLS_KEY_FILE: files.key,
        PORTCULLIS_TLS_MIN_VERSION: 'TLSv1.2',
      }),
    );
    try {
      const p = Number(new URL(gw12.base).port);
      assert.equal(await handshake(p, { maxVersion: 'TLSv1.2' }), 'TLSv1.2');
      await assert.rejects(
        handshake(p, { maxVersion: 'TLSv1.1', minVersion: 'TLSv1', ciphers: 'DEFAULT:@SECLEVEL=0' }),
      );
    } finally {
      await gw12.close();
      t12.remove();
    }
  });
});
