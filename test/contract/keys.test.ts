import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { createMemoryCounters } from '../../src/counters/memory.ts';
import { PortcullisError } from '../../src/errors/catalogue.ts';
import { envelope } from '../../src/errors/envelope.ts';
import { KeyError } from '../../src/keys/errors.ts';
import { generateKey, parseKey } from '../../src/keys/format.ts';
import { loadPepper } from '../../src/keys/hash.ts';
import { createKeyRepository, type KeyRepository } from '../../src/keys/repository.ts';
import { createKeyVerifier, type KeyVerifier } from '../../src/keys/verify.ts';
import { createAuthenticator } from '../../src/pipeline/authenticate.ts';
import { parseMasterKeys } from '../../src/secrets/master-key.ts';
import { createVault } from '../../src/secrets/vault.ts';
import { isStoreUnavailableError } from '../../src/store/open.ts';
import {
  dumpDatabase,
  freshPlace,
  ManualClock,
  type Opened,
  openPlace,
  type Place,
  pgUrl,
} from './keys-helpers.ts';

/**
 * API keys over the real store, on SQLite and (with TEST_DATABASE_URL) PostgreSQL: lifecycle,
 * verification outcomes, storage hygiene, brute-force lockout.
 */

const HOUR = 3_600_000;
const places: Place[] = [];
const toClose: (() => Promise<void>)[] = [];
/** Every raw key this file saw: none may appear in a dump, a log line or a list/show output. */
const rawKeys: string[] = [];

after(async () => {
  for (const c of toClose.reverse()) await c().catch(() => {});
  for (const p of places) await p.cleanup();
});

interface Env extends Opened {
  clock: ManualClock;
  repo: KeyRepository;
  verifier: KeyVerifier;
  counters: ReturnType<typeof createMemoryCounters>;
}

async function setup(dialect: 'sqlite' | 'postgres'): Promise<Env> {
  const place = await freshPlace(dialect);
  places.push(place);
  const clock = new ManualClock();
  const opened = await openPlace(place, clock);
  const counters = createMemoryCounters({ clock });
  const repo = createKeyRepository({ store: opened.store, clock, pepper: opened.pepper, counters });
  const verifier = createKeyVerifier({
    store: opened.store,
    pepper: opened.pepper,
    clock,
    counters,
    logger: opened.logger,
  });
  await verifier.start();
  toClose.push(async () => {
    await verifier.stop();
    await counters.close();
    await opened.store.close();
  });
  return { ...opened, clock, repo, verifier, counters };
}

async function create(env: Env, extra: Partial<Parameters<KeyRepository['create']>[0]> = {}) {
  const created = await env.repo.create({ workspaceId: env.workspaceId, name: 'app', ...extra });
  rawKeys.push(created.key);
  return created;
}

async function refusal(p: Promise<unknown>): Promise<PortcullisError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof PortcullisError, String(err));
    return err;
  }
  assert.fail('expected a refusal');
}

/** The wire body, as the error handler would send it. */
const body = (err: PortcullisError) => JSON.stringify(envelope(err, 'req_same'));

/** A key with the same id and environment but another (checksum-valid) secret. */
function wrongSecretFor(raw: string): string {
  const parsed = parseKey(raw);
  assert.ok(parsed);
  const other = generateKey(parsed.environment, parsed.id);
  rawKeys.push(other.raw);
  return other.raw;
}

const settle = () => tick(); // memory pub/sub delivers on a later turn

const dialects = [
  { name: 'sqlite' as const, skip: false as const },
  { name: 'postgres' as const, skip: !pgUrl && 'TEST_DATABASE_URL not set' },
];

