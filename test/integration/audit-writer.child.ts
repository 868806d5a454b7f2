// Child process for the audit crash and concurrency tests: creates API keys through the audited
// control-plane path (key + audit entry in one transaction) and prints each key id only after its
// transaction committed. stdout to a pipe is synchronous on Linux, so a printed id is one the
// parent may rely on even if this process is killed on the next instruction.
// Usage: audit-writer.child.ts DATA_DIR MASTER_KEY LABEL COUNT (0 = forever) [DATABASE_URL]
import pino from 'pino';
import { keyEvent } from '../../src/audit/describe.ts';
import { createAuditLog } from '../../src/audit/log.ts';
import { systemClock } from '../../src/clock.ts';
import { loadConfig } from '../../src/config/load.ts';
import { loadPepper } from '../../src/keys/hash.ts';
import { createKeyRepository } from '../../src/keys/repository.ts';
import { resolveMasterKeys } from '../../src/secrets/master-key.ts';
import { createVault } from '../../src/secrets/vault.ts';
import { openStore } from '../../src/store/open.ts';
import { createWorkspaceRepository } from '../../src/workspaces/repository.ts';

const [dataDir = '', masterKey = '', label = 'w', countText = '0', databaseUrl] = process.argv.slice(2);
const env: Record<string, string> = { PORTCULLIS_DATA_DIR: dataDir, PORTCULLIS_MASTER_KEY: masterKey };
if (databaseUrl) env.DATABASE_URL = databaseUrl;
const { config } = loadConfig({ env });
const logger = pino({ level: 'silent' });
const clock = systemClock;
const store = await openStore({ config, logger });
await store.migrate();
const keys = await resolveMasterKeys({ config, store, logger, dataDir, clock });
const audit = createAuditLog({
  store,
  vault: createVault({ store, keys, clock }),
  clock,
  checkpointEvery: 10,
});
await audit.ready();
const pepper = await loadPepper({ store, keys, clock });
const repo = createKeyRepository({ store, clock, pepper });
const ws = await createWorkspaceRepository({ store, clock }).resolve('acme');
process.stdout.write('ready\n');

const count = Number(countText);
for (let i = 0; count === 0 || i < count; i++) {
  const { record } = await audit.record(
    { actor: `cli:${label}` },
    (tx) => repo.inTx(tx).create({ workspaceId: ws.id, name: `${label}-${i}` }),
    (created) => keyEvent('key.created', created.record),
  );
  process.stdout.write(`${record.id}\n`);
}
await store.close();
