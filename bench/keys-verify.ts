/**
 * Cost of API key verification (issue 4: ≤ 20 µs with a warm cache), on the embedded SQLite store.
 *
 *   node bench/keys-verify.ts [--keys N]      # N extra keys in the store first (default 0)
 *
 * Prints µs/op for: a warm-cache hit (the hot path of every request), a wrong secret and an
 * unknown id (both warm: the refusal path), and a cold lookup (cache TTL 0: one store query).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { systemClock } from '../src/clock.ts';
import { loadConfig } from '../src/config/load.ts';
import { createMemoryCounters } from '../src/counters/memory.ts';
import { generateKey } from '../src/keys/format.ts';
import { encodeHash, hashKeySecret, loadPepper } from '../src/keys/hash.ts';
import { createKeyRepository } from '../src/keys/repository.ts';
import { createKeyVerifier, type KeyVerifier } from '../src/keys/verify.ts';
import { resolveMasterKeys } from '../src/secrets/master-key.ts';
import { openStore } from '../src/store/open.ts';
import { createWorkspaceRepository } from '../src/workspaces/repository.ts';

const { values } = parseArgs({ options: { keys: { type: 'string', default: '0' } } });
const extraKeys = Number(values.keys);

const dataDir = await mkdtemp(join(tmpdir(), 'pcx-bench-keys-'));
const logger = pino({ level: 'warn' });
const { config } = loadConfig({
  env: { PORTCULLIS_DATA_DIR: dataDir, PORTCULLIS_MASTER_KEY: randomBytes(32).toString('base64') },
});
const store = await openStore({ config, logger });
try {
  await store.migrate();
  const keys = await resolveMasterKeys({ config, store, logger, dataDir, clock: systemClock });
  const pepper = await loadPepper({ store, keys, clock: systemClock });
  const ws = await createWorkspaceRepository({ store, clock: systemClock }).create('bench');
  const repo = createKeyRepository({ store, clock: systemClock, pepper });

  if (extraKeys > 0) {
    const now = Date.now();
    for (let done = 0; done < extraKeys; ) {
      const batch = Array.from({ length: Math.min(500, extraKeys - done) }, () => {
        const k = generateKey('live');
        return {
          id: k.id,
          workspace_id: ws.id,
          name: 'filler',
          environment: 'live',
          secret_hash: encodeHash(hashKeySecret(pepper, k)),
          masked: 'pcx_live_…',
          scopes: '["chat"]',
          models: '["*"]',
          allow_ips: '[]',
          allow_origins: '[]',
          limits: '{}',
          tags: '[]',
          created_by: null,
          previous_secret_hash: null,
          previous_valid_until: null,
          expires_at: null,
          revoked_at: null,
          deleted_at: null,
          last_used_at: null,
          last_used_ip: null,
          created_at: now,
          updated_at: now,
        };
      });
      await store.db.insertInto('api_keys').values(batch).execute();
      done += batch.length;
    }
  }

  const { key } = await repo.create({ workspaceId: ws.id, name: 'bench' });
  const wrong = generateKey('live', (await repo.list(ws.id)).at(-1)?.id).raw;
  const unknown = generateKey('live').raw;
  const counters = createMemoryCounters({ clock: systemClock });
  const warm = createKeyVerifier({ store, pepper, clock: systemClock, counters, logger });
  const cold = createKeyVerifier({ store, pepper, clock: systemClock, counters, logger, cacheTtlMs: 0 });

  async function bench(name: string, verifier: KeyVerifier, raw: string, n: number): Promise<void> {
    for (let i = 0; i < Math.min(n, 2000); i++) await verifier.verify(raw).catch(() => {});
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await verifier.verify(raw).catch(() => {});
    const us = Number(process.hrtime.bigint() - start) / n / 1000;
    console.log(`${name.padEnd(28)} ${us.toFixed(2).padStart(8)} µs/op  (${n} ops)`);
  }

  console.log(`keys in store: ${extraKeys + 1}`);
  await bench('verify, warm cache (valid)', warm, key, 200_000);
  await bench('verify, warm cache (wrong)', warm, wrong, 50_000);
  await bench('verify, warm cache (unknown)', warm, unknown, 50_000);
  await bench('verify, cold (store query)', cold, key, 5_000);
  await warm.stop();
  await cold.stop();
} finally {
  await store.close();
  await rm(dataDir, { recursive: true, force: true });
}
