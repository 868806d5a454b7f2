/**
 * `npm run bench`: the mock provider called directly vs through Portcullis, side by side in one
 * run, with the same client code (DESIGN.md "Performance budget", issue 3 item 8).
 *
 *   npm run bench                     # full run (~1 min), writes bench/report.md
 *   npm run bench -- --quick          # short smoke run (~20 s), prints its report only
 *   npm run bench -- --profile        # gateway under --cpu-prof, writes bench/profile.md
 *   npm run bench -- --out FILE       # report elsewhere
 *   npm run bench -- --log-level warn # experiment: gateway without per-request log lines
 *
 * Layout on a 2-core machine: gateway alone on CPU 1; mock provider and this load generator on
 * CPU 0 (taskset, when present). Everything listens on 127.0.0.1 only; keys are random per run,
 * held in memory and in child environments only, never printed or written.
 */
import { mkdir, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type Client, createClient } from './load.ts';
import { hasTaskset, killAllSync, pinSelf, registerTempDir, rssBytes, stop, stopAll } from './processes.ts';
import { readProfile, summarise } from './profile.ts';
import { type BenchResult, type MachineLoad, machineInfo, renderProfile, renderReport } from './report.ts';
import { CONCURRENCY, measurePath, type Plan } from './scenario.ts';
import { startStack } from './stack.ts';
import { sanityCheck, workload } from './workload.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    out: { type: 'string' },
    // For experiments only (e.g. `warn` to see what per-request logging costs); reports use info.
    'log-level': { type: 'string', default: 'info' },
  },
});

const FULL: Plan = {
  warmupRequests: 500,
  warmupC32Ms: 2_000,
  latencyRounds: 4,
  latencyPerRound: 500,
  streamRounds: 2,
  streamPerRound: 150,
  throughputMs: 10_000,
};
/** The translation path gets half the time: the budget is for the whole run (~1 minute). */
const TRANSLATION: Plan = {
  ...FULL,
  warmupC32Ms: 1_500,
  latencyRounds: 2,
  streamPerRound: 100,
  throughputMs: 5_000,
};
const QUICK: Plan = {
  warmupRequests: 100,
  warmupC32Ms: 500,
  latencyRounds: 2,
  latencyPerRound: 100,
  streamRounds: 1,
  streamPerRound: 30,
  throughputMs: 1_500,
};

/** 1-minute load average and CPU pressure (PSI "some", 60 s): how busy the rest of the machine is. */
async function machineLoad(): Promise<MachineLoad> {
  const read = (file: string): Promise<string> => readFile(file, 'utf8').catch(() => '');
  const pressure = /^some .*avg60=([\d.]+)/m.exec(await read('/proc/pressure/cpu'))?.[1];
  return {
    loadavg: Number((await read('/proc/loadavg')).split(' ')[0]),
    cpuPressure: pressure === undefined ? undefined : Number(pressure),
  };
}

async function main(): Promise<void> {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 24) {
    throw new Error(`Node ${process.versions.node}: run \`npm run bench\` (it uses the pinned Node 24)`);
  }
  const plan = values.quick ? QUICK : FULL;
  const translationPlan = values.quick ? QUICK : TRANSLATION;
  const logLevel = values['log-level'] ?? 'info';
  // A quick run only prints its report: its figures are too short-lived to keep in the repository.
  const outPath =
    values.out ?? (values.profile ? 'bench/profile.md' : values.quick ? undefined : 'bench/report.md');
  const outFile = outPath === undefined ? undefined : resolve(outPath);
  const machine = machineInfo();
  const loadStart = await machineLoad();
  const pinned = pinSelf(0) && hasTaskset;
  const started = Date.now();
  const log = (msg: string): void => {
    process.stdout.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${msg}\n`);
  };

  const tmp = await mkdtemp(join(tmpdir(), 'portcullis-bench-'));
  registerTempDir(tmp);
  const profileDir = values.profile ? join(tmp, 'prof') : undefined;
  if (profileDir) await mkdir(profileDir, { mode: 0o700 });

  const stack = await startStack({ tmp, logLevel, profileDir, log });
  const gwPid = stack.gateway.pid ?? 0;
  const rssIdle = rssBytes(gwPid) ?? 0;
  const w = workload(stack);

  const clients: Client[] = [];
  const pool = (origin: string, connections: number) => {
    const c = createClient(origin, connections);
    clients.push(c);
    return c.pool;
  };
  const pools = {
    direct1: pool(stack.mockOrigin, 1),
    through1: pool(stack.gatewayOrigin, 1),
    direct32: pool(stack.mockOrigin, CONCURRENCY),
    through32: pool(stack.gatewayOrigin, CONCURRENCY),
  };
  await sanityCheck(w, pools);
  log(`sanity check passed: mock ${stack.mockOrigin}, gateway ${stack.gatewayOrigin}`);

  const ctx = { pools, gwPid, corePids: [stack.mock.pid ?? 0], log };
  const native = await measurePath('OpenAI → OpenAI target', w.native, plan, ctx);
  const translation = await measurePath(
    'OpenAI client → Anthropic target',
    w.translated,
    translationPlan,
    ctx,
  );
  await new Promise((r) => setTimeout(r, 1_000));
  const rssAfter = rssBytes(gwPid) ?? 0;

  for (const c of clients) await c.close();
  log('stopping the gateway and the mock');
  // Generous: under --cpu-prof the gateway writes its profile on the way out.
  await stop(stack.gateway, 15_000);
  await stop(stack.mock);

  // The operator's view of the log: how much it wrote, and that no secret is in it.
  const logText = await readFile(stack.logFile, 'utf8');
  const secrets = [stack.providerSecret, stack.apiKey, stack.apiKey.slice(-12)];
  const result: BenchResult = {
    date: new Date().toISOString(),
    machine,
    quick: values.quick === true,
    profiled: values.profile === true,
    logLevel,
    pinned,
    plan,
    translationPlan,
    native,
    translation,
    rss: { idle: rssIdle, after: rssAfter },
    log: {
      lines: logText.split('\n').filter((l) => l !== '').length,
      bytes: (await stat(stack.logFile)).size,
      calls: logText.split('"msg":"llm call"').length - 1,
      secretsFound: secrets.some((s) => logText.includes(s)),
    },
    load: { start: loadStart, end: await machineLoad() },
    durationS: (Date.now() - started) / 1000,
  };
  let markdown = renderReport(result);
  if (profileDir) markdown += renderProfile(summarise(await readProfile(profileDir)));
  process.stdout.write(`\n${markdown}\n`);
  if (outFile !== undefined) {
    await writeFile(outFile, markdown);
    log(`wrote ${relative(process.cwd(), outFile)}`);
  }
  if (result.log.secretsFound) throw new Error('a secret was found in the gateway log');
}

process.once('exit', killAllSync);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\nbench: ${signal}, cleaning up\n`);
    void stopAll().finally(() => process.exit(130));
  });
}
try {
  await main();
} catch (err) {
  process.exitCode = 1;
  process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
} finally {
  await stopAll();
}
