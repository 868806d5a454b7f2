import { startGateway } from '../main.ts';
import type { Command } from './context.ts';

export const serveCommand: Command = {
  name: ['serve'],
  summary: 'Run the gateway (what `npm start` does).',
  usage: `portcullis serve [--config FILE]

  Without configuration: SQLite in ./data, in-memory counters, http://127.0.0.1:8080.
  SIGTERM / SIGINT stop it gracefully: new connections are refused, in-flight requests and
  streams finish (up to timeouts.shutdownMs), then the stores are closed.`,
  async run(ctx) {
    const { config } = ctx.loadConfig();
    const logger = ctx.logger(config, { quiet: false });
    const gateway = await startGateway({ config, logger });
    const stop = (signal: NodeJS.Signals): void => {
      logger.info({ signal }, 'stopping');
      gateway.close().then(
        () => {
          logger.info('stopped');
          process.exitCode = 0;
        },
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          process.exitCode = 1;
        },
      );
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    return undefined;
  },
};
