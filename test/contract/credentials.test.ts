import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { LookupAddress } from 'node:dns';
import { after, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { Clock } from '../../src/clock.ts';
import { loadConfig } from '../../src/config/load.ts';
import { type AliasRepository, createAliasRepository } from '../../src/credentials/aliases.ts';
import { CredentialError } from '../../src/credentials/errors.ts';
import { type CredentialRepository, createCredentialRepository } from '../../src/credentials/repository.ts';
import { createEgress, type Egress } from '../../src/egress/index.ts';
import { PortcullisError } from '../../src/errors/catalogue.ts';
import { createRouter, type Router } from '../../src/routing/resolve.ts';
import { resolveMasterKeys } from '../../src/secrets/master-key.ts';
import { createVault, type Vault } from '../../src/secrets/vault.ts';
import { openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/types.ts';
import { createWorkspaceRepository, type WorkspaceRepository } from '../../src/workspaces/repository.ts';
import { captureLogs, tempDir } from '../helpers/gateway.ts';
import { isolatedSchema } from '../helpers/postgres.ts';

/**
 * Provider credentials, aliases and routing over the real store: SQLite always, PostgreSQL when
 * TEST_DATABASE_URL is set (each run in its own schema). DNS is a fixed table, so the egress checks
 * do not depend on the network.
 */

const pgUrl = process.env.TEST_DATABASE_URL;
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const DNS: Record<string, string> = {
  'api.openai.com': '104.18.7.192',
  'api.anthropic.com': '160.79.104.10',
  'api.groq.com': '104.18.40.1',
  'internal.example.com': '10.20.30.40',
  'vllm.internal': '10.0.0.7',
};
const lookup = async (host: string): Promise<LookupAddress[]> => {
  const address = DNS[host];
  if (!address) throw Object.assign(new Error(`ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return [{ address, family: 4 }];
};

/** Secrets are random per run, so finding one anywhere is never a coincidence. */
const secretOf = (prefix: string) => `${prefix}${randomBytes(24).toString('base64url')}`;

interface World {
  store: Store;
  vault: Vault;
  workspaces: WorkspaceRepository;
  credentials: CredentialRepository;
  aliases: AliasRepository;
  router: Router;
  logs: ReturnType<typeof captureLogs>;
  /** A repository whose egress allowlist is `allow`, over the same store. */
  withAllow(allow: string[]): CredentialRepository;
}

async function freshPlace(dialect: 'sqlite' | 'postgres'): Promise<Record<string, string>> {
  const tmp = tempDir('pcx-credentials-');
  cleanups.push(() => tmp.remove());
  const env: Record<string, string> = { PORTCULLIS_DATA_DIR: tmp.dir, PORTCULLIS_LOG_LEVEL: 'debug' };
  if (dialect === 'postgres') {
    const schema = await isolatedSchema(pgUrl ?? '', 'credentials_test');
    cleanups.push(schema.drop);
    env.DATABASE_URL = schema.url;
    env.PORTCULLIS_MASTER_KEY = randomBytes(32).toString('base64');
  }
  return env;
}

async function world(dialect: 'sqlite' | 'postgres'): Promise<World> {
  const { config } = loadConfig({ env: await freshPlace(dialect) });
  const logs = captureLogs('debug');
  const store = await openStore({ config, logger: logs.logger });
  cleanups.push(() => store.close());
  await store.migrate();
  // Every call moves time forward, so creation order is well defined.
  let t = 1_700_000_000_000;
  const clock: Clock = { now: () => ++t };
  const keys = await resolveMasterKeys({
    config,
    store,
    logger: logs.logger,
    dataDir: config.dataDir,
    clock,
  });
  const vault = createVault({ store, keys, clock });
  const router = createRouter({ store, clock, ttlMs: 60_000 });
  const egressFor = (allow: string[]): Egress => {
    const egress = createEgress({ allow, logger: logs.logger, lookup });
    cleanups.push(() => egress.close());
    return egress;
  };
  const repo = (allow: string[]) =>
    createCredentialRepository({
      store,
      vault,
      clock,
      egress: egressFor(allow),
      egressAllow: allow,
      logger: logs.logger,
      onChange: (ws) => router.invalidate(ws),
    });
  return {
    store,
    vault,
    workspaces: createWorkspaceRepository({ store, clock }),
    credentials: repo([]),
    aliases: createAliasRepository({ store, clock, onChange: (ws) => router.invalidate(ws) }),
    router,
    logs,
    withAllow: repo,
  };
}

/** Every row of every table, as one string. */
async function dumpAllTables(store: Store): Promise<string> {
  const names =
    store.dialect === 'sqlite'
      ? await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(store.db)
      : await sql<{
          name: string;
        }>`select table_name as name from information_schema.tables where table_schema = current_schema()`.execute(
          store.db,
        );
  assert.ok(names.rows.length >= 6, 'found the tables');
  let out = '';
  for (const { name } of names.rows) {
    const rows = await sql`select * from ${sql.table(name)}`.execute(store.db);
    out += `${name}: ${JSON.stringify(rows.rows)}\n`;
  }
  return out;
}

function credentialError(code: string, message?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof CredentialError, String(err));
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  };
}

const targets = [
  { name: 'sqlite' as const, skip: false },
  { name: 'postgres' as const, skip: !pgUrl && 'TEST_DATABASE_URL not set' },
];

for (const target of targets) {
  describe(`provider credentials on ${target.name}`, { skip: target.skip }, () => {
    it('never returns, logs or stores the secret in plaintext', async () => {
      const w = await world(target.name);
      const ws = await w.workspaces.create('acme');
      const secret = secretOf('sk-proj-');
      const created = await w.credentials.add({
        workspaceId: ws.id,
        name: 'openai-main',
        provider: 'openai',
        secret,
      });
      assert.match(created.id, /^crd_/);
      assert.equal(created.baseUrl, 'https://api.openai.com/v1');
      assert.ok(created.models.includes('gpt-*'));
      assert.equal(created.masked, `sk-proj-${secret.slice(8, 11)}…${secret.slice(-4)}`);

      const listed = await w.credentials.list(ws.id);
      const shown = await w.credentials.show(ws.id, 'openai-main');
      const found = await w.credentials.findForModel(ws.id, 'gpt-4o');
      for (const out of [created, listed, shown, found]) {
        const json = JSON.stringify(out);
        assert.ok(!json.includes(secret), 'secret in a returned value');
        assert.ok(!json.includes(secret.slice(8, 30)), 'part of the secret in a returned value');
        assert.ok(!/ciphertext|wrapped|secret_id/i.test(json), 'storage internals in a returned value');
      }
      assert.deepEqual(shown, created);

      // The proxy gets it, in memory.
      assert.equal(await w.credentials.resolveSecret(created.id, ws.id), secret);

      // Rotation: same id, new secret and masked form; the old one is gone everywhere.
      const rotated = secretOf('sk-proj-');
      const updated = await w.credentials.update(ws.id, 'openai-main', { secret: `${rotated}\n` });
      assert.equal(updated.id, created.id);
      assert.notEqual(updated.masked, created.masked);
      assert.equal(await w.credentials.resolveSecret(created.id, ws.id), rotated);

      const dump = await dumpAllTables(w.store);
      assert.ok(dump.includes('openai-main') && dump.includes(updated.masked), 'the dump holds the rows');
      for (const s of [secret, rotated]) {
        assert.ok(!dump.includes(s), 'plaintext secret in the database');
        assert.ok(
          !dump.includes(Buffer.from(s).toString('base64').slice(0, 24)),
          'base64 secret in the database',
        );
      }
      assert.ok(!w.logs.text().includes(secret) && !w.logs.text().includes(rotated), 'secret in a log line');

      // Removal destroys the secret, frees the name, and resolving it fails.
      const secretRows = await w.store.db
        .selectFrom('secrets')
        .select('id')
        .where('purpose', '=', 'provider-credential')
        .execute();
      assert.equal(secretRows.length, 1);
      await w.credentials.remove(ws.id, 'openai-main');
      assert.equal(
        (
          await w.store.db
            .selectFrom('secrets')
            .select('id')
            .where('purpose', '=', 'provider-credential')
            .execute()
        ).length,
        0,
      );
      assert.deepEqual(await w.credentials.list(ws.id), []);
      await assert.rejects(
        w.credentials.resolveSecret(created.id, ws.id),
        credentialError('credential_not_found'),
      );
      const again = await w.credentials.add({
        workspaceId: ws.id,
        name: 'openai-main',
        provider: 'openai',
        secret,
      });
      assert.notEqual(again.id, created.id);
    });

    it('validates names, providers, models, secrets, URLs and Azure options', async () => {
      const w = await world(target.name);
      const ws = await w.workspaces.create('acme');
      const secret = secretOf('sk-');
      const add = (over: Record<string, unknown>) =>
        w.credentials.add({ workspaceId: ws.id, name: 'c', provider: 'openai', secret, ...over });
      await assert.rejects(
        add({ name: 'bad name!' }),
        credentialError('invalid_credential', /credential name/),
      );
      await assert.rejects(
        add({ provider: 'gemini' }),
        credentialError('invalid_credential', /openai-compatible/),
      );
      await assert.rejects(add({ models: [] }), credentialError('invalid_credential', /at least one/));
      await assert.rejects(
        add({ models: ['gpt 4'] }),
        credentialError('invalid_credential', /not a valid model glob/),
      );
      await assert.rejects(add({ secret: '   ' }), credentialError('invalid_credential', /empty/));
      await assert.rejects(
        add({ secret: `${secret}\r\nX-Injected: 1` }),
        (err: unknown) =>
          credentialError('invalid_credential', /printable ASCII/)(err) && !String(err).includes(secret),
      );
      await assert.rejects(
        add({ provider: 'openai-compatible', models: ['llama*'] }),
        credentialError('invalid_credential', /needs the server URL/),
      );
      await assert.rejects(
        add({ provider: 'azure-openai', models: ['gpt-4o'] }),
        credentialError('invalid_credential', /resource URL/),
      );
      await assert.rejects(
        add({ baseUrl: 'http://api.groq.com/openai/v1' }),
        credentialError('invalid_credential', /must use https/),
      );
      await assert.rejects(
        add({ baseUrl: 'ftp://api.groq.com/' }),
        credentialError('invalid_credential', /https/),
      );
      await assert.rejects(
        add({ baseUrl: 'https://user:hunter2@api.groq.com/v1' }),
        (err: unknown) =>
          credentialError('invalid_credential', /user:password@/)(err) && !String(err).includes('hunter2'),
      );
      await assert.rejects(
        add({ baseUrl: 'https://api.groq.com/v1?key=abc' }),
        (err: unknown) =>
          credentialError('invalid_credential', /query string/)(err) && !String(err).includes('key=abc'),
      );
      await assert.rejects(
        add({ options: { apiVersion: '2024-10-21' } }),
        credentialError('invalid_credential', /only to azure/),
      );
      await assert.rejects(
        add({ options: { listed: ['claude-3'] } }),
        credentialError('invalid_credential', /not matched by this credential/),
      );
      await assert.rejects(
        w.credentials.add({ workspaceId: 'wsp_nope', name: 'c', provider: 'openai', secret }),
        credentialError('workspace_not_found'),
      );

      const groq = await add({
        provider: 'openai-compatible',
        baseUrl: 'https://api.groq.com/openai/v1/',
        models: ['llama-*'],
      });
      assert.equal(groq.baseUrl, 'https://api.groq.com/openai/v1');
      await assert.rejects(add({ models: ['gpt-*'] }), credentialError('credential_exists'));

      const azure = await w.credentials.add({
        workspaceId: ws.id,
        name: 'azure',
        provider: 'azure-openai',
        baseUrl: 'https://acme.openai.azure.com',
        models: ['gpt-4o', 'gpt-4o-mini'],
        secret,
        options: { deployments: { 'gpt-4o': 'prod-4o' } },
      });
      assert.deepEqual(azure.options, { apiVersion: '2024-10-21', deployments: { 'gpt-4o': 'prod-4o' } });
      await assert.rejects(
        w.credentials.update(ws.id, 'azure', { options: { apiVersion: 'latest' } }),
        credentialError('invalid_credential', /api-version/),
      );
      // A name that does not resolve from here is accepted (checked again at every connection), with a warning.
      const anthropic = await w.credentials.add({
        workspaceId: ws.id,
        name: 'claude',
        provider: 'anthropic',
        secret,
      });
      assert.equal(anthropic.baseUrl, 'https://api.anthropic.com');
      assert.equal(azure.baseUrl, 'https://acme.openai.azure.com');
      assert.match(w.logs.text(), /credential_base_url_unresolved.*acme\.openai\.azure\.com/);
    });

    it('refuses private and metadata base URLs at creation, unless allowlisted', async () => {
      const w = await world(target.name);
      const ws = await w.workspaces.create('acme');
      const secret = secretOf('sk-');
      const add = (repo: CredentialRepository, name: string, baseUrl: string) =>
        repo.add({ workspaceId: ws.id, name, provider: 'openai-compatible', baseUrl, models: ['*'], secret });

      await assert.rejects(
        add(w.credentials, 'meta', 'https://169.254.169.254/latest'),
        credentialError('base_url_refused', /169\.254\.169\.254 is a cloud instance-metadata endpoint/),
      );
      for (const [url, host, range] of [
        ['https://10.0.0.1/v1', '10.0.0.1', 'private'],
        ['https://[::1]:8443/v1', '::1', 'loopback'],
        ['https://internal.example.com/v1', 'internal.example.com', 'private'],
      ] as const) {
        await assert.rejects(add(w.credentials, 'x', url), (err: unknown) => {
          credentialError('base_url_refused')(err);
          const message = (err as Error).message;
          assert.ok(message.includes(`host ${host} is a ${range} address`), message);
          assert.ok(message.includes(`PORTCULLIS_EGRESS_ALLOW=${host}`), message);
          assert.ok(message.includes('SSRF'), message);
          return true;
        });
      }
      assert.deepEqual(await w.credentials.list(ws.id), [], 'nothing was stored');
      assert.equal(
        (await w.store.db.selectFrom('secrets').select('id').execute()).length,
        0,
        'no orphaned secret',
      );

      // The operator allows a local server: plain http is then fine for it, and only for it.
      const allowed = w.withAllow(['10.0.0.1', 'vllm.internal']);
      const local = await add(allowed, 'local', 'http://10.0.0.1:8000/v1');
      assert.equal(local.baseUrl, 'http://10.0.0.1:8000/v1');
      const named = await add(allowed, 'vllm', 'http://vllm.internal:8000/v1');
      assert.equal(named.baseUrl, 'http://vllm.internal:8000/v1');
      await assert.rejects(
        add(allowed, 'other', 'https://10.0.0.2/v1'),
        credentialError('base_url_refused', /10\.0\.0\.2/),
      );
      await assert.rejects(
        add(allowed, 'meta', 'https://169.254.169.254/'),
        credentialError('base_url_refused', /metadata/),
      );
      await assert.rejects(
        add(allowed, 'plain', 'http://api.groq.com/v1'),
        credentialError('invalid_credential', /https/),
      );
      // And an update cannot move an existing credential somewhere private either.
      await assert.rejects(
        w.credentials.update(ws.id, 'local', { baseUrl: 'https://169.254.169.254/' }),
        credentialError('base_url_refused'),
      );
    });

    it('keeps workspaces apart: no resolving, listing, aliasing or routing across them', async () => {
      const w = await world(target.name);
      const a = await w.workspaces.create('alpha');
      const b = await w.workspaces.create('beta');
      const secretA = secretOf('sk-ant-api03-');
      const credA = await w.credentials.add({
        workspaceId: a.id,
        name: 'claude',
        provider: 'anthropic',
        secret: secretA,
      });

      assert.deepEqual(await w.credentials.list(b.id), []);
      assert.equal(await w.credentials.find(b.id, credA.id), undefined);
      assert.equal(await w.credentials.find(b.id, 'claude'), undefined);
      await assert.rejects(
        w.credentials.resolveSecret(credA.id, b.id),
        credentialError('credential_not_found'),
      );
      await assert.rejects(w.credentials.remove(b.id, credA.id), credentialError('credential_not_found'));
      await assert.rejects(
        w.credentials.update(b.id, 'claude', { secret: secretOf('sk-') }),
        credentialError('credential_not_found'),
      );
      await assert.rejects(
        w.aliases.set(b.id, 'smart', [{ credential: 'claude', model: 'claude-sonnet-4-5' }]),
        credentialError('credential_not_found', /no provider credential "claude" in this workspace/),
      );
      assert.deepEqual(await w.credentials.findForModel(b.id, 'claude-sonnet-4-5'), []);
      await assert.rejects(
        w.router.resolveTargets({ workspaceId: b.id, model: 'claude-sonnet-4-5' }),
        (err: unknown) => err instanceof PortcullisError && err.code === 'model_not_found',
      );
      assert.deepEqual(await w.router.listModels(b.id), []);

      // B gets its own credential of the same name; each resolves its own secret.
      const secretB = secretOf('sk-ant-api03-');
      const credB = await w.credentials.add({
        workspaceId: b.id,
        name: 'claude',
        provider: 'anthropic',
        secret: secretB,
      });
      assert.equal(await w.credentials.resolveSecret(credA.id, a.id), secretA);
      assert.equal(await w.credentials.resolveSecret(credB.id, b.id), secretB);
      await assert.rejects(
        w.credentials.resolveSecret(credB.id, a.id),
        credentialError('credential_not_found'),
      );
      const [targetB] = await w.router.resolveTargets({ workspaceId: b.id, model: 'claude-sonnet-4-5' });
      assert.equal(targetB?.credentialId, credB.id);
      // The vault binds the secret to its workspace: pointing B's row at A's secret fails to decrypt.
      const rowA = await w.store.db
        .selectFrom('provider_credentials')
        .select('secret_id')
        .where('id', '=', credA.id)
        .executeTakeFirstOrThrow();
      await w.store.db
        .updateTable('provider_credentials')
        .set({ secret_id: rowA.secret_id })
        .where('id', '=', credB.id)
        .execute();
      const fresh = createCredentialRepository({
        store: w.store,
        vault: w.vault,
        clock: { now: () => Date.now() },
        egress: { checkUrl: async () => {} },
        egressAllow: [],
        logger: w.logs.logger,
      });
      await assert.rejects(fresh.resolveSecret(credB.id, b.id), /cannot be decrypted/);
    });

    it('routes aliases in their order, globs in creation order, and unknown models to model_not_found', async () => {
      const w = await world(target.name);
      const ws = await w.workspaces.create('acme');
      const secret = secretOf('sk-');
      const openai = await w.credentials.add({
        workspaceId: ws.id,
        name: 'openai-main',
        provider: 'openai',
        models: ['gpt-4o*', 'text-embedding-3-small'],
        secret,
        options: { listed: ['gpt-4o', 'gpt-4o-mini'] },
      });
      const backup = await w.credentials.add({
        workspaceId: ws.id,
        name: 'openai-backup',
        provider: 'openai-compatible',
        baseUrl: 'https://api.groq.com/openai/v1',
        models: ['gpt-4o', 'llama-*'],
        secret,
      });
      const claude = await w.credentials.add({
        workspaceId: ws.id,
        name: 'claude',
        provider: 'anthropic',
        secret,
      });

      const byGlob = await w.router.resolveTargets({ workspaceId: ws.id, model: 'gpt-4o' });
      assert.deepEqual(
        byGlob.map((t) => [t.credentialName, t.upstreamModel]),
        [
          ['openai-main', 'gpt-4o'],
          ['openai-backup', 'gpt-4o'],
        ],
      );
      assert.deepEqual(byGlob[0], {
        credentialId: openai.id,
        credentialName: 'openai-main',
        provider: 'openai',
        baseUrl: 'https://api.openai.com/v1',
        upstreamModel: 'gpt-4o',
        options: { listed: ['gpt-4o', 'gpt-4o-mini'] },
      });
      assert.deepEqual(
        (await w.credentials.findForModel(ws.id, 'gpt-4o')).map((c) => c.id),
        [openai.id, backup.id],
      );

      await w.aliases.set(ws.id, 'smart', [
        { credential: 'claude', model: 'claude-sonnet-4-5' },
        { credential: 'openai-backup', model: 'llama-3.3-70b' },
        { credential: 'openai-main', model: 'gpt-4o' },
      ]);
      const viaAlias = await w.router.resolveTargets({ workspaceId: ws.id, model: 'smart' });
      assert.deepEqual(
        viaAlias.map((t) => [t.credentialId, t.provider, t.upstreamModel]),
        [
          [claude.id, 'anthropic', 'claude-sonnet-4-5'],
          [backup.id, 'openai-compatible', 'llama-3.3-70b'],
          [openai.id, 'openai', 'gpt-4o'],
        ],
      );
      // Replacing the alias changes the order at once in this process (the repository invalidates).
      await w.aliases.set(ws.id, 'smart', [
        { credential: 'openai-main', model: 'gpt-4o' },
        { credential: 'claude', model: 'claude-sonnet-4-5' },
      ]);
      assert.deepEqual(
        (await w.router.resolveTargets({ workspaceId: ws.id, model: 'smart' })).map((t) => t.credentialName),
        ['openai-main', 'claude'],
      );
      await assert.rejects(
        w.aliases.set(ws.id, 'bad', [{ credential: 'claude', model: 'gpt-4o' }]),
        credentialError('invalid_alias', /does not serve "gpt-4o"/),
      );
      await assert.rejects(
        w.aliases.set(ws.id, 'empty', []),
        credentialError('invalid_alias', /at least one/),
      );
      await assert.rejects(
        w.credentials.remove(ws.id, 'claude'),
        credentialError('credential_in_use', /"smart"/),
      );

      await assert.rejects(
        w.router.resolveTargets({ workspaceId: ws.id, model: 'mistral-large' }),
        (err: unknown) => {
          assert.ok(err instanceof PortcullisError);
          assert.equal(err.code, 'model_not_found');
          assert.equal(err.status, 404);
          assert.match(err.message, /"mistral-large" does not exist/);
          return true;
        },
      );

      assert.deepEqual(
        (await w.router.listModels(ws.id)).map((m) => [m.id, m.kind, m.ownedBy]),
        [
          ['gpt-4o', 'model', 'openai'],
          ['gpt-4o-mini', 'model', 'openai'],
          ['smart', 'alias', 'portcullis'],
          ['text-embedding-3-small', 'model', 'openai'],
        ],
      );

      await w.aliases.remove(ws.id, 'smart');
      await assert.rejects(w.router.resolveTargets({ workspaceId: ws.id, model: 'smart' }), PortcullisError);
      await assert.rejects(w.aliases.remove(ws.id, 'smart'), credentialError('alias_not_found'));
      await w.credentials.remove(ws.id, 'claude');
      await assert.rejects(
        w.router.resolveTargets({ workspaceId: ws.id, model: 'claude-sonnet-4-5' }),
        PortcullisError,
      );
    });
  });
}
