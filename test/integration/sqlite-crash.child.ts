// Child process for sqlite-crash.test.ts: commits batches of rows forever and prints each row's id
// only after its transaction has committed. stdout to a pipe is synchronous on Linux, so a printed id
// is one the parent may rely on even if this process is killed on the next instruction.
import { Value } from '@sinclair/typebox/value';
import pino from 'pino';
import { type Config, ConfigSchema } from '../../src/config/schema.ts';
import { openStore } from '../../src/store/open.ts';

const [dataDir] = process.argv.slice(2);
const config = Value.Default(ConfigSchema, { dataDir }) as Config;
const store = await openStore({ config, logger: pino({ level: 'silent' }) });
await store.migrate();

const BATCH = 5;
for (let batch = 0; ; batch++) {
  const ids = Array.from({ length: BATCH }, (_, i) => `sec_${batch}_${i}`);
  await store.db.transaction().execute(async (trx) => {
    for (const id of ids) {
      const now = Date.now();
      await trx
        .insertInto('secrets')
        .values({
          id,
          purpose: 'crash-test',
          workspace_id: null,
          master_key_version: 1,
          wrapped_key: 'd3JhcHBlZA==',
          ciphertext: 'Y2lwaGVydGV4dA==',
          created_at: now,
          updated_at: now,
        })
        .execute();
    }
  });
  process.stdout.write(`${ids.join('\n')}\n`);
}
