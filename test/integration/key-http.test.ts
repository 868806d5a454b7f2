import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateKey, parseKey } from '../../src/keys/format.ts';
import { dumpDatabase } from '../contract/keys-helpers.ts';
import { type DataPlaneFixture, startDataPlane } from '../helpers/dataplane.ts';
import { tempDir } from '../helpers/gateway.ts';

/**
 * Issue 4 "done when", through HTTP against the real gateway wiring (startGateway): unknown and
 * wrong keys are indistinguishable on the wire, forwarding headers count only from trusted
 * proxies, brute-force thresholds come from the configuration, and the raw key never lands in
 * the database, the logs, management output, or upstream.
 */

interface Answer {
  status: number;
  /** As received: [name, value] in wire order, names lower-cased. */
  headers: [string, string][];
  body: Buffer;
}

/** A plain HTTP/1.1 request, so the test sees exactly the bytes and headers the gateway sent. */
function call(
  base: string,
  urlPath: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<Answer> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${base}${urlPath}`,
      {
        method: payload ? 'POST' : 'GET',
        headers: payload ? { 'content-type': 'application/json', ...headers } : headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const pairs: [string, string][] = [];
          for (let i = 0; i < res.rawHeaders.length; i += 2) {
            pairs.push([String(res.rawHeaders[i]).toLowerCase(), String(res.rawHeaders[i + 1])]);
          }
          resolve({ status: res.statusCode ?? 0, headers: pairs, body: Buffer.concat(chunks) });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const CHAT = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] };
const chat = (dp: DataPlaneFixture, key: string, headers: Record<string, string> = {}) =>
  call(dp.gateway.url, '/v1/chat/completions', { authorization: `Bearer ${key}`, ...headers }, CHAT);
const codeOf = (a: Answer): string | undefined =>
  (JSON.parse(a.body.toString('utf8')) as { error?: { code?: string } }).error?.code;

describe('API keys over HTTP', () => {
  let dp: DataPlaneFixture;
  let proxied: DataPlaneFixture;
  before(async () => {
    dp = await startDataPlane();
    proxied = await startDataPlane({ PORTCULLIS_TRUSTED_PROXIES: '127.0.0.1' });
  });
  after(async () => {
    await dp?.close();
    await proxied?.close();
  });

  it('an unknown key and a wrong secret for a real key get byte-identical answers', async () => {
    const realId = parseKey(dp.key)?.id ?? '';
    const unknown = generateKey('live').raw;
    const wrong = generateKey('live', realId).raw;
    assert.equal(parseKey(wrong)?.id, realId);
    // The same request id for both, so the bodies may be compared whole.
    const headers = { 'x-request-id': 'req_same_for_both_0001' };
    const a = await chat(dp, unknown, headers);
    const b = await chat(dp, wrong, headers);
    assert.equal(a.status, 401);
    assert.equal(codeOf(a), 'invalid_api_key');
    assert.equal(a.status, b.status);
    assert.ok(a.body.equals(b.body), `bodies differ:\n${a.body}\n${b.body}`);
    assert.match(a.body.toString(), /"request_id":"req_same_for_both_0001"/);
    // The same headers, with the same values (only the clock may differ).
    const comparable = (x: Answer) => x.headers.filter(([n]) => n !== 'date');
    assert.deepEqual(comparable(a), comparable(b));
    assert.deepEqual(
      a.headers.map(([n]) => n),
      b.headers.map(([n]) => n),
    );
    assert.ok(a.headers.some(([n, v]) => n === 'www-authenticate' && v === 'Bearer error="invalid_token"'));
    // A malformed key (bad checksum) is refused the same way.
    const typo = `${dp.key.slice(0, -1)}${dp.key.endsWith('A') ? 'B' : 'A'}`;
    const c = await chat(dp, typo, headers);
    assert.ok(c.body.equals(a.body));
    // And the right key works, so the refusals above were about the key alone.
    assert.equal((await chat(dp, dp.key)).status, 200);
  });

  it('a forged X-Forwarded-For from an untrusted peer never satisfies an IP allowlist', async () => {
    const key = await dp.newKey({ allowIps: ['203.0.113.7/32'] });
    const upstreamBefore = dp.mock.requests.length;
    const forgeries: Record<string, string>[] = [
      { 'x-forwarded-for': '203.0.113.7' },
      { forwarded: 'for=203.0.113.7' },
      { 'x-real-ip': '203.0.113.7' },
    ];
    for (const forged of forgeries) {
      const res = await chat(dp, key, forged);
      assert.equal(res.status, 403, JSON.stringify(forged));
      assert.equal(codeOf(res), 'ip_not_allowed');
      // The refusal names the address the gateway actually saw, not the forged one.
      assert.match(res.body.toString(), /127\.0\.0\.1/);
    }
    assert.equal(dp.mock.requests.length, upstreamBefore, 'nothing reached the provider');
  });

  it('the same header from a trusted proxy does pass; a client-written hop behind it does not', async () => {
    const key = await proxied.newKey({ allowIps: ['203.0.113.7/32'] });
    const ok = await chat(proxied, key, { 'x-forwarded-for': '203.0.113.7' });
    assert.equal(ok.status, 200, ok.body.toString());
    const viaForwarded = await chat(proxied, key, { forwarded: 'for=203.0.113.7;proto=https' });
    assert.equal(viaForwarded.status, 200);
    // The client wrote the allowed address itself; the proxy appended the real one.
    const spoofed = await chat(proxied, key, { 'x-forwarded-for': '203.0.113.7, 198.51.100.20' });
    assert.equal(spoofed.status, 403);
    assert.equal(codeOf(spoofed), 'ip_not_allowed');
    // No header at all: the proxy's own address, which is not on the list.
    assert.equal(codeOf(await chat(proxied, key)), 'ip_not_allowed');
    // Last use is recorded off the request path: wait for it.
    const id = parseKey(key)?.id ?? '';
    for (let i = 0; i < 50 && (await proxied.keys.show(id)).lastUsedIp === null; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal((await proxied.keys.show(id)).lastUsedIp, '203.0.113.7');
  });
});

describe('brute-force thresholds from the configuration', () => {
  let dp: DataPlaneFixture;
  before(async () => {
    dp = await startDataPlane({
      PORTCULLIS_AUTH_BRUTE_FORCE_IP_FAILURES: '3',
      PORTCULLIS_AUTH_BRUTE_FORCE_IP_COOLDOWN_MS: '120000',
      PORTCULLIS_AUTH_BRUTE_FORCE_KEY_FAILURES: '0',
    });
  });
  after(async () => {
    await dp?.close();
  });

  it('locks the client IP out after the configured number of failures, even for a good key', async () => {
    const codes: (string | undefined)[] = [];
    for (let i = 0; i < 5; i++) codes.push(codeOf(await chat(dp, generateKey('live').raw)));
    const firstLock = codes.indexOf('too_many_auth_failures');
    assert.ok(firstLock >= 3 && firstLock <= 4, `locked after ${firstLock} failures: ${codes.join(',')}`);
    assert.ok(codes.slice(0, 3).every((c) => c === 'invalid_api_key'));
    const locked = await chat(dp, dp.key);
    assert.equal(locked.status, 429);
    const retryAfter = Number(locked.headers.find(([n]) => n === 'retry-after')?.[1]);
    assert.ok(retryAfter > 60 && retryAfter <= 120, `retry-after ${retryAfter}`);
    assert.match(dp.logs.text(), /"event":"auth\.blocked".*"failures":3/);
  });
});

describe('the raw key appears nowhere (HTTP, database file, logs, management output)', () => {
  const data = tempDir('pcx-keyleak-');
  let dp: DataPlaneFixture;
  let closed = false;
  const raws: string[] = [];
  const answers: string[] = [];
  before(async () => {
    dp = await startDataPlane({ PORTCULLIS_DATA_DIR: data.dir });
  });
  after(async () => {
    if (!closed) await dp?.close();
    data.remove();
  });

  /** The raw key and its secret part: neither may appear anywhere. */
  const needles = (): string[] => raws.flatMap((r) => [r, parseKey(r)?.secret ?? r]);
  function assertClean(where: string, haystack: string | Buffer): void {
    for (const needle of needles()) {
      assert.ok(!haystack.includes(needle), `a raw key or secret appeared in ${where}`);
    }
  }
  /** Every file the gateway keeps (database, WAL, shared memory, master key), raw bytes. */
  function assertFilesClean(): void {
    const files = readdirSync(data.dir);
    assert.ok(files.some((f) => f.endsWith('.db')));
    for (const f of files) assertClean(`file ${f}`, readFileSync(path.join(data.dir, f)));
  }

  it('after creating, using, refusing, rotating and revoking keys', async () => {
    raws.push(dp.key);
    const limited = await dp.newKey({ allowIps: ['203.0.113.0/24'], tags: ['leak-check'] });
    raws.push(limited);
    const id = parseKey(dp.key)?.id ?? '';
    const wrong = generateKey('live', id).raw;
    raws.push(wrong);

    const record = async (a: Promise<Answer>) => {
      const answer = await a;
      answers.push(answer.body.toString(), JSON.stringify(answer.headers));
      return answer;
    };
    assert.equal((await record(chat(dp, dp.key))).status, 200);
    assert.equal(
      (await record(call(dp.gateway.url, '/v1/chat/completions', { 'x-api-key': dp.key }, CHAT))).status,
      200,
    );
    await record(call(dp.gateway.url, '/v1/models', { authorization: `Bearer ${dp.key}` }));
    await record(chat(dp, wrong));
    await record(chat(dp, limited));
    await record(call(dp.gateway.url, `/v1/models?api_key=${dp.key}`, {}));
    await record(call(dp.gateway.url, `/v1/models?key=${encodeURIComponent(limited)}`, {}));
    await record(
      call(dp.gateway.url, '/v1/models', { authorization: `Bearer ${dp.key}`, 'x-api-key': limited }),
    );
    const rotated = await dp.keys.rotate(id, { graceMs: 60_000 });
    raws.push(rotated.key);
    assert.equal((await record(chat(dp, rotated.key))).status, 200);
    assert.equal((await record(chat(dp, dp.key))).status, 200, 'the old secret within its grace');
    await dp.keys.revoke(id);
    assert.equal(codeOf(await record(chat(dp, rotated.key))), 'api_key_revoked');
    // Give the fire-and-forget last-used writes time to land in the database.
    await new Promise((r) => setTimeout(r, 100));

    for (const raw of raws.slice(0, 2)) {
      assert.ok(
        !dp.mock.requests.some((r) => JSON.stringify(r).includes(raw)),
        'a Portcullis key went upstream',
      );
    }
    assertClean('an HTTP answer', answers.join('\n'));
    assertClean('a log line', dp.logs.text());
    assert.ok(dp.logs.lines.length > 10, 'the logs were captured');
    const management = JSON.stringify([
      await dp.keys.list(dp.workspaceId, { includeDeleted: true }),
      await dp.keys.show(id),
      await dp.keys.show(parseKey(limited)?.id ?? ''),
    ]);
    assert.match(management, /pcx_live_\w{3}…/, 'keys are listed masked');
    assertClean('list/show output', management);
    const dump = await dumpDatabase(dp.gateway.store);
    assert.ok(dump.includes(id), 'the dump covers api_keys');
    assertClean('a table of the database', dump);
    assertFilesClean();
  });

  it('nor in the database files once the gateway has shut down (WAL checkpointed)', async () => {
    closed = true;
    await dp.close();
    assertFilesClean();
  });
});

describe('CORS', () => {
  it('answers every preflight alike, and lets only a key with the origin in its allowlist read answers', async () => {
    const { startDataPlane } = await import('../helpers/dataplane.ts');
    const dp = await startDataPlane();
    try {
      const preflight = (origin: string) =>
        fetch(`${dp.gateway.url}/v1/chat/completions`, {
          method: 'OPTIONS',
          headers: {
            origin,
            'access-control-request-method': 'POST',
            'access-control-request-headers': 'authorization, content-type',
          },
        });
      // Nothing about other tenants' allowlists can be learnt from a preflight.
      for (const origin of ['https://app.example', 'https://nobody-allows-this.example']) {
        const res = await preflight(origin);
        assert.equal(res.status, 204);
        assert.equal(res.headers.get('access-control-allow-origin'), origin);
      }
      const browserKey = await dp.newKey({ name: 'browser', allowOrigins: ['https://app.example'] });
      const call = (key: string, origin: string) =>
        fetch(`${dp.gateway.url}/v1/models`, { headers: { authorization: `Bearer ${key}`, origin } });
      const allowed = await call(browserKey, 'https://app.example');
      assert.equal(allowed.status, 200);
      assert.equal(allowed.headers.get('access-control-allow-origin'), 'https://app.example');
      const other = await call(browserKey, 'https://evil.example');
      assert.equal(other.status, 403);
      assert.equal(((await other.json()) as { error: { code: string } }).error.code, 'origin_not_allowed');
      assert.equal(other.headers.get('access-control-allow-origin'), null);
      const serverKey = await call(dp.key, 'https://app.example');
      assert.equal(serverKey.status, 200, 'a key without an origin allowlist is for servers');
      assert.equal(serverKey.headers.get('access-control-allow-origin'), null, 'no CORS headers for it');
    } finally {
      await dp.close();
    }
  });
});
