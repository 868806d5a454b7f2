import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { baseEnv, firstJsonLine, freePort, runCli, startNode, waitUntilReady } from './processes.ts';

/**
 * What the benchmark measures: the mock provider in its own process on CPU 0, a data dir seeded
 * through the real CLI (workspace, two provider credentials, an API key), and `portcullis serve`
 * on CPU 1, run as an operator would: info-level JSON logs appended to a file.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'src/cli/run.ts');
const MOCK = join(ROOT, 'bench/mock-server.ts');

/**
 * How the mock streams: 4 content deltas 1 ms apart, so a gateway that held events back would show
 * in the time to first token. Set on the mock instance; JSON answers are not affected.
 */
export const MOCK_SCENARIO = 'chunks=4;chunkDelay=1';

export interface StackOptions {
  /** A private temp dir (removed by the caller). */
  tmp: string;
  logLevel: string;
  /** Write a V8 CPU profile of the gateway into this dir. */
  profileDir?: string;
  log: (msg: string) => void;
}

export interface Stack {
  mock: ChildProcess;
  mockOrigin: string;
  gateway: ChildProcess;
  gatewayOrigin: string;
  /** The gateway's stdout + stderr. */
  logFile: string;
  /** Random per run; held in memory only. */
  providerSecret: string;
  apiKey: string;
}

export async function startStack(opts: StackOptions): Promise<Stack> {
  const { tmp, log } = opts;
  const dataDir = join(tmp, 'data');
  await mkdir(dataDir, { mode: 0o700 });
  // The provider key the mock accepts, which the gateway stores encrypted.
  const providerSecret = `sk-bench-${randomBytes(24).toString('base64url')}`;

  log('starting the mock provider (CPU 0)');
  const mock = startNode(MOCK, [], {
    cpu: 0,
    env: { ...baseEnv(), BENCH_MOCK_KEY: providerSecret, BENCH_MOCK_SCENARIO: MOCK_SCENARIO },
    stdout: 'pipe',
    stderr: 2,
    stdinPipe: true,
  });
  const { port: mockPort } = (await firstJsonLine(mock, 15_000)) as { port: number };
  const mockOrigin = `http://127.0.0.1:${mockPort}`;

  const gwEnv = {
    ...baseEnv(),
    PORTCULLIS_DATA_DIR: dataDir,
    PORTCULLIS_HOST: '127.0.0.1',
    PORTCULLIS_EGRESS_ALLOW: '127.0.0.1',
  };
  log('seeding a workspace, two provider credentials and an API key (CLI)');
  const cliEnv = { ...gwEnv, PORTCULLIS_LOG_LEVEL: 'warn', BENCH_PROVIDER_SECRET: providerSecret };
  await runCli(CLI, ['workspaces', 'create', '--name', 'bench', '--json'], cliEnv);
  // biome-ignore format: one flag per pair reads best
  await runCli(CLI, ['credentials', 'add', '--workspace', 'bench', '--name', 'mock-openai', '--provider', 'openai',
    '--base-url', `${mockOrigin}/v1`, '--secret-env', 'BENCH_PROVIDER_SECRET', '--models', 'gpt-*', '--json'], cliEnv);
  // biome-ignore format: one flag per pair reads best
  await runCli(CLI, ['credentials', 'add', '--workspace', 'bench', '--name', 'mock-anthropic', '--provider', 'anthropic',
    '--base-url', mockOrigin, '--secret-env', 'BENCH_PROVIDER_SECRET', '--models', 'claude-*', '--json'], cliEnv);
  // Limits far above what the run can reach, so the limit stage does its full work (rate, token and
  // concurrency counters, a spend reservation priced per call) without ever refusing.
  // biome-ignore format: one flag per pair reads best
  const keyArgs = ['keys', 'create', '--workspace', 'bench', '--name', 'bench', '--allow-ip', '127.0.0.1/32',
    '--rpm', '1000000000', '--tpm', '1000000000', '--concurrency', '10000',
    '--budget-usd', '1000000', '--budget-window', 'month', '--json'];
  const created = JSON.parse(await runCli(CLI, keyArgs, cliEnv)) as { key?: unknown };
  if (typeof created.key !== 'string') throw new Error('keys create --json did not return a key');

  log(`starting the gateway (CPU 1, log level ${opts.logLevel}, logs appended to a file in the temp dir)`);
  const gwPort = await freePort();
  const gatewayOrigin = `http://127.0.0.1:${gwPort}`;
  const logFile = join(tmp, 'gateway.log');
  const logFd = openSync(logFile, 'a');
  const gateway = startNode(CLI, ['serve'], {
    cpu: 1,
    env: { ...gwEnv, PORTCULLIS_PORT: String(gwPort), PORTCULLIS_LOG_LEVEL: opts.logLevel },
    stdout: logFd,
    stderr: logFd,
    nodeFlags: opts.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.profileDir}`] : [],
  });
  closeSync(logFd);
  await waitUntilReady(`${gatewayOrigin}/readyz`, gateway, logFile, 30_000);
  return { mock, mockOrigin, gateway, gatewayOrigin, logFile, providerSecret, apiKey: created.key };
}
