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
    // Loaded here, not at the top: every other command would otherwise load the whole gateway
    // (about a second of start-up) only to not use it.
    const { startGateway } = await import('../main.ts');
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
    // After the handlers: the server is listening, so a stop signal from now on must be graceful.
    const users = await gateway.identity.users.count().catch((err: unknown) => {
      logger.warn({ err }, 'could not count users');
      return undefined;
    });
    if (users === 0) {
      // No default password, ever: the newcomer creates the first Owner themselves.
      logger.warn(
        { next: 'npx portcullis init' },
        'no users yet: create the first Owner and workspace with `npx portcullis init` (interactive), or `npx portcullis init --email you@example.com --password-file FILE --workspace NAME`',
      );
    }
    return undefined;
  },
};
