import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { systemClock } from '../../src/clock.ts';
import { loadConfig } from '../../src/config/load.ts';
import { loadPepper } from '../../src/keys/hash.ts';
import { createKeyRepository, type KeyRepository } from '../../src/keys/repository.ts';
import { resolveMasterKeys } from '../../src/secrets/master-key.ts';
import { openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/types.ts';
import { CLI, NODE_FLAGS, userEnv } from './cli.ts';
import { tempDir } from './gateway.ts';
import { isolatedSchema } from './postgres.ts';

/**
 * The people commands (`init`, `login`, `users`, `members`, `workspaces`) as an operator runs them:
 * real CLI processes on a place of their own (a temp folder with SQLite, or a fresh PostgreSQL
 * schema and Redis when TEST_DATABASE_URL and TEST_REDIS_URL are set). Every byte the CLI writes
 * is kept (`outputs`) so a suite can check at the end that no password or hash leaked.
 */

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** What every CLI run printed, stdout and stderr. */
export const outputs: string[] = [];
/** Every password handed to the CLI (they must never be printed). */
export const passwords: string[] = [];

/** `args` as one string is split on spaces (for arguments without spaces of their own). */
export function words(args: string | string[]): string[] {
  return typeof args === 'string' ? args.split(/\s+/).filter((w) => w !== '') : args;
}

/**
 * A user's environment plus `extra`, with Node's compile cache on: each CLI process loads the
 * whole command set (about a second of type stripping and compiling); cached, half of that. V8
 * checks every cached entry against the source, so an edited file is never run stale.
 */
export function cliEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return userEnv({ NODE_COMPILE_CACHE: path.join(tmpdir(), 'portcullis-test-compile-cache'), ...extra });
}

/**
 * The CLI in a child process, asynchronously (unlike test/helpers/cli.ts `runCli`): a gateway in
 * the test's own process must keep answering the CLI's requests while it runs.
 */
export function cli(args: string | string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...NODE_FLAGS, CLI, ...words(args)], {
      env: cliEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      outputs.push(stdout, stderr);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A successful --json run's output. */
export function ok<T = unknown>(r: CliResult): T {
  assert.equal(r.code, 0, r.stderr || r.stdout);
  return JSON.parse(r.stdout) as T;
}

/** A failed --json run: the exit code and the error envelope on stdout. Returns the message. */
export function failed(r: CliResult, code: string, exit = 1): string {
  assert.equal(r.code, exit, r.stderr || r.stdout);
  const error = (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error;
  assert.equal(error.code, code, error.message);
  return error.message;
}

export interface PasswordFile {
  file: string;
  password: string;
}

/** A new password that passes the policy, in a file as its first line (a second line is ignored). */
export function passwordFile(dir: string, name: string): PasswordFile {
  const password = `Pw-${randomBytes(12).toString('base64url')}`;
  passwords.push(password);
  const file = path.join(dir, `${name}.pw`);
  writeFileSync(file, `${password}\nthis second line is not the password\n`, { mode: 0o600 });
  return { file, password };
}

/** Checks everything the CLI printed: no password, no argon2id hash. */
export function assertNothingLeaked(extra: readonly string[] = []): void {
  const all = outputs.join('\n');
  assert.ok(!all.includes('$argon2id$'), 'a password hash appeared in CLI output');
  for (const secret of [...passwords, ...extra]) {
    assert.ok(!all.includes(secret), 'a password or secret appeared in CLI output');
  }
}

/** Where the CLI works, as the environment that selects it. */
export interface Place {
  dir: string;
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function newPlace(label: string): Promise<Place> {
  const tmp = tempDir(`pcx-cli-identity-${label}-`);
  const env: Record<string, string> = {
    PORTCULLIS_DATA_DIR: tmp.dir,
    PORTCULLIS_MASTER_KEY: randomBytes(32).toString('base64'),
  };
  let drop: (() => Promise<void>) | undefined;
  const pgUrl = process.env.TEST_DATABASE_URL;
  const redisUrl = process.env.TEST_REDIS_URL;
  if (pgUrl) {
    const schema = await isolatedSchema(pgUrl, `cli_identity_${label}`);
    env.PORTCULLIS_DATABASE_URL = schema.url;
    drop = schema.drop;
  }
  if (redisUrl) env.PORTCULLIS_REDIS_URL = redisUrl;
  return {
    dir: tmp.dir,
    env,
    async close() {
      await drop?.();
      tmp.remove();
    },
  };
}

/** The place's store opened in the test's process, for what only the database can tell. */
export async function openDb(place: Place): Promise<{ store: Store; keys: KeyRepository }> {
  const { config } = loadConfig({ env: place.env });
  const logger = pino({ level: 'silent' });
  const store = await openStore({ config, logger });
  try {
    const masterKeys = await resolveMasterKeys({
      config,
      store,
      logger,
      dataDir: config.dataDir,
      clock: systemClock,
    });
    const pepper = await loadPepper({ store, keys: masterKeys, clock: systemClock });
    return { store, keys: createKeyRepository({ store, clock: systemClock, pepper }) };
  } catch (err) {
    await store.close();
    throw err;
  }
}

/** How often `part` occurs in `text`. */
export function occurrences(text: string, part: string): number {
  return part === '' ? 0 : text.split(part).length - 1;
}
