import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createAuditLog } from '../../src/audit/log.ts';
import { createEventWriter } from '../../src/audit/writer.ts';
import { loadConfig } from '../../src/config/load.ts';
import { resolveMasterKeys } from '../../src/secrets/master-key.ts';
import { createVault } from '../../src/secrets/vault.ts';
import type { UsageRecord } from '../../src/usage/records.ts';
import { freshPlace, ManualClock, openPlace } from '../contract/keys-helpers.ts';

/** The data-plane writer: batches commit, close() flushes, a full queue drops (counted) instead of blocking. */

const usage = (i: number): UsageRecord => ({
  time: i,
  workspaceId: 'wsp_x',
  keyId: 'key_x',
  requestId: `req_${i}`,
  endpoint: 'chat',
  model: 'gpt-4o',
  provider: 'openai',
  target: 'openai-main',
  stream: false,
  status: 200,
  inputTokens: 3,
  outputTokens: 5,
  costMicros: null,
  latencyMs: 1,
  upstreamMs: 1,
});

async function setup() {
  const place = await freshPlace('sqlite');
  const clock = new ManualClock();
  const opened = await openPlace(place, clock);
  const { config } = loadConfig({
    env: { PORTCULLIS_DATA_DIR: place.dataDir, PORTCULLIS_MASTER_KEY: place.masterKey },
  });
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
    checkpointEvery: 1000,
  });
  return { ...opened, audit, place };
}

/** A writer on a fresh store, flushed only when asked; `rows` counts what was committed. */
async function writerRig(batchSize = 100) {
  const rig = await setup();
  const { store, audit, logger } = rig;
  const writer = createEventWriter({ store, audit, logger, flushMs: 60_000, batchSize, queueSize: 1000 });
  const rows = async (table: 'usage_records' | 'audit_log') =>
    (await store.db.selectFrom(table).selectAll().execute()).length;
  const done = async () => {
    await store.close();
    await rig.place.cleanup();
  };
  return { ...rig, writer, rows, done };
}

describe('event writer', () => {
  it('commits what is queued when closed (graceful shutdown)', async () => {
    const { writer, rows, done } = await writerRig(7);
    for (let i = 0; i < 25; i++) {
      writer.usage(usage(i));
      writer.audit({ action: 'request.refused', details: { code: 'invalid_api_key', status: 401 } });
    }
    await writer.close();
    assert.equal(await rows('usage_records'), 25);
    assert.equal(await rows('audit_log'), 25);
    await done();
  });

  it('waits for records still being priced: a flush after an answer includes its call, close() loses none', async () => {
    const { writer, rows, done } = await writerRig(100);
    const later = (i: number, ms: number) =>
      writer.usageLater(new Promise((resolve) => setTimeout(() => resolve(usage(i)), ms)));
    later(1, 20);
    writer.usageLater(Promise.resolve(undefined));
    writer.usageLater(Promise.reject(new Error('price lookup failed')));
    await writer.flush();
    assert.equal(await rows('usage_records'), 1);
    later(2, 30);
    await writer.close();
    assert.equal(await rows('usage_records'), 2);
    await done();
  });

  it('a flush called while another is running still commits what was queued before the call', async () => {
    const { writer, rows, done } = await writerRig(100);
    writer.usage(usage(1));
    const first = writer.flush(); // takes record 1 and is now waiting on the store
    writer.usage(usage(2));
    writer.usageLater(Promise.resolve(usage(3)));
    await writer.flush();
    assert.equal(await rows('usage_records'), 3, 'the second flush did not stop at the first one’s batch');
    await first;
    await writer.close();
    await done();
  });

  it('a price lookup that never settles holds neither the audit events nor close() past its deadline', async () => {
    const { logs, writer, rows, done } = await writerRig(100);
    writer.usageLater(new Promise(() => undefined));
    writer.audit({ action: 'request.refused', details: { code: 'invalid_api_key', status: 401 } });
    const started = Date.now();
    await writer.close(500);
    assert.ok(Date.now() - started < 4_000, 'close() kept its deadline (plus one pricing wait)');
    assert.equal(await rows('audit_log'), 1, 'the event was written');
    assert.ok(
      logs.some((l) => l.includes('audit.events_lost')),
      'the unpriced record is reported lost',
    );
    await done();
  });

  it('drops and counts events beyond the bound while the store is away, never blocking', async () => {
    const { store, audit, logs, logger, place } = await setup();
    await audit.ready();
    let dropped = 0;
    const writer = createEventWriter({
      store,
      audit,
      logger,
      flushMs: 10,
      batchSize: 5,
      queueSize: 20,
      onDrop: (n) => {
        dropped += n;
      },
    });
    await store.close(); // the store is gone: every batch fails
    const started = performance.now();
    for (let i = 0; i < 100; i++) writer.usage(usage(i));
    assert.ok(performance.now() - started < 50, 'enqueueing never waits for the store');
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(writer.queued() <= 20);
    assert.equal(writer.dropped(), dropped);
    assert.ok(dropped >= 80);
    await writer.close(100);
    assert.ok(logs.some((l) => l.includes('audit.events_dropped')));
    assert.ok(logs.some((l) => l.includes('audit.events_lost')));
    await place.cleanup();
  });
});
