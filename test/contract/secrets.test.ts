import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rename, rm, stat, symlink, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { systemClock } from '../../src/clock.ts';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { MasterKeyError, SecretDecryptError, SecretNotFoundError } from '../../src/secrets/errors.ts';
import { KEY_FILE_NAME, type MasterKeyRing, resolveMasterKeys } from '../../src/secrets/master-key.ts';
import { rotateMaster } from '../../src/secrets/rotate.ts';
import { createVault, type Vault } from '../../src/secrets/vault.ts';
import { openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/types.ts';
import { isolatedSchema } from '../helpers/postgres.ts';

/**
 * Secrets at rest over the real store, on SQLite and (with TEST_DATABASE_URL) on PostgreSQL, each
 * test in its own data folder and, on PostgreSQL, its own schema (selected through search_path).
 */

const pgUrl = process.env.TEST_DATABASE_URL;
const newKey = () => randomBytes(32).toString('base64');

/** Every key material this file creates, so the log check can look for all of them. */
const keysSeen: string[] = [];
function key(): string {
  const k = newKey();
  keysSeen.push(k);
  return k;
}

/** One isolated database: a data folder, plus a schema when on PostgreSQL. */
interface Place {
  dataDir: string;
  databaseUrl?: string;
}

interface Opened {
  store: Store;
  config: Config;
  logs: string[];
  logger: pino.Logger;
}

interface Target {
  name: 'sqlite' | 'postgres';
  skip: string | false;
  fresh(): Promise<Place>;
}

const cleanups: (() => Promise<void>)[] = [];
const allLogs: string[] = [];

after(async () => {
  for (const c of cleanups.reverse()) await c();
  const joined = allLogs.join('\n');
  for (const k of keysSeen) assert.ok(!joined.includes(k), 'a master key appeared in a log line');
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-secrets-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const targets: Target[] = [
  { name: 'sqlite', skip: false, fresh: async () => ({ dataDir: await tempDir() }) },
  {
    name: 'postgres',
    skip: !pgUrl && 'TEST_DATABASE_URL not set',
    async fresh() {
      const schema = await isolatedSchema(pgUrl ?? '', 'secrets_test');
      cleanups.push(schema.drop);
      return { dataDir: await tempDir(), databaseUrl: schema.url };
    },
  },
];

const opened: Store[] = [];

async function open(place: Place, masterKey?: string): Promise<Opened> {
  const env: Record<string, string> = { PORTCULLIS_DATA_DIR: place.dataDir, PORTCULLIS_LOG_LEVEL: 'info' };
  if (place.databaseUrl) env.DATABASE_URL = place.databaseUrl;
  if (masterKey !== undefined) env.PORTCULLIS_MASTER_KEY = masterKey;
  const { config } = loadConfig({ env });
  const logs: string[] = [];
  const write = (line: string) => {
    logs.push(line);
    allLogs.push(line);
  };
  const logger = pino({ level: 'info' }, { write });
  const store = await openStore({ config, logger });
  opened.push(store);
  await store.migrate();
  return { store, config, logs, logger };
}

after(async () => {
  for (const s of opened) await s.close().catch(() => {});
});

async function boot(o: Opened): Promise<{ keys: MasterKeyRing; vault: Vault }> {
  const keys = await resolveMasterKeys({
    config: o.config,
    store: o.store,
    logger: o.logger,
    dataDir: o.config.dataDir,
  });
  return { keys, vault: createVault({ store: o.store, keys, clock: systemClock }) };
}

function masterKeyError(code: string, message?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof MasterKeyError, String(err));
    assert.equal(err.code, code);
    if (message) assert.match(err.message, message);
    for (const k of keysSeen) assert.ok(!err.message.includes(k));
    return true;
  };
}

const warnings = (logs: string[]) => logs.filter((l) => (JSON.parse(l) as { level: number }).level === 40);

for (const target of targets) {
  describe(`secrets on ${target.name}`, { skip: target.skip }, () => {
    it('stores, reads, replaces and deletes secrets by purpose', async () => {
      const o = await open(await target.fresh(), key());
      const { vault } = await boot(o);
      const id = await vault.put({
        purpose: 'provider-credential',
        workspaceId: 'wsp_1',
        plaintext: 'sk-one',
      });
      assert.match(id, /^sec_/);
      assert.equal(await vault.get(id, 'provider-credential'), 'sk-one');
      await assert.rejects(vault.get(id, 'webhook-signing-key'), SecretNotFoundError);
      await assert.rejects(vault.get('sec_missing', 'provider-credential'), SecretNotFoundError);

      assert.equal(
        await vault.put({ id, purpose: 'provider-credential', plaintext: Buffer.from('sk-two') }),
        id,
      );
      assert.equal(await vault.get(id, 'provider-credential'), 'sk-two');
      await vault.put({ id: 'totp:usr_1', purpose: 'totp-seed', plaintext: '' });
      assert.equal(await vault.get('totp:usr_1', 'totp-seed'), '');

      assert.equal(await vault.delete(id), true);
      assert.equal(await vault.delete(id), false);
      await assert.rejects(vault.get(id, 'provider-credential'), SecretNotFoundError);
    });

    it('refuses a wrong master key at boot, for any configured version', async () => {
      const place = await target.fresh();
      const k1 = key();
      const first = await open(place, k1);
      const { vault } = await boot(first);
      await vault.put({ purpose: 'p', plaintext: 'secret' });
      await first.store.close();

      const wrong = await open(place, key());
      await assert.rejects(
        boot(wrong),
        masterKeyError(
          'MASTER_KEY_MISMATCH',
          /^master key v1 does not match the key this database was encrypted with$/,
        ),
      );
      await wrong.store.close();
      const wrongOld = await open(place, `v2:${key()},v1:${key()}`);
      await assert.rejects(
        boot(wrongOld),
        masterKeyError('MASTER_KEY_MISMATCH', /master key v1 does not match/),
      );
      await wrongOld.store.close();

      // And the right key still works after those refusals.
      const right = await open(place, k1);
      await boot(right);
    });

    it('makes swapped or edited rows fail to decrypt instead of yielding the wrong secret', async () => {
      const o = await open(await target.fresh(), key());
      const { vault } = await boot(o);
      const a = await vault.put({
        id: 'sec_a',
        purpose: 'cred',
        workspaceId: 'wsp_a',
        plaintext: 'secret of A',
      });
      const b = await vault.put({
        id: 'sec_b',
        purpose: 'cred',
        workspaceId: 'wsp_b',
        plaintext: 'secret of B',
      });
      const row = (id: string) =>
        o.store.db.selectFrom('secrets').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      const rowA = await row(a);
      const rowB = await row(b);
      const setB = (columns: {
        wrapped_key?: string;
        ciphertext?: string;
        workspace_id?: string;
        purpose?: string;
      }) => o.store.db.updateTable('secrets').set(columns).where('id', '=', b).execute();
      const decryptFails = (err: unknown) =>
        err instanceof SecretDecryptError &&
        err.message === 'secret sec_b cannot be decrypted: wrong master key or tampered record';

      await setB({ ciphertext: rowA.ciphertext });
      await assert.rejects(vault.get(b, 'cred'), decryptFails, 'ciphertext from A');
      await setB({ ciphertext: rowB.ciphertext, wrapped_key: rowA.wrapped_key });
      await assert.rejects(vault.get(b, 'cred'), decryptFails, 'wrapped key from A');
      await setB({ ciphertext: rowA.ciphertext, wrapped_key: rowA.wrapped_key, workspace_id: 'wsp_a' });
      await assert.rejects(vault.get(b, 'cred'), decryptFails, 'all of A');
      await setB({ ciphertext: rowB.ciphertext, wrapped_key: rowB.wrapped_key, workspace_id: 'wsp_a' });
      await assert.rejects(vault.get(b, 'cred'), decryptFails, 'moved to another workspace');
      await setB({ workspace_id: 'wsp_b', purpose: 'other' });
      await assert.rejects(vault.get(b, 'other'), decryptFails, 'relabelled purpose');
      await setB({ purpose: 'cred' });
      assert.equal(await vault.get(b, 'cred'), 'secret of B');
      assert.equal(await vault.get(a, 'cred'), 'secret of A');
    });

    it('rotates v1 → "v2,v1" by re-wrapping every data key, then runs on v2 alone', async () => {
      const place = await target.fresh();
      const k1 = key();
      const k2 = key();
      const v1 = await open(place, k1);
      const { vault: vaultV1 } = await boot(v1);
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) ids.push(await vaultV1.put({ purpose: 'cred', plaintext: `secret-${i}` }));
      const before = await v1.store.db.selectFrom('secrets').selectAll().orderBy('id').execute();
      await v1.store.close();

      // Dropping v1 before rotating would strand those secrets: refused at boot.
      const tooEarly = await open(place, `v2:${k2}`);
      await assert.rejects(boot(tooEarly), masterKeyError('MASTER_KEY_VERSION_MISSING', /master key v1/));
      await tooEarly.store.close();

      const both = await open(place, `v2:${k2},v1:${k1}`);
      const { vault } = await boot(both);
      // Reads and writes keep working while the rotation runs.
      const during = Promise.all(ids.map((id) => vault.get(id, 'cred')));
      const result = await rotateMaster({
        config: both.config,
        store: both.store,
        logger: both.logger,
        batchSize: 3,
      });
      assert.deepEqual(result, { rewrapped: 7, currentVersion: 2 });
      assert.deepEqual(
        await during,
        ids.map((_, i) => `secret-${i}`),
      );
      const afterRows = await both.store.db.selectFrom('secrets').selectAll().orderBy('id').execute();
      assert.equal(afterRows.length, 7);
      afterRows.forEach((row, i) => {
        const old = before[i];
        assert.ok(old);
        assert.equal(row.id, old.id);
        assert.equal(Number(row.master_key_version), 2);
        assert.equal(row.ciphertext, old.ciphertext, 'ciphertext untouched');
        assert.notEqual(row.wrapped_key, old.wrapped_key);
      });
      assert.deepEqual(await vault.rotateMaster(), { rewrapped: 0 }, 'idempotent');
      await both.store.close();

      const v2 = await open(place, `v2:${k2}`);
      const { vault: vaultV2 } = await boot(v2);
      for (const [i, id] of ids.entries()) assert.equal(await vaultV2.get(id, 'cred'), `secret-${i}`);
      assert.ok(v2.logs.every((l) => !l.includes('secret-')));
    });

    it('never stores the plaintext', async () => {
      const place = await target.fresh();
      const o = await open(place, key());
      const { vault } = await boot(o);
      const plaintext = `sk-proj-PLAINTEXT-CANARY-${randomBytes(12).toString('hex')}`;
      await vault.put({ id: 'sec_canary', purpose: 'cred', plaintext });
      const rows = await o.store.db.selectFrom('secrets').selectAll().execute();
      const meta = await o.store.db.selectFrom('meta').selectAll().execute();
      const dump = JSON.stringify([rows, meta]);
      assert.ok(!dump.includes(plaintext) && !dump.includes('PLAINTEXT-CANARY'));
      assert.equal(await vault.get('sec_canary', 'cred'), plaintext);

      if (target.name === 'sqlite') {
        // The database file, the WAL and the shared-memory index, both while open and after close.
        const scan = async () => {
          const files = (await readdir(place.dataDir)).filter((f) => f.startsWith('portcullis.db'));
          assert.ok(files.includes('portcullis.db'));
          for (const f of files) {
            const bytes = await readFile(join(place.dataDir, f));
            assert.equal(bytes.indexOf('PLAINTEXT-CANARY'), -1, f);
            assert.equal(bytes.indexOf(Buffer.from('PLAINTEXT-CANARY', 'utf16le')), -1, f);
          }
          return files;
        };
        assert.ok((await scan()).includes('portcullis.db-wal'), 'the WAL was scanned');
        await o.store.close();
        await scan();
      }
    });
  });
}

