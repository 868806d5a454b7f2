import { type Clock, systemClock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { Store } from '../store/types.ts';
import { resolveMasterKeys, type SecretsLogger } from './master-key.ts';
import { createVault } from './vault.ts';

export interface RotateMasterOptions {
  config: Pick<Config, 'masterKey' | 'dataDir'>;
  /** A migrated store. */
  store: Store;
  logger: SecretsLogger;
  clock?: Clock;
  batchSize?: number;
}

export interface RotateMasterResult {
  rewrapped: number;
  currentVersion: number;
}

/**
 * `portcullis secrets rotate-master`: with the key list set to "vNEW:<new>,vOLD:<old>" everywhere,
 * re-wraps every data key under vNEW. Afterwards the old version can be dropped from the list.
 */
export async function rotateMaster(options: RotateMasterOptions): Promise<RotateMasterResult> {
  const { config, store, logger, clock = systemClock } = options;
  const keys = await resolveMasterKeys({ config, store, logger, dataDir: config.dataDir, clock });
  const vault = createVault({ store, keys, clock });
  const { rewrapped } = await vault.rotateMaster(
    options.batchSize === undefined ? {} : { batchSize: options.batchSize },
  );
  const currentVersion = keys.current.version;
  const retired = keys.keys.filter((k) => k.version !== currentVersion).map((k) => `v${k.version}`);
  logger.info(
    { rewrapped, currentVersion, retired },
    retired.length > 0
      ? `every secret is now wrapped with master key v${currentVersion}; ${retired.join(', ')} can be removed from the key list`
      : `every secret is wrapped with master key v${currentVersion}`,
  );
  return { rewrapped, currentVersion };
}