for (const d of dialects) {
  describe(`API keys on ${d.name}`, { skip: d.skip }, () => {
    it('creates a key shown once, with safe defaults, and verifies it', async () => {
      const env = await setup(d.name);
      const { key, record } = await create(env);
      assert.ok(parseKey(key));
      assert.equal(record.id, parseKey(key)?.id);
      assert.deepEqual(record.scopes, ['chat', 'embeddings', 'responses', 'messages', 'models:read']);
      assert.deepEqual(record.models, ['*']);
      assert.deepEqual([record.allowIps, record.allowOrigins, record.tags], [[], [], []]);
      assert.equal(record.status, 'active');
      assert.equal(record.masked, `${key.slice(0, 12)}…${key.slice(-4)}`);
      assert.ok(!('secretHash' in record) && !JSON.stringify(record).includes('hash'));

      const principal = await env.verifier.verify(key, { clientIp: '198.51.100.7' });
      assert.equal(principal.keyId, record.id);
      assert.equal(principal.workspaceId, env.workspaceId);
      assert.ok(Object.isFrozen(principal) && Object.isFrozen(principal.scopes));
    });

    it('lists and shows keys masked only; the raw key appears nowhere in the database', async () => {
      const env = await setup(d.name);
      const a = await create(env, { name: 'a', allowIps: ['203.0.113.0/24'], limits: { rpm: 60 } });
      env.clock.advance(1);
      const b = await create(env, { name: 'b', environment: 'test', tags: ['team:ml'] });
      await env.repo.rotate(b.record.id).then((r) => rawKeys.push(r.key));
      await env.verifier.verify(a.key, { clientIp: '203.0.113.9' });
      await env.verifier.stop(); // flushes the last-used write
      const listed = await env.repo.list(env.workspaceId);
      assert.deepEqual(
        listed.map((k) => k.name),
        ['a', 'b'],
      );
      assert.equal(listed[0]?.lastUsedIp, '203.0.113.9');
      assert.equal(listed[0]?.lastUsedAt, env.clock.now());
      const shown = await env.repo.show(a.record.id);
      const outputs = JSON.stringify([listed, shown]);
      const dump = await dumpDatabase(env.store);
      assert.ok(dump.includes(a.record.id), 'the dump covers api_keys');
      for (const raw of rawKeys) {
        const secret = parseKey(raw)?.secret ?? raw;
        assert.ok(!outputs.includes(raw) && !outputs.includes(secret), 'raw key in list/show output');
        assert.ok(!dump.includes(raw) && !dump.includes(secret), 'raw key or secret in the database');
      }
      const logs = env.logs.join('\n');
      for (const raw of rawKeys)
        assert.ok(!logs.includes(parseKey(raw)?.secret ?? raw), 'secret in a log line');
    });

    it('answers unknown, wrong and malformed keys with byte-identical 401 bodies', async () => {
      const env = await setup(d.name);
      const { key } = await create(env);
      const unknown = generateKey('live').raw;
      const wrong = wrongSecretFor(key);
      const errors = [
        await refusal(env.verifier.verify(unknown)),
        await refusal(env.verifier.verify(wrong)),
        await refusal(env.verifier.verify(`${key.slice(0, -1)}x`)),
        await refusal(env.verifier.verify('not a key')),
        await refusal(env.verifier.verify(key.replace('pcx_live_', 'pcx_test_'))),
      ];
      for (const e of errors) {
        assert.equal(e.code, 'invalid_api_key');
        assert.equal(e.status, 401);
        assert.equal(body(e), body(errors[0] as PortcullisError));
        assert.deepEqual(e.headers, errors[0]?.headers);
      }
      // And the right key still works (no state was changed by the failures).
      await env.verifier.verify(key);
    });

    it('takes the same time, within a loose factor, for unknown ids and wrong secrets', async () => {
      const env = await setup(d.name);
      const { key } = await create(env);
      const unknown = generateKey('live').raw;
      const wrong = wrongSecretFor(key);
      const time = async (raw: string, n: number) => {
        const start = process.hrtime.bigint();
        for (let i = 0; i < n; i++) await env.verifier.verify(raw).catch(() => {});
        return Number(process.hrtime.bigint() - start) / n;
      };
      await time(unknown, 50); // warm both paths (and the cache)
      await time(wrong, 50);
      const tUnknown = Math.min(await time(unknown, 500), await time(unknown, 500));
      const tWrong = Math.min(await time(wrong, 500), await time(wrong, 500));
      const ratio = tUnknown / tWrong;
      assert.ok(ratio > 1 / 3 && ratio < 3, `unknown ${tUnknown} ns vs wrong ${tWrong} ns`);
    });

    it('refuses a revoked key at once, and only to its holder', async () => {
      const env = await setup(d.name);
      const { key, record } = await create(env);
      await env.verifier.verify(key);
      const revoked = await env.repo.revoke(record.id);
      assert.equal(revoked.status, 'revoked');
      await settle();
      assert.equal((await refusal(env.verifier.verify(key))).code, 'api_key_revoked');
      // Someone guessing at the id learns nothing about its state.
      assert.equal((await refusal(env.verifier.verify(wrongSecretFor(key)))).code, 'invalid_api_key');
      await assert.rejects(
        env.repo.rotate(record.id),
        (e: unknown) => e instanceof KeyError && e.code === 'key_not_active',
      );
    });

    it('refuses an expired key with api_key_expired', async () => {
      const env = await setup(d.name);
      const { key } = await create(env, { expiresAt: env.clock.now() + HOUR });
      await env.verifier.verify(key);
      env.clock.advance(HOUR);
      const err = await refusal(env.verifier.verify(key));
      assert.equal(err.code, 'api_key_expired');
      assert.match(err.message, /2030-01-01T01:00:00\.000Z/);
      await assert.rejects(create(env, { expiresAt: env.clock.now() - 1 }), KeyError);
    });

    it('rotates: the old secret works through the grace period, then is refused as expired', async () => {
      const env = await setup(d.name);
      const { key: oldKey, record } = await create(env);
      const rotated = await env.repo.rotate(record.id, { graceMs: 2 * HOUR });
      rawKeys.push(rotated.key);
      assert.equal(rotated.record.id, record.id);
      assert.notEqual(rotated.key, oldKey);
      assert.equal(rotated.record.previousValidUntil, env.clock.now() + 2 * HOUR);
      await settle();
      await env.verifier.verify(oldKey);
      await env.verifier.verify(rotated.key);
      env.clock.advance(2 * HOUR);
      assert.equal((await refusal(env.verifier.verify(oldKey))).code, 'api_key_expired');
      await env.verifier.verify(rotated.key);
      // A second rotation with no grace retires the current secret at once.
      const again = await env.repo.rotate(record.id, { graceMs: 0 });
      rawKeys.push(again.key);
      await settle();
      assert.equal((await refusal(env.verifier.verify(rotated.key))).code, 'api_key_expired');
      // The secret from two rotations ago is simply not a secret of this key any more.
      assert.equal((await refusal(env.verifier.verify(oldKey))).code, 'invalid_api_key');
      await env.verifier.verify(again.key);
    });

    it('updates attributes, which verifiers pick up from the change notice', async () => {
      const env = await setup(d.name);
      const { key, record } = await create(env);
      assert.deepEqual((await env.verifier.verify(key)).models, ['*']);
      const updated = await env.repo.update(record.id, {
        name: 'renamed',
        scopes: ['embeddings'],
        models: ['text-embedding-*'],
        allowIps: ['2001:db8::/32'],
        allowOrigins: ['https://App.example.com'],
        limits: { tpm: 1000 },
        tags: ['x'],
      });
      assert.equal(updated.name, 'renamed');
      assert.deepEqual(updated.allowOrigins, ['https://app.example.com']);
      await settle();
      const p = await env.verifier.verify(key);
      assert.deepEqual(
        [p.name, p.scopes, p.models, p.allowIps],
        ['renamed', ['embeddings'], ['text-embedding-*'], ['2001:db8::/32']],
      );
      assert.deepEqual(p.limits, { tpm: 1000 });
      await assert.rejects(env.repo.update(record.id, { scopes: ['root'] }), KeyError);
      await assert.rejects(env.repo.update(record.id, { allowIps: ['10.0.0.0/33'] }), KeyError);
    });

    it('soft-deletes: hidden from lists, refused as revoked, the row kept', async () => {
      const env = await setup(d.name);
      const { key, record } = await create(env);
      await create(env, { name: 'other' });
      const deleted = await env.repo.delete(record.id);
      assert.equal(deleted.status, 'deleted');
      assert.ok(deleted.revokedAt !== null);
      await settle();
      assert.deepEqual(
        (await env.repo.list(env.workspaceId)).map((k) => k.name),
        ['other'],
      );
      assert.equal((await env.repo.list(env.workspaceId, { includeDeleted: true })).length, 2);
      assert.equal((await env.repo.show(record.id)).status, 'deleted');
      assert.equal((await refusal(env.verifier.verify(key))).code, 'api_key_revoked');
    });

    it('keeps tenants apart and enforces the workspace lifetime policy', async () => {
      const env = await setup(d.name);
      const { record } = await create(env);
      await assert.rejects(
        env.repo.show(record.id, { workspaceId: 'wsp_someone_else' }),
        (e: unknown) => e instanceof KeyError && e.code === 'key_not_found',
      );
      await assert.rejects(env.repo.revoke(record.id, { workspaceId: 'wsp_someone_else' }), KeyError);
      await env.store.db
        .updateTable('workspaces')
        .set({ settings: JSON.stringify({ keys: { maxLifetimeDays: 30 } }) })
        .where('id', '=', env.workspaceId)
        .execute();
      const bounded = await create(env, { name: 'bounded' });
      assert.equal(bounded.record.expiresAt, env.clock.now() + 30 * 86_400_000);
      await assert.rejects(create(env, { expiresAt: env.clock.now() + 31 * 86_400_000 }), /at most 30 days/);
    });

    it('keeps keys valid across a master key rotation (the pepper is re-wrapped, not re-derived)', async () => {
      const env = await setup(d.name);
      const { key } = await create(env);
      const place = places.at(-1) as Place;
      const ring = parseMasterKeys(`v2:${randomBytes(32).toString('base64')},v1:${place.masterKey}`);
      const { rewrapped } = await createVault({
        store: env.store,
        keys: ring,
        clock: env.clock,
      }).rotateMaster();
      assert.ok(rewrapped >= 1);
      const onlyNew = parseMasterKeys(`v2:${ring.current.key.export().toString('base64')}`);
      const pepper = await loadPepper({ store: env.store, keys: onlyNew, clock: env.clock });
      const verifier = createKeyVerifier({
        store: env.store,
        pepper,
        clock: env.clock,
        counters: env.counters,
        logger: env.logger,
      });
      assert.equal((await verifier.verify(key)).keyId, parseKey(key)?.id);
      await verifier.stop();
    });

    it('agrees on one pepper when replicas start together, and fails closed when the store is down', async () => {
      const env = await setup(d.name);
      const place = places.at(-1) as Place;
      await env.store.db.deleteFrom('secrets').where('id', '=', 'api-key-pepper').execute();
      const ring = parseMasterKeys(place.masterKey);
      const peppers = await Promise.all(
        Array.from({ length: 4 }, () => loadPepper({ store: env.store, keys: ring, clock: env.clock })),
      );
      for (const p of peppers) assert.ok(p.equals(peppers[0] as (typeof peppers)[0]));

      const { key } = await create(env);
      await env.store.close();
      await assert.rejects(env.verifier.verify(key), (e: unknown) => isStoreUnavailableError(e));
    });

    it('locks out a source after repeated failures, before any lookup, with retry-after', async () => {
      const env = await setup(d.name);
      const { key } = await create(env);
      let lookups = 0;
      const authenticator = createAuthenticator({
        verifier: {
          verify: (raw, ctx) => {
            lookups++;
            return env.verifier.verify(raw, ctx);
          },
        },
        counters: env.counters,
        logger: env.logger,
        clock: env.clock,
        bruteForce: { ip: { failures: 5, windowMs: 60_000, cooldownMs: 120_000 } },
      });
      const attacker = (raw: string) =>
        authenticator.authenticate({
          headers: { authorization: `Bearer ${raw}` },
          url: '/v1/models',
          clientIp: '192.0.2.66',
        });
      for (let i = 0; i < 6; i++) {
        assert.equal((await refusal(attacker(generateKey('live').raw))).code, 'invalid_api_key');
      }
      const before = lookups;
      const blocked = await refusal(attacker(key));
      assert.equal(blocked.code, 'too_many_auth_failures');
      assert.equal(blocked.status, 429);
      assert.equal(blocked.headers['retry-after'], '120');
      assert.equal(lookups, before, 'refused before any lookup');
      assert.ok(env.logs.some((l) => l.includes('"event":"auth.blocked"') && l.includes('192.0.2.66')));
      // Another address is unaffected; after the cooling-off period the source may try again.
      await authenticator.authenticate({
        headers: { 'x-api-key': key },
        url: '/v1/models',
        clientIp: '192.0.2.67',
      });
      env.clock.advance(120_000);
      await attacker(key);
      // Keys in the URL are refused outright, before anything else.
      assert.equal(
        (
          await refusal(
            authenticator.authenticate({ headers: {}, url: `/v1/models?k=${key}`, clientIp: '192.0.2.1' }),
          )
        ).code,
        'api_key_in_query',
      );
      assert.equal(
        (await refusal(authenticator.authenticate({ headers: {}, url: '/v1/models', clientIp: '192.0.2.1' })))
          .code,
        'missing_api_key',
      );
      const logs = env.logs.join('\n');
      assert.ok(!logs.includes(parseKey(key)?.secret ?? key));
    });
  });
}
