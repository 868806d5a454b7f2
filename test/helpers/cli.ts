import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Runs the real CLI in a child process, as a user would, on the Node that runs the tests. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(ROOT, 'src/cli/run.ts');
export const NODE_FLAGS = ['--disable-warning=ExperimentalWarning'];

/** The environment a user would have: the test runner's, minus anything Portcullis reads, plus `extra`. */
export function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('PORTCULLIS_') && k !== 'DATABASE_URL' && k !== 'REDIS_URL') env[k] = v;
  }
  return { ...env, ...extra };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: Record<string, string> = {}): CliResult {
  const r = spawnSync(process.execPath, [...NODE_FLAGS, CLI, ...args], {
    env: userEnv(env),
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
