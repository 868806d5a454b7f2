import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Server } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createServer as createTlsServer } from 'node:tls';
import { assertNothingLeaked, cli, failed, newPlace, ok, type Place } from '../helpers/cli-identity.ts';

/**
 * `portcullis audit export --to` and `--syslog` (issue 8, item 2), through the real CLI against
 * receivers started here on loopback: an HTTP ingest endpoint scripted per test, a TCP, a TLS and
 * a UDP syslog collector. Loopback is reachable only because PORTCULLIS_EGRESS_ALLOW lists it;
 * without it the egress guard refuses the sink.
 */

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** An ingest endpoint that answers each request with the next scripted status (then 200). */
async function ingest() {
  const received: Received[] = [];
  let script: { status: number; headers?: Record<string, string> }[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      const next = script.shift() ?? { status: 200 };
      res.writeHead(next.status, { 'content-type': 'application/json', ...next.headers });
      // A careless receiver echoing the request: the CLI must not print it.
      res.end(JSON.stringify({ echoed: req.headers.authorization ?? null }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/ingest?tenant=t1`,
    received,
    reset(next: typeof script = []) {
      received.length = 0;
      script = next;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Splits an RFC 6587 octet-counted stream into messages, failing on a malformed frame. */
function octetFrames(stream: Buffer): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < stream.length) {
    const space = stream.indexOf(0x20, i);
    const len = stream.subarray(i, space).toString('ascii');
    assert.match(len, /^[1-9]\d*$/, `bad MSG-LEN at byte ${i}`);
    const start = space + 1;
    const end = start + Number(len);
    assert.ok(end <= stream.length, 'a frame runs past the end of the stream');
    out.push(stream.subarray(start, end).toString('utf8'));
    i = end;
  }
  return out;
}

const RFC5424 = /^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (.*)$/s;

/** Checks one syslog message against the entry it carries. */
function assertSyslogMessage(message: string, entry: Record<string, unknown>): void {
  const m = RFC5424.exec(message);
  assert.ok(m, `not RFC 5424: ${message.slice(0, 80)}`);
  const [, pri, timestamp, host, app, procId, msgId, sd, msg] = m;
  assert.equal(Number(pri), 10 * 8 + (entry.outcome === 'success' ? 6 : entry.outcome === 'denied' ? 4 : 5));
  assert.equal(timestamp, new Date(entry.time as number).toISOString());
  assert.notEqual(host, '');
  assert.equal(app, 'portcullis');
  assert.equal(procId, '-');
  assert.equal(msgId, String(entry.action).slice(0, 32));
  assert.equal(sd, '-');
  assert.deepEqual(JSON.parse(msg ?? ''), entry);
}

describe('audit export to an HTTPS endpoint or syslog', () => {
  let place: Place;
  let server: Awaited<ReturnType<typeof ingest>>;
  /** The entries every sink export below must carry: the stdout export of the same filter. */
  let expected: string[];
  let until: string;
  const token = `siem-${randomBytes(18).toString('base64url')}`;
  let tokenFile: string;
  const allow = { PORTCULLIS_EGRESS_ALLOW: '127.0.0.1' };

  before(async () => {
    place = await newPlace('sinks');
    server = await ingest();
    tokenFile = path.join(place.dir, 'siem.token');
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    ok(await cli('workspaces create --name acme --json', place.env));
    for (const name of ['alpha', 'beta', 'gamma', 'delta'])
      ok(await cli(`keys create --workspace acme --name ${name} --json`, place.env));
    // Later exports add `audit.exported` entries; --until keeps every run on the same entries.
    until = String(Date.now() + 1);
    await new Promise((r) => setTimeout(r, 5));
    const out = await cli(['audit', 'export', '--until', until], place.env);
    assert.equal(out.code, 0, out.stderr);
    expected = out.stdout.trimEnd().split('\n');
    assert.ok(expected.length >= 5, `only ${expected.length} entries`);
  });

  after(async () => {
    await server.close();
    await place.close();
    assertNothingLeaked([token]);
  });

  const exportTo = (extra: string[], env: Record<string, string> = {}) =>
    cli(['audit', 'export', '--until', until, ...extra, '--json'], { ...place.env, ...allow, ...env });

  /** The newest `audit.exported` entry (the one the last run wrote). */
  async function lastExportEntry(): Promise<Record<string, unknown>> {
    const r = await cli(['audit', 'export', '--action', 'audit.exported'], place.env);
    const lines = r.stdout.trimEnd().split('\n');
    return JSON.parse(lines.at(-1) ?? '{}');
  }

  it('POSTs JSON Lines in complete, ordered batches with the bearer token, and audits the export', async () => {
    server.reset();
    const r = await exportTo(['--to', server.url, '--token-env', 'SIEM_TOKEN', '--batch-size', '2'], {
      SIEM_TOKEN: token,
    });
    const summary = ok<{ sink: string; destination: string; entries: number; batches: number }>(r);
    assert.equal(summary.sink, 'https');
    assert.equal(summary.entries, expected.length);
    assert.equal(summary.batches, Math.ceil(expected.length / 2));
    assert.equal(server.received.length, summary.batches);
    for (const req of server.received) {
      assert.equal(req.method, 'POST');
      assert.equal(req.url, '/ingest?tenant=t1');
      assert.equal(req.headers['content-type'], 'application/x-ndjson');
      assert.equal(req.headers.authorization, `Bearer ${token}`);
      assert.ok(req.body.endsWith('\n'));
      assert.ok(req.body.split('\n').length - 1 <= 2);
    }
    assert.deepEqual(server.received.map((q) => q.body).join(''), `${expected.join('\n')}\n`);
    assert.ok(!r.stdout.includes(token) && !r.stderr.includes(token));

    const audited = await lastExportEntry();
    assert.equal(audited.outcome, 'success');
    assert.deepEqual((audited.details as Record<string, unknown>).sink, 'https');
    assert.equal((audited.details as Record<string, unknown>).count, expected.length);
    assert.ok(!JSON.stringify(audited).includes('127.0.0.1'), 'the destination URL is not audited');
  });

  it('retries a 503 and a 429 (honouring Retry-After), then delivers', async () => {
    server.reset([{ status: 503 }, { status: 429, headers: { 'retry-after': '1' } }]);
    const started = Date.now();
    const r = await exportTo(['--to', server.url, '--token-file', tokenFile]);
    const summary = ok<{ entries: number; batches: number }>(r);
    assert.equal(summary.entries, expected.length);
    assert.equal(summary.batches, 1);
    assert.equal(server.received.length, 3);
    assert.ok(Date.now() - started >= 1000, 'Retry-After: 1 was not waited for');
    const bodies = new Set(server.received.map((q) => q.body));
    assert.equal(bodies.size, 1, 'every attempt sends the same batch');
    assert.equal(server.received[2]?.headers.authorization, `Bearer ${token}`);
  });

  it('stops with exit 1 naming the status after a persistent 500, and audits the failure', async () => {
    server.reset(Array.from({ length: 10 }, () => ({ status: 500, headers: { 'retry-after': '0' } })));
    const r = await exportTo(['--to', server.url, '--token-file', tokenFile]);
    const message = failed(r, 'sink_http_error');
    assert.match(message, /HTTP 500 after 4 attempts/);
    assert.match(message, /127\.0\.0\.1:\d+/);
    assert.ok(!message.includes('tenant=t1'), 'the query is not echoed');
    assert.equal(server.received.length, 4);
    assert.ok(!r.stdout.includes(token) && !r.stderr.includes(token));
    const audited = await lastExportEntry();
    assert.equal(audited.outcome, 'failure');
    assert.equal((audited.details as Record<string, unknown>).count, 0);
  });

  it('does not retry a 401', async () => {
    server.reset([{ status: 401 }]);
    const r = await exportTo(['--to', server.url, '--token-file', tokenFile]);
    assert.match(failed(r, 'sink_http_error'), /HTTP 401;/);
    assert.equal(server.received.length, 1);
  });

  it('refuses plain http to a non-loopback host, and tokens or URLs in flags (exit 2)', async () => {
    server.reset();
    failed(await exportTo(['--to', 'http://siem.example.com/ingest']), 'invalid_arguments', 2);
    failed(await exportTo(['--to', `https://user:${token}@siem.example.com/`]), 'invalid_arguments', 2);
    failed(await exportTo(['--to', server.url, '--token', token]), 'invalid_arguments', 2);
    failed(await exportTo(['--token-file', tokenFile]), 'invalid_arguments', 2);
    failed(await exportTo(['--to', server.url, '--syslog', 'tcp://127.0.0.1:514']), 'invalid_arguments', 2);
    failed(await exportTo(['--syslog', 'http://127.0.0.1:514']), 'invalid_arguments', 2);
    assert.equal(server.received.length, 0);
  });

  it('refuses a sink the egress policy does not allow (egress_denied, exit 1)', async () => {
    server.reset();
    const noAllow = { PORTCULLIS_EGRESS_ALLOW: '' };
    const message = failed(await exportTo(['--to', server.url], noAllow), 'egress_denied');
    assert.match(message, /loopback/);
    assert.match(message, /PORTCULLIS_EGRESS_ALLOW/);
    // Allowing another private range does not open loopback.
    failed(await exportTo(['--to', server.url], { PORTCULLIS_EGRESS_ALLOW: '10.0.0.0/8' }), 'egress_denied');
    failed(await exportTo(['--syslog', 'tcp://127.0.0.1:9'], noAllow), 'egress_denied');
    failed(await exportTo(['--syslog', 'udp://127.0.0.1:9'], noAllow), 'egress_denied');
    assert.equal(server.received.length, 0);
  });

  async function tcpCollector(listen: (onData: (d: Buffer) => void) => Server) {
    const chunks: Buffer[] = [];
    const srv = listen((d) => chunks.push(d));
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const { port } = srv.address() as { port: number };
    return { port, data: () => Buffer.concat(chunks), close: () => srv.close() };
  }

  it('sends one octet-counted RFC 5424 message per entry over TCP', async () => {
    const collector = await tcpCollector((onData) =>
      createTcpServer((socket) => socket.on('data', onData).on('end', () => socket.end())),
    );
    try {
      const r = await exportTo(['--syslog', `tcp://127.0.0.1:${collector.port}`]);
      const summary = ok<{ sink: string; entries: number }>(r);
      assert.equal(summary.sink, 'syslog');
      assert.equal(summary.entries, expected.length);
      const messages = octetFrames(collector.data());
      assert.equal(messages.length, expected.length);
      messages.forEach((m, i) => {
        assertSyslogMessage(m, JSON.parse(expected[i] ?? ''));
      });
      const audited = await lastExportEntry();
      assert.equal((audited.details as Record<string, unknown>).sink, 'syslog');
    } finally {
      collector.close();
    }
  });

  it('sends over TLS with the certificate checked', async (t) => {
    const dir = place.dir;
    const key = path.join(dir, 'syslog.key');
    const cert = path.join(dir, 'syslog.crt');
    try {
      execFileSync(
        'openssl',
        [
          ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'],
          ...['-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'],
          ...['-addext', 'subjectAltName=IP:127.0.0.1'],
        ],
        { stdio: 'ignore' },
      );
    } catch {
      t.skip('openssl is not installed');
      return;
    }
    const { readFileSync } = await import('node:fs');
    const collector = await tcpCollector((onData) =>
      createTlsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (socket) =>
        socket.on('data', onData).on('end', () => socket.end()),
      ),
    );
    try {
      // Without trusting the collector's certificate, the connection is refused.
      const untrusted = await exportTo(['--syslog', `tls://127.0.0.1:${collector.port}`]);
      assert.match(failed(untrusted, 'sink_unreachable'), /SELF_SIGNED|CERT/);
      const r = await exportTo(['--syslog', `tls://127.0.0.1:${collector.port}`], {
        NODE_EXTRA_CA_CERTS: cert,
      });
      assert.equal(ok<{ entries: number }>(r).entries, expected.length);
      const messages = octetFrames(collector.data());
      assert.equal(messages.length, expected.length);
      assertSyslogMessage(messages[0] ?? '', JSON.parse(expected[0] ?? ''));
    } finally {
      collector.close();
    }
  });

  it('sends one datagram per entry over UDP', async () => {
    const socket = createSocket('udp4');
    const datagrams: string[] = [];
    socket.on('message', (m) => datagrams.push(m.toString('utf8')));
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    try {
      const r = await exportTo(['--syslog', `udp://127.0.0.1:${socket.address().port}`]);
      assert.equal(ok<{ entries: number }>(r).entries, expected.length);
      for (let i = 0; i < 50 && datagrams.length < expected.length; i++)
        await new Promise((res) => setTimeout(res, 20));
      assert.equal(datagrams.length, expected.length);
      // Loopback keeps the order; UDP in general does not (RFC 5426 §3.1).
      datagrams.forEach((d, i) => {
        assertSyslogMessage(d, JSON.parse(expected[i] ?? ''));
      });
    } finally {
      socket.close();
    }
  });

  it('reports a collector that is not listening (exit 1)', async () => {
    const probe = createTcpServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const { port } = probe.address() as { port: number };
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const message = failed(await exportTo(['--syslog', `tcp://127.0.0.1:${port}`]), 'sink_unreachable');
    assert.match(message, /ECONNREFUSED/);
  });
});
