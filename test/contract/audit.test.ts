import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { sql } from 'kysely';
import { canonicalOf, entryHash } from '../../src/audit/chain.ts';
import { createAuditLog } from '../../src/audit/log.ts';
import { pruneAuditLog } from '../../src/audit/prune.ts';
import { storedVerifier, verifierFromPem } from '../../src/audit/signer.ts';
import { verifyAuditLog } from '../../src/audit/verify.ts';
import { loadConfig } from '../../src/config/load.ts';
import { resolveMasterKeys } from '../../src/secrets/master-key.ts';
import { createVault } from '../../src/secrets/vault.ts';
import type { Store } from '../../src/store/types.ts';
import { createWorkspaceRepository } from '../../src/workspaces/repository.ts';
import { freshPlace, ManualClock, openPlace, type Place, pgUrl } from './keys-helpers.ts';

/**
 * The audit chain on every store: appends commit with their change, verification pinpoints the
 * first edited, deleted, inserted or reordered row (the table is tampered with directly, as an
 * attacker with database access would), pruning keeps the rest verifiable, and concurrent
 * appenders (two replicas, one database) never fork the chain.
 */

const dialects = [
  { name: 'sqlite' as const, skip: false as const },
  { name: 'postgres' as const, skip: !pgUrl && 'TEST_DATABASE_URL not set' },
];

async function openAudit(place: Place, clock: ManualClock, checkpointEvery = 4) {
  const opened = await openPlace(place, clock);
  const env: Record<string, string> = {
    PORTCULLIS_DATA_DIR: place.dataDir,
    PORTCULLIS_MASTER_KEY: place.masterKey,
  };
  if (place.databaseUrl) env.DATABASE_URL = place.databaseUrl;
  const { config } = loadConfig({ env });
  const keys = await resolveMasterKeys({
    config,
    store: opened.store,
    logger: opened.logger,
    dataDir: place.dataDir,
    clock,
  });
  const audit = createAuditLog({
    store: opened.store,
    vault: createVault({ store: opened.store, keys, clock }),
    clock,
    checkpointEvery,
  });
  await audit.ready();
  return { ...opened, audit };
}

/** Ten workspaces created through the audited path: entries 1-10, checkpoints at 4 and 8. */
async function tenEntries(place: Place) {
  const clock = new ManualClock();
  const ctx = await openAudit(place, clock);
  const workspaces = createWorkspaceRepository({ store: ctx.store, clock });
  for (let i = 1; i <= 10; i++) {
    clock.advance(1000);
    await ctx.audit.record(
      { actor: 'cli:test', clientIp: '127.0.0.1', userAgent: 'test', requestId: `req_${i}` },
      (tx) => workspaces.inTx(tx).create(`ws-${i}`),
      (ws) => ({
        action: 'workspace.created',
        workspaceId: ws.id,
        target: ws.id,
        details: { name: ws.name },
      }),
    );
  }
  return { ...ctx, clock };
}

async function verify(store: Store) {
  return verifyAuditLog(store, await storedVerifier(store));
}

