import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { CLI, NODE_FLAGS, runCli, userEnv } from '../helpers/cli.ts';
import { tempDir } from '../helpers/gateway.ts';

function cli(args: string[], env: Record<string, string> = {}) {
  return runCli(args, env);
}

interface Served {
  child: ChildProcess;
  url: string;
  stderr: () => string;
  exited: Promise<number | null>;
}

async function serve(env: Record<string, string>): Promise<Served> {
  const child = spawn(process.execPath, [...NODE_FLAGS, CLI, 'serve'], {
    env: userEnv({ PORTCULLIS_PORT: '0', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start within 10 s:\n${err}`)), 10_000);
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /"url":"(http[^"]+)".*portcullis listening/.exec(err);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', () => reject(new Error(`gateway exited early:\n${err}`)));
  });
  return { child, url, stderr: () => err, exited };
}

describe('portcullis CLI', () => {
  const tmp = tempDir();
  after(() => tmp.remove());

  it('prints help and the version, and refuses unknown commands', () => {
    const help = cli(['--help']);
    assert.equal(help.code, 0);
    for (const c of ['serve', 'migrate', 'config check', 'secrets rotate-master', 'version']) {
      assert.match(help.stdout, new RegExp(`\\n  ${c} `));
    }
    const version = cli(['version', '--json']);
    assert.equal(version.code, 0);
    assert.match((JSON.parse(version.stdout) as { node: string }).node, /^24\./);
    const unknown = cli(['frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
    const badFlag = cli(['migrate', '--nope']);
    assert.equal(badFlag.code, 2);
    assert.match(badFlag.stderr, /--nope/);
  });

  it('config check prints the effective config with secrets masked', () => {
    const key = Buffer.alloc(32, 7).toString('base64');
    const r = cli(['config', 'check', '--json'], {
      PORTCULLIS_MASTER_KEY: key,
      DATABASE_URL: 'postgres://app:pg-pass-123@db.internal:5432/gw',
    });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { valid: boolean; config: Record<string, unknown>; sources: object };
    assert.equal(out.valid, true);
    assert.equal(out.config.masterKey, '*** (set)');
    assert.equal(out.config.databaseUrl, 'postgres://app:***@db.internal:5432/gw');
    assert.ok(!r.stdout.includes(key) && !r.stdout.includes('pg-pass-123'));
  });

  it('config check lists every problem at once and exits non-zero', () => {
    const r = cli(['config', 'check'], {
      PORTCULLIS_PORT: 'eighty',
      PORTCULLIS_TLS_MIN_VERSION: 'TLSv1.1',
      PORTCULLIS_LOG_LEVEL: 'chatty',
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /3 problems/);
    assert.match(r.stderr, /port: .*PORTCULLIS_PORT/);
    assert.match(r.stderr, /tls\.minVersion: must be one of "TLSv1\.3", "TLSv1\.2"/);
    assert.match(r.stderr, /log\.level/);
    const json = cli(['config', 'check', '--json'], { PORTCULLIS_PORT: 'eighty' });
    assert.equal(json.code, 1);
    assert.equal((JSON.parse(json.stdout) as { error: { code: string } }).error.code, 'invalid_config');
  });

  it('migrate reports what it applied, then that the database is current', () => {
    const dataDir = path.join(tmp.dir, 'migrate');
    const first = cli(['migrate', '--json'], { PORTCULLIS_DATA_DIR: dataDir });
    assert.equal(first.code, 0, first.stderr);
    const report = JSON.parse(first.stdout) as { dialect: string; applied: string[]; current: string[] };
    assert.equal(report.dialect, 'sqlite');
    assert.ok(report.applied.length >= 1);
    const second = cli(['migrate'], { PORTCULLIS_DATA_DIR: dataDir });
    assert.match(second.stdout, /up to date/);
  });

  it('refuses to start with a clear message when the database is unreachable', () => {
    const r = cli(['serve'], {
      PORTCULLIS_PORT: '0',
      DATABASE_URL: 'postgres://portcullis:secret-pw@127.0.0.1:1/none',
      PORTCULLIS_MASTER_KEY: Buffer.alloc(32, 1).toString('base64'),
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /database|PostgreSQL|connect/i);
    assert.ok(!r.stderr.includes('secret-pw'));
  });

  it('serve starts on the embedded defaults, generating a 0600 master key file, and serves /healthz', async () => {
    const dataDir = path.join(tmp.dir, 'serve');
    const gw = await serve({ PORTCULLIS_DATA_DIR: dataDir });
    try {
      const res = await fetch(`${gw.url}/healthz`);
      assert.equal(res.status, 200);
      assert.equal(statSync(path.join(dataDir, 'master.key')).mode & 0o777, 0o600);
      assert.match(gw.stderr(), /master key/i, 'a loud notice about the generated key');
    } finally {
      gw.child.kill('SIGTERM');
      assert.equal(await gw.exited, 0);
    }
  });

  it('SIGTERM lets an in-flight request finish, then exits 0', async () => {
    const gw = await serve({ PORTCULLIS_DATA_DIR: path.join(tmp.dir, 'sigterm') });
    const { port } = new URL(gw.url);
    // An upload still in progress when the signal arrives: half the body now, the rest after.
    const socket = net.connect(Number(port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    let answer = '';
    socket.on('data', (d) => {
      answer += d.toString();
    });
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.write(
      'POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{"a":',
    );
    await new Promise((r) => setTimeout(r, 150));
    gw.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    // New connections are refused while the in-flight one is still being served.
    await assert.rejects(fetch(`${gw.url}/healthz`));
    socket.write('"bcdef"}');
    await closed;
    assert.match(answer, /^HTTP\/1\.1 404 /, 'the in-flight request got its full answer');
    assert.match(answer, /"code":"not_found"/);
    assert.equal(await gw.exited, 0);
  });
});
