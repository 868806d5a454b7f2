import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fetch, request } from 'undici';
import { createEgress, type ResolveAll } from './egress.ts';
import { EgressDeniedError } from './errors.ts';

interface LogLine {
  obj: Record<string, unknown>;
  msg: string;
}

function recordingLogger(): { lines: LogLine[]; warn(obj: Record<string, unknown>, msg: string): void } {
  const lines: LogLine[] = [];
  return { lines, warn: (obj, msg) => lines.push({ obj, msg }) };
}

/** A fake resolver: no test here ever asks real DNS. */
function fakeDns(table: Record<string, string[]>): ResolveAll & { calls: string[] } {
  const calls: string[] = [];
  const resolve = async (host: string): Promise<LookupAddress[]> => {
    calls.push(host);
    const addresses = table[host];
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return Object.assign(resolve, { calls });
}

function isDenied(reason: string, host?: string) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof EgressDeniedError, `expected EgressDeniedError, got ${String(error)}`);
    assert.equal(error.reason, reason);
    if (host !== undefined) assert.equal(error.host, host);
    return true;
  };
}

/** Walks `cause` chains: fetch wraps connection errors in a TypeError. */
function findDenial(error: unknown): EgressDeniedError | undefined {
  let e: unknown = error;
  while (e instanceof Error) {
    if (e instanceof EgressDeniedError) return e;
    e = e.cause;
  }
  return undefined;
}

describe('checkUrl', () => {
  const dns = fakeDns({
    'api.example.com': ['93.184.216.34'],
    'v6.example.com': ['2606:2800:220:1::1'],
    'internal.example.com': ['10.0.0.7'],
    'mixed.example.com': ['93.184.216.34', '192.168.1.10'],
    'rebind.example.com': ['93.184.216.34', '::ffff:127.0.0.1'],
    'vllm.internal': ['10.1.2.3'],
    'meta.example.com': ['169.254.169.254'],
  });
  const logger = recordingLogger();
  const egress = createEgress({ allow: [], logger, lookup: dns });
  after(() => egress.close());

  const refused: [string, string][] = [
    ['http://169.254.169.254/latest/meta-data/', 'metadata'],
    ['http://[fd00:ec2::254]/', 'metadata'],
    ['http://[::ffff:169.254.169.254]/', 'metadata'],
    ['http://[64:ff9b::a9fe:a9fe]/', 'metadata'],
    ['http://metadata.google.internal/computeMetadata/v1/', 'metadata'],
    ['http://10.0.0.1/', 'private_address'],
    ['http://127.0.0.1:8080/', 'private_address'],
    ['http://[::1]/', 'private_address'],
    ['http://[::ffff:127.0.0.1]/', 'private_address'],
    ['http://[::127.0.0.1]/', 'private_address'],
    ['http://0.0.0.0/', 'private_address'],
    ['http://0/', 'private_address'],
    ['http://2130706433/', 'private_address'],
    ['http://0177.0.0.1/', 'private_address'],
    ['http://0x7f.0.0.1/', 'private_address'],
    ['http://0x7f000001/', 'private_address'],
    ['http://127.1/', 'private_address'],
    ['http://100.64.0.1/', 'private_address'],
    ['http://[fe80::1]/', 'private_address'],
    ['http://[fc00::1]/', 'private_address'],
    ['http://224.0.0.1/', 'private_address'],
    ['http://255.255.255.255/', 'private_address'],
    ['http://internal.example.com/', 'private_address'],
    ['http://mixed.example.com/', 'private_address'],
    ['http://rebind.example.com/', 'private_address'],
    ['http://meta.example.com/', 'metadata'],
    ['http://no-such-host.example/', 'dns_failed'],
    ['ftp://api.example.com/', 'scheme'],
    ['file:///etc/passwd', 'scheme'],
    ['gopher://api.example.com/', 'scheme'],
    ['https://user:pass@api.example.com/', 'userinfo'],
    ['not a url', 'invalid_url'],
  ];
  for (const [url, reason] of refused) {
    it(`refuses ${url} (${reason})`, async () => {
      await assert.rejects(egress.checkUrl(url), isDenied(reason));
    });
  }

  it('allows a public address and a name resolving only to public addresses', async () => {
    await egress.checkUrl('https://93.184.216.34/v1');
    await egress.checkUrl('https://api.example.com/v1/chat/completions');
    await egress.checkUrl('https://v6.example.com/');
    await egress.checkUrl('https://[2606:4700::1111]/');
  });

  it('refuses metadata hostnames without asking DNS', async () => {
    dns.calls.length = 0;
    await assert.rejects(egress.checkUrl('http://metadata.google.internal/'), isDenied('metadata'));
    assert.deepEqual(dns.calls, []);
  });

  it('names the host, never credentials, path or query, in errors and logs', async () => {
    logger.lines.length = 0;
    const secretUrl = 'http://internal.example.com/hook?token=sk-secret-123';
    await assert.rejects(egress.checkUrl(secretUrl), (error: unknown) => {
      assert.ok(error instanceof EgressDeniedError);
      assert.equal(error.host, 'internal.example.com');
      assert.match(error.message, /internal\.example\.com/);
      assert.doesNotMatch(error.message, /sk-secret|token|hook/);
      return true;
    });
    await assert.rejects(egress.checkUrl('https://admin:hunter2@api.example.com/'), (error: unknown) => {
      assert.ok(error instanceof Error);
      assert.doesNotMatch(error.message, /hunter2|admin/);
      return true;
    });
    const logged = JSON.stringify(logger.lines);
    assert.match(logged, /internal\.example\.com/);
    assert.doesNotMatch(logged, /sk-secret|hunter2|token=/);
  });

  it('allows allowlisted private destinations; metadata stays refused', async () => {
    const allowed = createEgress({
      allow: ['vllm.internal', '10.0.0.0/8', '169.254.0.0/16'],
      logger: recordingLogger(),
      lookup: dns,
    });
    try {
      await allowed.checkUrl('http://vllm.internal:8000/v1');
      await allowed.checkUrl('http://10.200.0.1/');
      await allowed.checkUrl('http://internal.example.com/');
      await assert.rejects(allowed.checkUrl('http://169.254.169.254/'), isDenied('metadata'));
      await assert.rejects(allowed.checkUrl('http://192.168.0.1/'), isDenied('private_address'));
    } finally {
      await allowed.close();
    }
  });

  it('rejects an unreadable allowlist at creation', () => {
    assert.throws(() => createEgress({ allow: ['10.0.0.0/40'], logger: recordingLogger() }), /egress\.allow/);
  });
});

