import { rotateMaster } from '../secrets/rotate.ts';
import { openStore } from '../store/open.ts';
import type { Command } from './context.ts';

export const rotateMasterCommand: Command = {
  name: ['secrets', 'rotate-master'],
  summary: 'Re-wrap every stored data key under the current (first) master key version.',
  usage: `portcullis secrets rotate-master [--config FILE] [--json]

  1. Generate a new key:        openssl rand -base64 32
  2. Configure both, new first: PORTCULLIS_MASTER_KEY="v2:<new>,v1:<old>" (on every replica, restart them)
  3. Run this command once.
  4. Drop the old version:      PORTCULLIS_MASTER_KEY="v2:<new>" (restart replicas)`,
  async run(ctx) {
    const { config } = ctx.loadConfig();
    const logger = ctx.logger(config);
    const store = await openStore({ config, logger });
    try {
      await store.migrate();
      const result = await rotateMaster({ config, store, logger });
      return {
        data: result,
        text: `re-wrapped ${result.rewrapped} secret(s) under master key v${result.currentVersion}`,
      };
    } finally {
      await store.close();
    }
  },
};