for (const dialect of dialects) {
  describe(`audit chain on ${dialect.name}`, { skip: dialect.skip }, () => {
    const places: Place[] = [];
    const stores: Store[] = [];
    after(async () => {
      for (const s of stores) await s.close();
      for (const p of places) await p.cleanup();
    });
    async function fresh() {
      const place = await freshPlace(dialect.name);
      places.push(place);
      const ctx = await tenEntries(place);
      stores.push(ctx.store);
      return ctx;
    }

    it('verifies an untouched log, with signed checkpoints and the exported public key', async () => {
      const { store, audit } = await fresh();
      const report = await verify(store);
      assert.equal(report.ok, true, JSON.stringify(report.problem));
      assert.equal(report.entries, 10);
      assert.equal(report.checkpoints, 2);
      const pinned = verifierFromPem((await audit.signer()).publicKeyPem);
      assert.equal((await verifyAuditLog(store, pinned)).ok, true);
    });

    it('pinpoints an edited entry', async () => {
      const { store } = await fresh();
      await store.db.updateTable('audit_log').set({ target: 'wsp_forged' }).where('seq', '=', 5).execute();
      const report = await verify(store);
      assert.equal(report.ok, false);
      assert.deepEqual([report.problem?.kind, report.problem?.seq], ['edited', 5]);
    });

    it('pinpoints an edited entry whose hash was recomputed', async () => {
      const { store } = await fresh();
      const row = await store.db
        .selectFrom('audit_log')
        .selectAll()
        .where('seq', '=', 6)
        .executeTakeFirstOrThrow();
      const forged = { ...row, details: JSON.stringify({ name: 'forged' }) };
      await store.db
        .updateTable('audit_log')
        .set({ details: forged.details, hash: entryHash(row.prev_hash, canonicalOf(forged)) })
        .where('seq', '=', 6)
        .execute();
      const report = await verify(store);
      assert.deepEqual([report.problem?.kind, report.problem?.seq], ['edited', 6]);
    });

    it('pinpoints a deleted entry', async () => {
      const { store } = await fresh();
      await store.db.deleteFrom('audit_log').where('seq', '=', 7).execute();
      const report = await verify(store);
      assert.deepEqual([report.problem?.kind, report.problem?.seq], ['deleted', 7]);
    });

    it('pinpoints a deleted entry when the later ones were renumbered to close the gap', async () => {
      const { store } = await fresh();
      await store.db.deleteFrom('audit_log').where('seq', '=', 3).execute();
      // Move rows down one at a time, in order, so the primary key never collides.
      for (let seq = 4; seq <= 11; seq++) {
        await store.db
          .updateTable('audit_log')
          .set({ seq: seq - 1 })
          .where('seq', '=', seq)
          .execute();
      }
      const report = await verify(store);
      assert.deepEqual([report.problem?.kind, report.problem?.seq], ['deleted', 3]);
    });

    it('pinpoints the first entry deleted', async () => {
      const { store } = await fresh();
      await store.db.deleteFrom('audit_log').where('seq', '=', 1).execute();
      const report = await verify(store);
      assert.deepEqual([report.problem?.kind, report.problem?.seq], ['deleted', 1]);
    });

    it('pinpoints an inserted entry (later ones renumbered, the forgery correctly hashed)', async () => {
      const { store } = await fresh();
      for (let seq = 11; seq >= 5; seq--) {
        await store.db
          .updateTable('audit_log')
          .set({ seq: seq + 1 })
          .where('seq', '=', seq)
          .execute();
      }
      const before = await store.db
        .selectFrom('audit_log')
        .selectAll()
        .where('seq', '=', 4)
        .executeTakeFirstOrThrow();
      const forged = {
        ...before,
        seq: 5,
        action: 'key.revoked',
        target: 'key_forged00000',
        details: '{}',
        prev_hash: before.hash,
      };
      await store.db
        .insertInto('audit_log')
        .values({ ...forged, hash: entryHash(before.hash, canonicalOf(forged)) })
        .execute();
      const report = await verify(store);
      assert.deepEqual([report.problem?.kind, report.problem?.seq], ['inserted', 5]);
    });

    it('pinpoints an entry appended at the end without the chain', async () => {
      const { store } = await fresh();
      await store.db
        .insertInto('audit_log')
        .values({
          seq: 11,
          time: Date.UTC(2030, 0, 2),
          actor: 'attacker',
          workspace_id: null,
          action: 'key.created',
          target: null,
          client_ip: null,
          user_agent: null,
          outcome: 'success',
          request_id: null,
          details: '{}',
          prev_hash: 'f'.repeat(64),
          hash: 'e'.repeat(64),
        })
        .onConflict((oc) => oc.column('seq').doNothing())
        .execute();
      await store.db
        .updateTable('audit_log')
        .set({ prev_hash: 'f'.repeat(64) })
        .where('seq', '=', 11)
        .execute();
      const report = await verify(store);
      assert.equal(report.problem?.seq, 11);
    });

    it('pinpoints reordered entries', async () => {
      const { store } = await fresh();
      // Swap 5 and 6 through a free seq.
      await store.db.updateTable('audit_log').set({ seq: 1000 }).where('seq', '=', 5).execute();
      await store.db.updateTable('audit_log').set({ seq: 5 }).where('seq', '=', 6).execute();
      await store.db.updateTable('audit_log').set({ seq: 6 }).where('seq', '=', 1000).execute();
      const report = await verify(store);
      assert.deepEqual([report.problem?.kind, report.problem?.seq], ['reordered', 5]);
    });

    it('catches a rewritten, re-hashed range with the signed checkpoints', async () => {
      const { store } = await fresh();
      const rows = await store.db.selectFrom('audit_log').selectAll().orderBy('seq').execute();
      let prev = '0'.repeat(64);
      for (const row of rows) {
        const next = Number(row.seq) === 2 ? { ...row, actor: 'someone-else' } : row;
        const hash = entryHash(prev, canonicalOf({ ...next, prev_hash: prev }));
        await store.db
          .updateTable('audit_log')
          .set({ actor: next.actor, prev_hash: prev, hash })
          .where('seq', '=', Number(row.seq))
          .execute();
        prev = hash;
      }
      const report = await verify(store);
      assert.deepEqual([report.problem?.kind, report.problem?.seq], ['rewritten', 1]);
    });

    it('catches a forged checkpoint and a cut tail', async () => {
      const { store } = await fresh();
      await store.db
        .updateTable('audit_checkpoints')
        .set({ hash: 'a'.repeat(64) })
        .where('seq', '=', 8)
        .execute();
      assert.deepEqual(
        [(await verify(store)).problem?.kind, (await verify(store)).problem?.seq],
        ['bad_checkpoint', 8],
      );
      const other = await fresh();
      await other.store.db.deleteFrom('audit_log').where('seq', '>=', 8).execute();
      const report = await verify(other.store);
      assert.deepEqual([report.problem?.kind, report.problem?.seq], ['truncated', 8]);
    });

    it('prunes old entries and keeps the rest verifiable from a signed checkpoint', async () => {
      const { store, audit, clock } = await fresh();
      const cutoff = Date.UTC(2030, 0, 1) + 6500; // entries 1-6 are older
      const result = await pruneAuditLog({ audit }, cutoff, { actor: 'cli:test' });
      assert.deepEqual(result, { deleted: 6, throughSeq: 6 });
      clock.advance(1000);
      const report = await verify(store);
      assert.equal(report.ok, true, JSON.stringify(report.problem));
      assert.equal(report.firstSeq, 7);
      const last = await store.db
        .selectFrom('audit_log')
        .selectAll()
        .orderBy('seq', 'desc')
        .executeTakeFirstOrThrow();
      assert.equal(last.action, 'audit.pruned');
      // Deleting the entry after the anchor is still caught.
      await store.db.deleteFrom('audit_log').where('seq', '=', 7).execute();
      assert.deepEqual(
        [(await verify(store)).problem?.kind, (await verify(store)).problem?.seq],
        ['deleted', 7],
      );
    });

    it('rolls the audit entry back with a failed change, and the change back with a failed entry', async () => {
      const { store, audit, clock } = await fresh();
      const workspaces = createWorkspaceRepository({ store, clock });
      await assert.rejects(
        audit.record(
          { actor: 'cli:test' },
          (tx) => workspaces.inTx(tx).create('ws-1'), // exists: refused
          (ws) => ({ action: 'workspace.created', workspaceId: ws.id }),
        ),
        /already exists/,
      );
      await assert.rejects(
        audit.record(
          { actor: 'cli:test' },
          (tx) => workspaces.inTx(tx).create('doomed'),
          () => {
            throw new Error('describe failed');
          },
        ),
        /describe failed/,
      );
      assert.equal(await workspaces.find('doomed'), undefined);
      assert.equal((await verify(store)).entries, 10);
    });

    it('keeps only allowlisted, non-secret details', async () => {
      const { store, audit } = await fresh();
      await audit.record(
        { actor: 'key_AAAAAAAAAAAA', userAgent: 'curl pcx_live_notakey' },
        async () => undefined,
        () => ({
          action: 'credential.added',
          details: {
            name: 'openai-main',
            secret: 'sk-proj-supersecretvalue',
            baseUrl: 'https://x/?key=sk-abcdefghijklmnop',
            prompt: 'tell me a secret',
          },
        }),
      );
      const row = await store.db
        .selectFrom('audit_log')
        .selectAll()
        .orderBy('seq', 'desc')
        .executeTakeFirstOrThrow();
      assert.deepEqual(JSON.parse(row.details), { name: 'openai-main', baseUrl: '[redacted]' });
      assert.equal(row.user_agent, '[redacted]');
      assert.doesNotMatch(JSON.stringify(row), /supersecret|tell me a secret|abcdefghijklmnop/);
    });
  });
}

