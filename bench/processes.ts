import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Child processes of the benchmark (mock provider, gateway, seeding CLI), CPU pinning, and
 * /proc sampling. Every process started here is registered and stopped by `stopAll`, which also
 * runs from the bench process's exit and signal handlers, so nothing outlives a failed run.
 */
const NODE_FLAGS = ['--disable-warning=ExperimentalWarning'];
const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();

export const hasTaskset: boolean = spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;

/** Pins this process (all its current threads; later ones inherit) to one CPU. */
export function pinSelf(cpu: number): boolean {
  if (!hasTaskset) return false;
  return (
    spawnSync('taskset', ['-a', '-cp', String(cpu), String(process.pid)], { stdio: 'ignore' }).status === 0
  );
}

/** Only what node and the gateway need: no inherited PORTCULLIS_*, DATABASE_URL or REDIS_URL. */
export function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR']) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

export interface StartOptions {
  /** CPU to pin the process to (ignored without taskset). */
  cpu?: number;
  env: Record<string, string>;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeFlags?: string[];
  /** File descriptor (or 'ignore'/'pipe') for stdout and stderr. */
  stdout?: number | 'ignore' | 'pipe';
  stderr?: number | 'ignore' | 'pipe';
  /** Keep stdin as a pipe the child can watch for our death. */
  stdinPipe?: boolean;
}

/** Starts `node [flags] script args…`, pinned to a CPU with taskset when asked and available. */
export function startNode(script: string, args: string[], opts: StartOptions): ChildProcess {
  const nodeArgs = [...NODE_FLAGS, ...(opts.nodeFlags ?? []), script, ...args];
  const pinned = opts.cpu !== undefined && hasTaskset;
  // taskset execs node, so the pid we get is node's own (what /proc sampling needs).
  const [cmd, argv] = pinned
    ? ['taskset', ['-c', String(opts.cpu), process.execPath, ...nodeArgs]]
    : [process.execPath, nodeArgs];
  const child = spawn(cmd as string, argv as string[], {
    env: opts.env,
    stdio: [opts.stdinPipe ? 'pipe' : 'ignore', opts.stdout ?? 'ignore', opts.stderr ?? 'ignore'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Runs a CLI command to completion; stdout is returned (it may hold a secret: the caller must not print it). */
export async function runCli(
  script: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs = 30_000,
): Promise<string> {
  const child = startNode(script, args, { env, stdout: 'pipe', stderr: 'pipe' });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on('data', (b: Buffer) => out.push(b));
  child.stderr?.on('data', (b: Buffer) => err.push(b));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c) => resolve(c));
  }).finally(() => clearTimeout(timer));
  if (code !== 0) {
    // stderr only: the CLI never writes secrets there; stdout is not shown because it might.
    const tail = Buffer.concat(err).toString('utf8').trim().split('\n').slice(-5).join('\n');
    throw new Error(`\`portcullis ${args.slice(0, 2).join(' ')}\` exited with ${code}: ${tail}`);
  }
  return Buffer.concat(out).toString('utf8');
}

/** Waits for the first stdout line of a child and parses it as JSON. */
export async function firstJsonLine(child: ChildProcess, timeoutMs: number): Promise<unknown> {
  const stdout = child.stdout;
  if (!stdout) throw new Error('child has no stdout pipe');
  const lines = createInterface({ input: stdout });
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    const line = await new Promise<string>((resolve, reject) => {
      lines.once('line', resolve);
      child.once('exit', (code) => reject(new Error(`process exited (${code}) before it was ready`)));
      timeout.addEventListener('abort', () => reject(new Error('timed out waiting for the process')));
    });
    return JSON.parse(line);
  } finally {
    lines.close();
  }
}

/** A port nobody listens on right now (the gateway binds it a moment later; loopback only). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Polls a readiness URL until it answers 200; fails early, with the log's tail, if the process dies. */
export async function waitUntilReady(
  url: string,
  child: ChildProcess,
  logFile: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `gateway exited (${child.exitCode ?? child.signalCode}) during start:\n${logTail(logFile)}`,
      );
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  throw new Error(`gateway not ready after ${timeoutMs} ms:\n${logTail(logFile)}`);
}

function logTail(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').slice(-10).join('\n') : '(no log)';
}

/** Sends SIGTERM, waits up to `graceMs`, then SIGKILL. Resolves once the process is gone. */
export async function stop(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export function registerTempDir(dir: string): void {
  tempDirs.add(dir);
}

/** Stops every child we started and removes our temp dirs. Safe to call more than once. */
export async function stopAll(): Promise<void> {
  await Promise.all([...children].map((c) => stop(c)));
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

/** Last resort from `process.on('exit')`: synchronous, no waiting. */
export function killAllSync(): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
}

/** Resident set size of a process in bytes (VmRSS from /proc/<pid>/status), or undefined. */
export function rssBytes(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return m?.[1] ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** CPU time (user + system) a process has used so far, in milliseconds. */
export function cpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces; fields after its closing parenthesis are fixed.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return ((utime + stime) * 1000) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/**
 * Scheduler statistics of a process's main thread (/proc/<pid>/schedstat): nanoseconds on a CPU
 * and nanoseconds runnable but waiting for one. The second tells a gateway starved of CPU by other
 * work on the machine from one that is idle, waiting on I/O.
 */
export function schedstat(pid: number): { runNs: number; waitNs: number } | undefined {
  try {
    const [run, wait] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(' ').map(Number);
    return run === undefined || wait === undefined ? undefined : { runNs: run, waitNs: wait };
  } catch {
    return undefined;
  }
}

/** Samples a process's RSS every `everyMs` until stopped; keeps peak and last. */
export function sampleRss(pid: number, everyMs = 100) {
  let peak = 0;
  let last = 0;
  let samples = 0;
  const take = (): void => {
    const rss = rssBytes(pid);
    if (rss === undefined) return;
    samples++;
    last = rss;
    if (rss > peak) peak = rss;
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop(): { peak: number; last: number; samples: number } {
      clearInterval(timer);
      take();
      return { peak, last, samples };
    },
  };
}
