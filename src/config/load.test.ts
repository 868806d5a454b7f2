import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULT_BRUTE_FORCE } from '../pipeline/authenticate.ts';
import { ConfigError, loadConfig, maskedConfig } from './load.ts';

function tmp(): string {
  return mkdtempSync(path.join(tmpdir(), 'pcx-config-'));
}

function problemsOf(fn: () => unknown): ConfigError['problems'] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('expected the configuration to be refused');
}

describe('loadConfig', () => {
  it('runs on defaults alone: loopback, SQLite in ./data, no Redis', () => {
    const { config } = loadConfig({ env: {} });
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.port, 8080);
    assert.equal(config.dataDir, './data');
    assert.equal(config.databaseUrl, undefined);
    assert.equal(config.redisUrl, undefined);
    assert.equal(config.tls.minVersion, 'TLSv1.3');
    assert.deepEqual(config.trustedProxies, []);
  });

  it('layers defaults < file < environment and records the source of each value', () => {
    const dir = tmp();
    const file = path.join(dir, 'portcullis.yaml');
    writeFileSync(file, 'port: 9000\nlog:\n  level: debug\ntimeouts:\n  idleMs: 1234\n');
    const { config, sources } = loadConfig({ env: { PORTCULLIS_PORT: '9100' }, configFile: file });
    assert.equal(config.port, 9100);
    assert.equal(sources.port, 'PORTCULLIS_PORT');
    assert.equal(config.log.level, 'debug');
    assert.equal(sources['log.level'], `file ${file}`);
    assert.equal(config.timeouts.idleMs, 1234);
    assert.equal(config.timeouts.headersMs, 10_000);
  });

  it('maps nested settings to PORTCULLIS_* names and lists, and honours DATABASE_URL / REDIS_URL', () => {
    const { config } = loadConfig({
      env: {
        PORTCULLIS_TRUSTED_PROXIES: '10.0.0.0/8, 192.168.1.1',
        PORTCULLIS_EGRESS_ALLOW: '127.0.0.1/32',
        PORTCULLIS_TIMEOUTS_SHUTDOWN_MS: '500',
        DATABASE_URL: 'postgres://u:p@db/x',
        REDIS_URL: 'redis://cache:6379',
      },
    });
    assert.deepEqual(config.trustedProxies, ['10.0.0.0/8', '192.168.1.1']);
    assert.deepEqual(config.egress.allow, ['127.0.0.1/32']);
    assert.equal(config.timeouts.shutdownMs, 500);
    assert.equal(config.databaseUrl, 'postgres://u:p@db/x');
    assert.equal(config.redisUrl, 'redis://cache:6379');
  });

  it('reads secrets from *_FILE variables and from <name>File in the config file', () => {
    const dir = tmp();
    const keyFile = path.join(dir, 'master.key');
    writeFileSync(keyFile, 'c2VjcmV0LWtleS1tYXRlcmlhbA==\n');
    assert.equal(
      loadConfig({ env: { PORTCULLIS_MASTER_KEY_FILE: keyFile } }).config.masterKey,
      'c2VjcmV0LWtleS1tYXRlcmlhbA==',
    );
    const file = path.join(dir, 'c.yaml');
    writeFileSync(file, 'masterKeyFile: master.key\n');
    assert.equal(loadConfig({ env: {}, configFile: file }).config.masterKey, 'c2VjcmV0LWtleS1tYXRlcmlhbA==');
  });

  it('reports every problem at once, each with its path and source, without echoing secrets', () => {
    const dir = tmp();
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, 'port: 70000\ntls:\n  minVersion: TLSv1.0\nbogus: 1\n');
    const problems = problemsOf(() =>
      loadConfig({
        env: {
          PORTCULLIS_LOG_LEVEL: 'loud',
          PORTCULLIS_IDLE: '3',
          PORTCULLIS_TIMEOUTS_HEADERS_MS: 'soon',
          DATABASE_URL: 'mysql://user:hunter2-secret@db/x',
        },
        configFile: file,
      }),
    );
    const paths = problems.map((p) => p.path).sort();
    assert.deepEqual(paths, [
      'PORTCULLIS_IDLE',
      'bogus',
      'databaseUrl',
      'log.level',
      'port',
      'timeouts.headersMs',
      'tls.minVersion',
    ]);
    const port = problems.find((p) => p.path === 'port');
    assert.equal(port?.source, `file ${file}`);
    assert.match(problems.find((p) => p.path === 'tls.minVersion')?.message ?? '', /TLSv1\.3.*TLSv1\.2/);
    assert.equal(problems.find((p) => p.path === 'log.level')?.source, 'PORTCULLIS_LOG_LEVEL');
    assert.ok(!JSON.stringify(problems).includes('hunter2-secret'));
  });

  it('refuses plain HTTP on a non-loopback address unless explicitly behind trusted proxies', () => {
    const problems = problemsOf(() => loadConfig({ env: { PORTCULLIS_HOST: '0.0.0.0' } }));
    assert.equal(problems[0]?.path, 'host');
    assert.match(problems[0]?.message ?? '', /plain HTTP/);
    const noProxy = problemsOf(() =>
      loadConfig({ env: { PORTCULLIS_HOST: '0.0.0.0', PORTCULLIS_ALLOW_PLAIN_HTTP: 'true' } }),
    );
    assert.equal(noProxy[0]?.path, 'allowPlainHttp');
    const ok = loadConfig({
      env: {
        PORTCULLIS_HOST: '0.0.0.0',
        PORTCULLIS_ALLOW_PLAIN_HTTP: 'true',
        PORTCULLIS_TRUSTED_PROXIES: '10.1.0.0/16',
      },
    });
    assert.equal(ok.config.allowPlainHttp, true);
    assert.equal(loadConfig({ env: { PORTCULLIS_HOST: '::1' } }).config.host, '::1');
  });

  it('refuses half a TLS setup and malformed proxy CIDRs', () => {
    const problems = problemsOf(() =>
      loadConfig({ env: { PORTCULLIS_TLS_CERT_FILE: '/x.pem', PORTCULLIS_TRUSTED_PROXIES: 'nonsense' } }),
    );
    assert.deepEqual(problems.map((p) => p.path).sort(), ['tls.keyFile', 'trustedProxies[0]']);
  });

  it('reports an unreadable or malformed config file clearly', () => {
    const dir = tmp();
    assert.match(
      problemsOf(() => loadConfig({ env: {}, configFile: path.join(dir, 'missing.yaml') }))[0]?.message ?? '',
      /ENOENT/,
    );
    const file = path.join(dir, 'broken.yaml');
    writeFileSync(file, 'port: [1\n');
    assert.match(problemsOf(() => loadConfig({ env: {}, configFile: file }))[0]?.message ?? '', /YAML/);
  });

  it('auth: brute-force thresholds and the key cache TTL, defaulting to what the pipeline used before', () => {
    const { config } = loadConfig({ env: {} });
    assert.deepEqual(config.auth.bruteForce, DEFAULT_BRUTE_FORCE);
    assert.equal(config.auth.keyCacheTtlMs, 1000);
    const dir = tmp();
    const file = path.join(dir, 'auth.yaml');
    writeFileSync(file, 'auth:\n  bruteForce:\n    ip:\n      failures: 5\n      cooldownMs: 60000\n');
    const layered = loadConfig({
      env: { PORTCULLIS_AUTH_BRUTE_FORCE_KEY_FAILURES: '0', PORTCULLIS_AUTH_KEY_CACHE_TTL_MS: '250' },
      configFile: file,
    });
    assert.deepEqual(layered.config.auth, {
      keyCacheTtlMs: 250,
      bruteForce: {
        ip: { failures: 5, windowMs: 300_000, cooldownMs: 60_000 },
        key: { failures: 0, windowMs: 300_000, cooldownMs: 60_000 },
      },
      accessTokenTtlSeconds: 900,
      sessionTtlHours: 720,
      login: {
        freeFailures: 3,
        ipFreeFailures: 10,
        accountLockAfter: 10,
        ipLockAfter: 50,
        windowMs: 900_000,
        lockMs: 900_000,
      },
    });
    assert.equal(layered.sources['auth.bruteForce.ip.failures'], `file ${file}`);
    assert.equal(layered.sources['auth.bruteForce.key.failures'], 'PORTCULLIS_AUTH_BRUTE_FORCE_KEY_FAILURES');
    const problems = problemsOf(() =>
      loadConfig({
        env: {
          PORTCULLIS_AUTH_KEY_CACHE_TTL_MS: '600000',
          PORTCULLIS_AUTH_BRUTE_FORCE_IP_FAILURES: '-1',
          PORTCULLIS_AUTH_BRUTE_FORCE_KEY_WINDOW_MS: '0',
        },
      }),
    );
    assert.deepEqual(problems.map((p) => p.path).sort(), [
      'auth.bruteForce.ip.failures',
      'auth.bruteForce.key.windowMs',
      'auth.keyCacheTtlMs',
    ]);
  });

  it('returns a deep-frozen config and masks secrets for display', () => {
    const { config } = loadConfig({
      env: {
        PORTCULLIS_MASTER_KEY: 'a-very-secret-master-key',
        DATABASE_URL: 'postgres://app:pw-secret@db:5432/p',
      },
    });
    assert.ok(
      Object.isFrozen(config) && Object.isFrozen(config.tls) && Object.isFrozen(config.trustedProxies),
    );
    assert.throws(() => {
      (config as { port: number }).port = 1;
    });
    const shown = JSON.stringify(maskedConfig(config));
    assert.ok(!shown.includes('a-very-secret-master-key'));
    assert.ok(!shown.includes('pw-secret'));
    assert.match(shown, /postgres:\/\/app:\*\*\*@db:5432\/p/);
  });
});
