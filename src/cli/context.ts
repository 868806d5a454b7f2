import type { ParseArgsConfig } from 'node:util';
import { type LoadedConfig, loadConfig } from '../config/load.ts';
import { createLogger, type Logger } from '../logger.ts';

/**
 * What every command gets: parsed flags, the environment (only the config loader reads it), and
 * output helpers that honour --json. Commands return data; the runner prints it.
 */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export interface CommandContext {
  args: string[];
  json: boolean;
  configFile?: string;
  env: Readonly<Record<string, string | undefined>>;
  io: CliIo;
  /** Loads and validates the configuration (throws ConfigError listing every problem). */
  loadConfig(): LoadedConfig;
  /**
   * A logger for commands: JSON lines on stderr so stdout stays machine-readable. One-shot
   * commands log warnings and errors only unless a more verbose level than `info` is configured;
   * `serve` passes `{ quiet: false }` and logs at the configured level.
   */
  logger(config: LoadedConfig['config'], options?: { quiet?: boolean }): Logger;
}

export interface CommandResult {
  /** Printed as JSON with --json. */
  data: unknown;
  /** Printed otherwise. */
  text: string;
  exitCode?: number;
}

export interface Command {
  /** Words that select the command, e.g. ['config', 'check']. */
  name: string[];
  summary: string;
  usage: string;
  options?: ParseArgsConfig['options'];
  /** Long-running commands (serve) return undefined and keep the process alive themselves. */
  run(
    ctx: CommandContext,
    values: Record<string, unknown>,
    positionals: string[],
  ): Promise<CommandResult | undefined>;
}

export function makeContext(
  args: string[],
  flags: { json: boolean; configFile?: string },
  env: Readonly<Record<string, string | undefined>>,
  io: CliIo,
): CommandContext {
  return {
    args,
    json: flags.json,
    configFile: flags.configFile,
    env,
    io,
    loadConfig: () => loadConfig({ env, configFile: flags.configFile }),
    logger: (config, options = {}) => {
      const quiet = options.quiet !== false && config.log.level === 'info';
      return createLogger(quiet ? { log: { level: 'warn' } } : config, {
        write: (line: string) => io.stderr(line),
      });
    },
  };
}
