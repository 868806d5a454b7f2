import { parseArgs } from 'node:util';
import { ConfigError } from '../config/load.ts';
import { ALIAS_COMMANDS } from './aliases.ts';
import { AUDIT_COMMANDS } from './audit.ts';
import { configCheckCommand } from './config-check.ts';
import { CONTENT_COMMANDS } from './content.ts';
import { type CliIo, type Command, makeContext } from './context.ts';
import { CREDENTIAL_COMMANDS } from './credentials.ts';
import { guardrailsSetCommand, guardrailsShowCommand } from './guardrails.ts';
import { IDENTITY_COMMANDS } from './identity.ts';
import { KEY_COMMANDS } from './keys.ts';
import { LIMIT_COMMANDS } from './limits.ts';
import { MEMBER_COMMANDS } from './members.ts';
import { migrateCommand } from './migrate.ts';
import { PLAN_COMMANDS } from './plans.ts';
import { RemoteError } from './remote.ts';
import { rotateMasterCommand } from './secrets.ts';
import { serveCommand } from './serve.ts';
import { UsageError } from './usage.ts';
import { usageReportCommand } from './usage-report.ts';
import { versionCommand } from './version.ts';
import { WORKSPACE_COMMANDS } from './workspaces.ts';

export const COMMANDS: Command[] = [
  serveCommand,
  migrateCommand,
  configCheckCommand,
  rotateMasterCommand,
  ...IDENTITY_COMMANDS,
  ...WORKSPACE_COMMANDS,
  ...MEMBER_COMMANDS,
  ...CREDENTIAL_COMMANDS,
  ...KEY_COMMANDS,
  ...LIMIT_COMMANDS,
  ...PLAN_COMMANDS,
  ...ALIAS_COMMANDS,
  guardrailsSetCommand,
  guardrailsShowCommand,
  ...AUDIT_COMMANDS,
  ...CONTENT_COMMANDS,
  usageReportCommand,
  versionCommand,
];

const GLOBAL_OPTIONS = {
  config: { type: 'string', short: 'c' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.join(' ').length));
  return [
    'portcullis — a self-hosted, security-first AI API gateway',
    '',
    'Usage: portcullis <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.join(' ').padEnd(width)}  ${c.summary}`),
    '',
    'Options for every command:',
    '  --config, -c FILE  YAML config file (also PORTCULLIS_CONFIG)',
    '  --json             machine-readable output on stdout',
    '  --help, -h         help for a command: portcullis <command> --help',
  ].join('\n');
}

function findCommand(words: string[]): Command | undefined {
  return COMMANDS.filter((c) => c.name.every((w, i) => words[i] === w)).sort(
    (a, b) => b.name.length - a.name.length,
  )[0];
}

/** Runs one CLI invocation. Returns the exit code; a long-running command (serve) returns undefined. */
export async function runCli(
  argv: string[],
  env: Readonly<Record<string, string | undefined>>,
  io: CliIo,
): Promise<number | undefined> {
  const words = argv.filter((a) => !a.startsWith('-'));
  const command = findCommand(words);
  const wantsJson = argv.includes('--json');
  const fail = (code: string, message: string, exitCode = 1): number => {
    if (wantsJson) io.stdout(`${JSON.stringify({ error: { code, message } })}\n`);
    else io.stderr(`portcullis: ${message}\n`);
    return exitCode;
  };
  if (!command) {
    if (words.length === 0 || argv.includes('--help') || argv.includes('-h') || words[0] === 'help') {
      io.stdout(`${overview()}\n`);
      return words.length === 0 && !argv.includes('--help') && !argv.includes('-h') && words[0] !== 'help'
        ? 2
        : 0;
    }
    return fail('unknown_command', `unknown command "${words.join(' ')}"; run \`portcullis --help\``, 2);
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...GLOBAL_OPTIONS, ...command.options },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    return fail('invalid_arguments', `${(err as Error).message}\nusage: ${command.usage}`, 2);
  }
  const values = parsed.values as Record<string, unknown>;
  if (values.help === true) {
    io.stdout(`${command.summary}\n\nUsage: ${command.usage}\n`);
    return 0;
  }
  const ctx = makeContext(
    argv,
    { json: values.json === true, configFile: typeof values.config === 'string' ? values.config : undefined },
    env,
    io,
  );
  try {
    const result = await command.run(ctx, values, parsed.positionals.slice(command.name.length));
    if (!result) return undefined;
    io.stdout(ctx.json ? `${JSON.stringify(result.data, null, 2)}\n` : `${result.text}\n`);
    return result.exitCode ?? 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      if (ctx.json) {
        io.stdout(
          `${JSON.stringify({ error: { code: 'invalid_config', problems: err.problems } }, null, 2)}\n`,
        );
        return 1;
      }
      io.stderr(`portcullis: ${err.message}\n`);
      return 1;
    }
    if (err instanceof RemoteError) return fail(err.code, err.message);
    if (err instanceof UsageError)
      return fail('invalid_arguments', `${err.message}\nusage: ${command.usage}`, 2);
    // Errors reaching here are written for operators (no secrets); stack traces stay out. A domain
    // error's own code (credential_exists, workspace_not_found …) is kept for --json consumers.
    const code = (err as { code?: unknown }).code;
    return fail(
      typeof code === 'string' && /^[a-z][a-z_]{2,40}$/.test(code) ? code : 'command_failed',
      err instanceof Error ? err.message : String(err),
    );
  }
}
