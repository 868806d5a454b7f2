// Child process for sqlite-migrate-race.test.ts: says "ready", waits for "go" on stdin (sent to all
// children at once), then opens the store on a fresh data folder and migrates, printing the report.
import { Value } from '@sinclair/typebox/value';
import pino from 'pino';
import { type Config, ConfigSchema } from '../../src/config/schema.ts';
import { openStore } from '../../src/store/open.ts';

const [dataDir] = process.argv.slice(2);
const config = Value.Default(ConfigSchema, { dataDir }) as Config;
process.stdout.write('ready\n');
await new Promise((resolve) => process.stdin.once('data', resolve));
process.stdin.destroy();

const store = await openStore({ config, logger: pino({ level: 'silent' }) });
try {
  const report = await store.migrate();
  process.stdout.write(`${JSON.stringify(report)}\n`);
} finally {
  await store.close();
}
