import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { freshPlace, ManualClock, type Place, pgUrl } from '../../test/contract/keys-helpers.ts';
import { type AuditLog, createAuditLog } from '../audit/log.ts';
import { loadConfig } from '../config/load.ts';
import { loadPepper } from '../keys/hash.ts';
import { createKeyRepository } from '../keys/repository.ts';
import { resolveMasterKeys } from '../secrets/master-key.ts';
import { createVault } from '../secrets/vault.ts';
import { openStore } from '../store/open.ts';
import type { Store } from '../store/types.ts';
import { purgeDeletedWorkspaces } from './purge.ts';
import { createWorkspaceRepository, type WorkspaceRepository } from './repository.ts';

const DAY = 86_400_000;

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`purgeDeletedWorkspaces (${dialect})`, { skip: dialect === 'postgres' && !pgUrl }, () => {
    const clock = new ManualClock();
    let place: Place;
    let store: Store;
    let audit: AuditLog;
    let workspaces: WorkspaceRepository;
    let keys: ReturnType<typeof createKeyRepository>;

    before(async () => {
      place = await freshPlace(dialect);
      const env: Record<string, string> = {
        PORTCULLIS_DATA_DIR: place.dataDir,
        PORTCULLIS_MASTER_KEY: place.masterKey,
      };
      if (place.databaseUrl) env.DATABASE_URL = place.databaseUrl;
      const { config } = loadConfig({ env });
      const logger = pino({ level: 'silent' });
      store = await openStore({ config, logger });
      await store.migrate();
      const masterKeys = await resolveMasterKeys({ config, store, logger, dataDir: place.dataDir, clock });
      audit = createAuditLog({
        store,
        vault: createVault({ store, keys: masterKeys, clock }),
        checkpointEvery: 1000,
        clock,
        logger,
      });
      await audit.ready();
      workspaces = createWorkspaceRepository({ store, clock });
      keys = createKeyRepository({
        store,
        clock,
        pepper: await loadPepper({ store, keys: masterKeys, clock }),
      });
    });
    after(async () => {
      await store.close();
      await place.cleanup();
    });

    const purgedEntries = async (id: string) =>
      store.db
        .selectFrom('audit_log')
        .select('details')
        .where('action', '=', 'workspace.purged')
        .where('target', '=', id)
        .execute();

    it('purges a workspace once its retention has passed, not before', async () => {
      const ws = await workspaces.create('early');
      await keys.create({ workspaceId: ws.id, name: 'k' });
      await workspaces.softDelete(ws.id);
      clock.advance(2 * DAY);
      assert.deepEqual(await purgeDeletedWorkspaces({ store, audit, clock, retentionDays: 3 }), {
        purged: [],
      });
      clock.advance(DAY);
      assert.deepEqual(await purgeDeletedWorkspaces({ store, audit, clock, retentionDays: 3 }), {
        purged: [ws.id],
      });
      assert.deepEqual(await keys.list(ws.id, { includeDeleted: true }), []);
      await assert.rejects(workspaces.restore(ws.id), /purged/);
    });

    it('two purges at once (two replicas) purge a workspace once, with one audit entry', async () => {
      const ws = await workspaces.create('raced');
      await keys.create({ workspaceId: ws.id, name: 'k' });
      await workspaces.softDelete(ws.id);
      clock.advance(DAY);
      const runs = await Promise.all(
        [1, 2, 3].map(() => purgeDeletedWorkspaces({ store, audit, clock, retentionDays: 0 })),
      );
      assert.deepEqual(
        runs.flatMap((r) => r.purged),
        [ws.id],
        'exactly one run reports the purge',
      );
      assert.deepEqual(
        (await purgedEntries(ws.id)).map((e) => JSON.parse(e.details)),
        [{ keys: 1, credentials: 0, members: 0 }],
      );
    });
  });
}
