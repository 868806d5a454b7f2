import { type Clock, systemClock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../logger.ts';
import type { MasterKeyRing } from '../secrets/master-key.ts';
import { resolveMasterKeys } from '../secrets/master-key.ts';
import { createVault, type Vault } from '../secrets/vault.ts';
import { openStore } from '../store/open.ts';
import type { Store } from '../store/types.ts';
import { createWorkspaceRepository, type WorkspaceRepository } from '../workspaces/repository.ts';
import type { CommandContext } from './context.ts';

/**
 * What a local command (one without --url) works with: the configured store, migrated, and the
 * master keys proven against it. Commands call `close()` in a `finally`; `withLocal` does it for them.
 */
export interface Local {
  config: Readonly<Config>;
  logger: Logger;
  clock: Clock;
  store: Store;
  keys: MasterKeyRing;
  vault: Vault;
  workspaces: WorkspaceRepository;
  close(): Promise<void>;
}

export async function openLocal(ctx: CommandContext, clock: Clock = systemClock): Promise<Local> {
  const { config } = ctx.loadConfig();
  const logger = ctx.logger(config);
  const store = await openStore({ config, logger });
  try {
    await store.migrate();
    const keys = await resolveMasterKeys({ config, store, logger, dataDir: config.dataDir, clock });
    return {
      config,
      logger,
      clock,
      store,
      keys,
      vault: createVault({ store, keys, clock }),
      workspaces: createWorkspaceRepository({ store, clock }),
      close: () => store.close(),
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}

/** Opens the local store, runs `fn`, and always closes the store. */
export async function withLocal<T>(ctx: CommandContext, fn: (local: Local) => Promise<T>): Promise<T> {
  const local = await openLocal(ctx);
  try {
    return await fn(local);
  } finally {
    await local.close();
  }
}