describe('concurrent appenders in one process never fork the chain', () => {
  // SQLite replicas are separate processes (test/integration/audit-crash.test.ts races them); two
  // pools in one process is how PostgreSQL replicas look to the database.
  it('two connection pools appending at once on postgres', {
    skip: !pgUrl && 'TEST_DATABASE_URL not set',
  }, async () => {
    const place = await freshPlace('postgres');
    const clock = new ManualClock();
    const a = await openAudit(place, clock, 7);
    const b = await openAudit(place, clock, 7);
    try {
      const appendMany = (ctx: typeof a, label: string) =>
        Promise.all(
          Array.from({ length: 40 }, (_, i) =>
            ctx.audit.record(
              { actor: label },
              (tx) => createWorkspaceRepository({ store: ctx.store, clock }).inTx(tx).create(`${label}-${i}`),
              (ws) => ({ action: 'workspace.created', workspaceId: ws.id, details: { name: ws.name } }),
            ),
          ),
        );
      await Promise.all([appendMany(a, 'a'), appendMany(b, 'b')]);
      const report = await verify(a.store);
      assert.equal(report.ok, true, JSON.stringify(report.problem));
      assert.equal(report.entries, 80);
      const { rows } = await sql<{ n: number; distinct_prev: number }>`
        select count(*) as n, count(distinct prev_hash) as distinct_prev from audit_log`.execute(a.store.db);
      assert.equal(Number(rows[0]?.n), 80);
      assert.equal(Number(rows[0]?.distinct_prev), 80, 'no two entries share a predecessor (no fork)');
    } finally {
      await a.store.close();
      await b.store.close();
      await place.cleanup();
    }
  });
});
