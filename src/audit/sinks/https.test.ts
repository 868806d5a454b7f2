import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createEgress } from '../../egress/egress.ts';
import type { AuditEntry } from '../chain.ts';
import { createHttpsSink, parseHttpsTarget, retryAfterMs } from './https.ts';
import { InvalidSinkTarget, SinkError } from './sink.ts';

const quiet = { warn: () => undefined };

function entry(seq: number, pad = 0): AuditEntry {
  return {
    seq,
    time: 1_700_000_000_000 + seq,
    actor: 'cli:ops',
    workspace: null,
    action: 'key.created',
    target: 'x'.repeat(pad),
    clientIp: null,
    userAgent: null,
    outcome: 'success',
    requestId: null,
    details: {},
    prevHash: '0'.repeat(64),
    hash: '1'.repeat(64),
  };
}

describe('parseHttpsTarget', () => {
  it('takes https anywhere and plain http only to loopback', () => {
    assert.equal(
      parseHttpsTarget('https://siem.example.com/ingest?x=1#f').href,
      'https://siem.example.com/ingest?x=1',
    );
    for (const ok of ['http://localhost:8080/', 'http://127.0.0.1/', 'http://[::1]:9/'])
      assert.doesNotThrow(() => parseHttpsTarget(ok));
    for (const bad of [
      'http://siem.example.com/',
      'http://10.0.0.5/',
      'ftp://x/',
      'not a url',
      'https://u:p@siem.example.com/',
    ])
      assert.throws(() => parseHttpsTarget(bad), InvalidSinkTarget, bad);
  });
});

describe('retryAfterMs (RFC 9110 §10.2.3)', () => {
  it('reads delay-seconds and HTTP-dates', () => {
    const now = Date.UTC(2025, 0, 1, 0, 0, 0);
    assert.equal(retryAfterMs('3', now), 3000);
    assert.equal(retryAfterMs('Wed, 01 Jan 2025 00:00:10 GMT', now), 10_000);
    assert.equal(retryAfterMs('Tue, 31 Dec 2024 00:00:00 GMT', now), 0);
    assert.equal(retryAfterMs(undefined, now), undefined);
    assert.equal(retryAfterMs('soon', now), undefined);
  });
});

describe('createHttpsSink', () => {
  let server: Server;
  let base: string;
  const bodies: string[] = [];
  const statuses: number[] = [];

  before(async () => {
    server = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        bodies.push(Buffer.concat(chunks).toString('utf8'));
        res.statusCode = statuses.shift() ?? 204;
        res.end();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  it('starts a new batch before one would pass the byte limit; a larger entry goes alone', async () => {
    bodies.length = 0;
    const egress = createEgress({ allow: ['127.0.0.1'], logger: quiet });
    const sink = createHttpsSink({
      url: new URL(`${base}/in`),
      dispatcher: egress.dispatcher,
      userAgent: 'test',
      batchBytes: 1300,
    });
    const entries = [entry(1, 300), entry(2, 300), entry(3, 2000), entry(4, 10), entry(5, 10)];
    for (const e of entries) await sink.write(e);
    await sink.end();
    await egress.close();
    const batches = bodies.map((b) =>
      b
        .trimEnd()
        .split('\n')
        .map((l) => (JSON.parse(l) as AuditEntry).seq),
    );
    assert.deepEqual(batches, [[1, 2], [3], [4, 5]]);
    assert.equal(sink.delivered, 5);
    assert.equal(sink.batches, 3);
  });

  it('waits with exponential backoff between attempts, then gives up naming the status', async () => {
    bodies.length = 0;
    statuses.push(502, 502, 502);
    const waits: number[] = [];
    const egress = createEgress({ allow: ['127.0.0.1'], logger: quiet });
    const sink = createHttpsSink({
      url: new URL(`${base}/in`),
      dispatcher: egress.dispatcher,
      userAgent: 'test',
      maxAttempts: 3,
      backoffBaseMs: 100,
      sleep: async (ms) => {
        waits.push(ms);
      },
    });
    await sink.write(entry(1));
    await assert.rejects(sink.end(), (err: unknown) => {
      assert.ok(err instanceof SinkError);
      assert.equal(err.code, 'sink_http_error');
      assert.match(err.message, /HTTP 502 after 3 attempts; 0 entries were delivered/);
      return true;
    });
    await egress.close();
    assert.equal(bodies.length, 3);
    assert.equal(waits.length, 2);
    assert.ok(waits[0]! >= 100 && waits[0]! <= 125 && waits[1]! >= 200 && waits[1]! <= 250, String(waits));
  });

  it('is refused on the connected address: a name that resolves to loopback needs egress.allow', async () => {
    const lookup = async (): Promise<LookupAddress[]> => [{ address: '127.0.0.1', family: 4 }];
    const port = (server.address() as AddressInfo).port;
    const egress = createEgress({ allow: [], logger: quiet, lookup });
    const sink = createHttpsSink({
      url: new URL(`http://siem.test:${port}/in`),
      dispatcher: egress.dispatcher,
      userAgent: 'test',
    });
    await sink.write(entry(1));
    await assert.rejects(sink.end(), (err: unknown) => {
      assert.ok(err instanceof SinkError);
      assert.equal(err.code, 'egress_denied');
      assert.match(err.message, /loopback/);
      return true;
    });
    await egress.close();
  });
});