describe('dispatcher (the connect path)', () => {
  let server: Server;
  let port = 0;
  const hits: string[] = [];

  before(async () => {
    server = createServer((req, res) => {
      hits.push(req.url ?? '');
      if (req.url === '/redirect') {
        res.writeHead(302, { location: `http://10.0.0.1:${port}/pwned` }).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' }).end('hello from loopback');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('reaches an allowlisted 127.0.0.1 with a real request', async () => {
    const egress = createEgress({ allow: ['127.0.0.1/32'], logger: recordingLogger() });
    try {
      const res = await request(`http://127.0.0.1:${port}/ok`, { dispatcher: egress.dispatcher });
      assert.equal(res.statusCode, 200);
      assert.equal(await res.body.text(), 'hello from loopback');
    } finally {
      await egress.close();
    }
  });

  it('refuses the same server when it is not allowlisted, before any byte reaches it', async () => {
    const logger = recordingLogger();
    const egress = createEgress({ allow: [], logger });
    hits.length = 0;
    try {
      await assert.rejects(
        request(`http://127.0.0.1:${port}/ok`, { dispatcher: egress.dispatcher }),
        isDenied('private_address', '127.0.0.1'),
      );
      // Odd spellings reach the connector already normalised by the WHATWG URL parser.
      await assert.rejects(
        request(`http://2130706433:${port}/ok`, { dispatcher: egress.dispatcher }),
        isDenied('private_address'),
      );
      await assert.rejects(
        request(`http://[::ffff:127.0.0.1]:${port}/ok`, { dispatcher: egress.dispatcher }),
        isDenied('private_address'),
      );
      assert.deepEqual(hits, []);
      assert.equal(logger.lines[0]?.obj.reason, 'private_address');
    } finally {
      await egress.close();
    }
  });

  it('checks names at connect time with its own resolver: DNS rebinding gets no private address', async () => {
    // First answer public (what a creation-time check would see), then loopback.
    let answers = 0;
    const rebinding: ResolveAll = async () => {
      answers++;
      return [{ address: answers === 1 ? '93.184.216.34' : '127.0.0.1', family: 4 }];
    };
    const egress = createEgress({ allow: [], logger: recordingLogger(), lookup: rebinding });
    hits.length = 0;
    try {
      await egress.checkUrl(`http://rebind.test:${port}/`);
      await assert.rejects(
        request(`http://rebind.test:${port}/ok`, { dispatcher: egress.dispatcher }),
        isDenied('private_address', 'rebind.test'),
      );
      assert.equal(answers, 2);
      assert.deepEqual(hits, []);
    } finally {
      await egress.close();
    }
  });

  it('connects by name only to the addresses it checked, when the name is allowlisted', async () => {
    const dns = fakeDns({ 'llm.local.test': ['127.0.0.1'] });
    const egress = createEgress({ allow: ['llm.local.test'], logger: recordingLogger(), lookup: dns });
    try {
      const res = await request(`http://llm.local.test:${port}/named`, { dispatcher: egress.dispatcher });
      assert.equal(res.statusCode, 200);
      await res.body.dump();
      assert.deepEqual(dns.calls, ['llm.local.test']);
    } finally {
      await egress.close();
    }
  });

  it('returns a redirect as-is instead of following it', async () => {
    const egress = createEgress({ allow: ['127.0.0.1'], logger: recordingLogger() });
    hits.length = 0;
    try {
      const res = await request(`http://127.0.0.1:${port}/redirect`, { dispatcher: egress.dispatcher });
      assert.equal(res.statusCode, 302);
      assert.equal(res.headers.location, `http://10.0.0.1:${port}/pwned`);
      await res.body.dump();
      assert.deepEqual(hits, ['/redirect']);

      // fetch() follows redirects itself; even then every hop goes through the guard.
      const error = await fetch(`http://127.0.0.1:${port}/redirect`, { dispatcher: egress.dispatcher }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.equal(findDenial(error)?.reason, 'private_address');
      assert.equal(findDenial(error)?.host, '10.0.0.1');
    } finally {
      await egress.close();
    }
  });
});