describe('master key without configuration (sqlite first start)', () => {
  it('generates a 0600 key file on first start, warns once without the key, and reuses it', async () => {
    const place = await targets[0]!.fresh();
    const first = await open(place);
    const { vault } = await boot(first);
    const id = await vault.put({ purpose: 'cred', plaintext: 'kept across restarts' });

    const keyFile = join(place.dataDir, KEY_FILE_NAME);
    const info = await stat(keyFile);
    assert.equal(info.mode & 0o777, 0o600);
    const content = (await readFile(keyFile, 'utf8')).trim();
    keysSeen.push(content);
    assert.equal(Buffer.from(content, 'base64').length, 32);
    const warned = warnings(first.logs);
    assert.equal(warned.length, 1);
    assert.match(warned[0] ?? '', /PORTCULLIS_MASTER_KEY or PORTCULLIS_MASTER_KEY_FILE/);
    assert.ok(!first.logs.join('\n').includes(content));
    await first.store.close();

    const second = await open(place);
    const { vault: again } = await boot(second);
    assert.equal(await again.get(id, 'cred'), 'kept across restarts');
    assert.equal(warnings(second.logs).length, 0);
    assert.equal((await readFile(keyFile, 'utf8')).trim(), content, 'not regenerated');
    await second.store.close();

    // The generated file is equivalent to setting the key explicitly (how to move to production).
    const explicit = await open(place, content);
    assert.equal(await (await boot(explicit)).vault.get(id, 'cred'), 'kept across restarts');
  });

  it('refuses to generate a key when encrypted data or a check value exists', async () => {
    // Encrypted data under a configured key, then started without one.
    const place = await targets[0]!.fresh();
    const withKey = await open(place, key());
    await (await boot(withKey)).vault.put({ purpose: 'cred', plaintext: 'x' });
    await withKey.store.close();
    const without = await open(place);
    await assert.rejects(
      boot(without),
      masterKeyError('MASTER_KEY_MISSING', /Refusing to generate a new key/),
    );
    await without.store.close();

    // Only a check value (no secrets yet), and the generated key file was lost.
    const place2 = await targets[0]!.fresh();
    const first = await open(place2);
    await boot(first);
    await first.store.close();
    await unlink(join(place2.dataDir, KEY_FILE_NAME));
    const lost = await open(place2);
    await assert.rejects(boot(lost), masterKeyError('MASTER_KEY_MISSING', /master\.key does not exist/));
    await assert.rejects(stat(join(place2.dataDir, KEY_FILE_NAME)), { code: 'ENOENT' });
  });

  it('refuses a key file that other users can read, or a symbolic link', async () => {
    const place = await targets[0]!.fresh();
    await boot(await open(place)).then(() => {});
    const keyFile = join(place.dataDir, KEY_FILE_NAME);
    keysSeen.push((await readFile(keyFile, 'utf8')).trim());
    await chmod(keyFile, 0o644);
    const again = await open(place);
    await assert.rejects(boot(again), masterKeyError('MASTER_KEY_FILE_UNSAFE', /mode 0644.*chmod 600/));

    // A symbolic link could point the check at one file and the read at another: refused.
    await chmod(keyFile, 0o600);
    await rename(keyFile, `${keyFile}.real`);
    await symlink(`${keyFile}.real`, keyFile);
    await assert.rejects(boot(again), masterKeyError('MASTER_KEY_FILE_UNSAFE', /symbolic link/));
  });

  it('never generates a key for PostgreSQL', { skip: !pgUrl && 'TEST_DATABASE_URL not set' }, async () => {
    const place = await targets[1]!.fresh();
    const o = await open(place);
    await assert.rejects(boot(o), masterKeyError('MASTER_KEY_MISSING', /PORTCULLIS_MASTER_KEY/));
    await assert.rejects(stat(join(place.dataDir, KEY_FILE_NAME)), { code: 'ENOENT' });
  });
});
