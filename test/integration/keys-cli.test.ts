import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { systemClock } from '../../src/clock.ts';
import { createMemoryCounters } from '../../src/counters/memory.ts';
import { PortcullisError } from '../../src/errors/catalogue.ts';
import { parseKey } from '../../src/keys/format.ts';
import { createKeyVerifier } from '../../src/keys/verify.ts';
import { openPlace, type Place } from '../contract/keys-helpers.ts';
import { runCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/gateway.ts';

describe('portcullis keys (CLI, local store)', () => {
  const tmp = tempDir();
  after(() => tmp.remove());
  const masterKey = randomBytes(32).toString('base64');

  function cli(args: string[]) {
    return runCli(args, { PORTCULLIS_DATA_DIR: tmp.dir, PORTCULLIS_MASTER_KEY: masterKey });
  }

  it('creates (key printed once), lists, shows, rotates and revokes', async () => {
    assert.equal(cli(['workspaces', 'create', '--name', 'acme']).code, 0);
    const created = cli([
      'keys',
      'create',
      '--workspace',
      'acme',
      '--name',
      'ci bot',
      '--scopes',
      'chat,models:read',
      '--models',
      'gpt-4o*',
      '--allow-ip',
      '203.0.113.0/24,2001:db8::/32',
      '--expires',
      '30d',
      '--rpm',
      '60',
      '--budget-usd',
      '25',
      '--budget-window',
      'month',
      '--json',
    ]);
    assert.equal(created.code, 0, created.stderr);
    const out = JSON.parse(created.stdout) as { id: string; key: string; masked: string; limits: object };
    assert.deepEqual(Object.keys(out).slice(0, 2), ['id', 'key']);
    assert.equal(parseKey(out.key)?.id, out.id);
    assert.deepEqual(out.limits, { rpm: 60, budgetUsd: 25, budgetWindow: 'month' });
    const secret = parseKey(out.key)?.secret ?? '';

    const list = cli(['keys', 'list', '--workspace', 'acme', '--json']);
    assert.equal(list.code, 0, list.stderr);
    const listed = JSON.parse(list.stdout) as { id: string; masked: string; status: string }[];
    assert.deepEqual(
      listed.map((k) => [k.id, k.masked, k.status]),
      [[out.id, out.masked, 'active']],
    );
    const show = cli(['keys', 'show', out.id]);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /203\.0\.113\.0\/24, 2001:db8::\/32/);
    for (const text of [list.stdout, list.stderr, show.stdout, show.stderr, created.stderr]) {
      assert.ok(!text.includes(secret), 'the secret appeared outside the create output');
    }

    // The key works against the same store, then stops working after `keys revoke`.
    const place: Place = { dataDir: tmp.dir, masterKey, cleanup: async () => {} };
    const opened = await openPlace(place, systemClock);
    const counters = createMemoryCounters({ clock: systemClock });
    const verifier = createKeyVerifier({
      ...opened,
      clock: systemClock,
      counters,
      logger: opened.logger,
      cacheTtlMs: 0,
    });
    try {
      assert.equal((await verifier.verify(out.key)).keyId, out.id);
      const rotated = cli(['keys', 'rotate', out.id, '--grace', '1h', '--json']);
      assert.equal(rotated.code, 0, rotated.stderr);
      const newKey = (JSON.parse(rotated.stdout) as { key: string }).key;
      await verifier.verify(out.key);
      await verifier.verify(newKey);
      const revoked = cli(['keys', 'revoke', out.id, '--json']);
      assert.equal(revoked.code, 0, revoked.stderr);
      assert.equal((JSON.parse(revoked.stdout) as { status: string }).status, 'revoked');
      await assert.rejects(
        verifier.verify(newKey),
        (e: unknown) => e instanceof PortcullisError && e.code === 'api_key_revoked',
      );
    } finally {
      await verifier.stop();
      await opened.store.close();
    }

    // Nothing on disk holds the secret (database, WAL, key file).
    for (const file of readdirSync(tmp.dir)) {
      assert.ok(!readFileSync(path.join(tmp.dir, file)).includes(secret), `${file} holds the secret`);
    }
  });

  it('update changes only the attributes given, and the gateway sees the change', async () => {
    const created = cli([
      'keys',
      'create',
      '--workspace',
      'acme',
      '--name',
      'to change',
      '--tpm',
      '1000',
      '--json',
    ]);
    assert.equal(created.code, 0, created.stderr);
    const { id, key } = JSON.parse(created.stdout) as { id: string; key: string };
    const updated = cli([
      'keys',
      'update',
      id,
      '--name',
      'changed',
      '--scopes',
      'chat',
      '--models',
      'gpt-4o-mini,claude-*',
      '--allow-ip',
      '198.51.100.7',
      '--allow-origin',
      'https://app.example.com',
      '--expires',
      '2d',
      '--rpm',
      '30',
      '--json',
    ]);
    assert.equal(updated.code, 0, updated.stderr);
    const record = JSON.parse(updated.stdout) as Record<string, unknown>;
    assert.equal(record.name, 'changed');
    assert.deepEqual(record.scopes, ['chat']);
    assert.deepEqual(record.models, ['gpt-4o-mini', 'claude-*']);
    assert.deepEqual(record.allowIps, ['198.51.100.7/32']);
    assert.deepEqual(record.allowOrigins, ['https://app.example.com']);
    assert.deepEqual(record.limits, { tpm: 1000, rpm: 30 }, 'unmentioned limits are kept');
    const expiresIn = (record.expiresAt as number) - Date.now();
    assert.ok(expiresIn > 47 * 3_600_000 && expiresIn <= 48 * 3_600_000);
    assert.ok(!updated.stdout.includes(key) && !updated.stderr.includes(key));

    // The running data plane's verifier reads the new attributes; the secret is unchanged.
    const opened = await openPlace({ dataDir: tmp.dir, masterKey, cleanup: async () => {} }, systemClock);
    const counters = createMemoryCounters({ clock: systemClock });
    const verifier = createKeyVerifier({ ...opened, clock: systemClock, counters, cacheTtlMs: 0 });
    try {
      const principal = await verifier.verify(key);
      assert.deepEqual(
        [principal.name, principal.scopes, principal.allowIps],
        ['changed', ['chat'], ['198.51.100.7/32']],
      );

      // "none" / "any" / "never" remove a setting; nothing else changes.
      const cleared = cli([
        'keys',
        'update',
        id,
        '--rpm',
        'none',
        '--allow-ip',
        'any',
        '--expires',
        'never',
        '--json',
      ]);
      assert.equal(cleared.code, 0, cleared.stderr);
      const after = JSON.parse(cleared.stdout) as Record<string, unknown>;
      assert.deepEqual(after.limits, { tpm: 1000 });
      assert.deepEqual(after.allowIps, []);
      assert.equal(after.expiresAt, null);
      assert.deepEqual(after.scopes, ['chat']);
      assert.deepEqual((await verifier.verify(key)).allowIps, []);
    } finally {
      await verifier.stop();
      await opened.store.close();
    }

    const text = cli(['keys', 'update', id, '--tags', 'ci,team:ml']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /updated API key key_\w+:[\s\S]*tags\s+ci, team:ml/);
    assert.equal(cli(['keys', 'update', id]).code, 2, 'nothing to change');
    const bad = cli(['keys', 'update', id, '--scopes', 'root', '--json']);
    assert.equal(bad.code, 1);
    assert.equal((JSON.parse(bad.stdout) as { error: { code: string } }).error.code, 'invalid_key_input');
    assert.equal(cli(['keys', 'update', id, '--rpm', '-3']).code, 2);
    assert.equal(cli(['keys', 'revoke', id]).code, 0);
    const revoked = cli(['keys', 'update', id, '--name', 'again', '--json']);
    assert.equal(revoked.code, 1);
    assert.equal((JSON.parse(revoked.stdout) as { error: { code: string } }).error.code, 'key_not_active');
  });

  it('refuses bad input with a clear message and a non-zero exit', () => {
    const bad = cli([
      'keys',
      'create',
      '--workspace',
      'acme',
      '--name',
      'x',
      '--allow-ip',
      '10.0.0.0/33',
      '--json',
    ]);
    assert.equal(bad.code, 1);
    const err = (JSON.parse(bad.stdout) as { error: { code: string; message: string } }).error;
    assert.equal(err.code, 'invalid_key_input');
    assert.match(err.message, /allowIps/);
    const missing = cli(['keys', 'show', 'key_AAAAAAAAAAAA']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no API key "key_AAAAAAAAAAAA"/);
    assert.equal(cli(['keys', 'create', '--name', 'x']).code, 2);
  });
});
