import { openStore } from '../store/open.ts';
import type { Command } from './context.ts';

export const migrateCommand: Command = {
  name: ['migrate'],
  summary: 'Apply pending database migrations (also done by serve at start).',
  usage: 'portcullis migrate [--config FILE] [--json]',
  async run(ctx) {
    const { config } = ctx.loadConfig();
    const logger = ctx.logger(config);
    const store = await openStore({ config, logger });
    try {
      const report = await store.migrate();
      const text =
        report.applied.length > 0
          ? `applied ${report.applied.length} migration(s): ${report.applied.join(', ')}`
          : `database is up to date (${report.current.length} migrations)`;
      return { data: { dialect: store.dialect, ...report }, text };
    } finally {
      await store.close();
    }
  },
};
