import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { percentile } from './load.ts';
import type { ProfileSummary } from './profile.ts';
import { CONCURRENCY, type PathResult, type Plan } from './scenario.ts';

/** Renders bench/report.md: the figures side by side, their ratios, and DESIGN.md's targets. */
export interface Machine {
  nproc: number;
  cpu: string;
  node: string;
  kernel: string;
  commit: string;
}

export interface MachineLoad {
  /** 1-minute load average (/proc/loadavg). */
  loadavg: number;
  /** % of the last 60 s some runnable task waited for a CPU (/proc/pressure/cpu), if available. */
  cpuPressure: number | undefined;
}

export interface BenchResult {
  date: string;
  machine: Machine;
  quick: boolean;
  profiled: boolean;
  logLevel: string;
  pinned: boolean;
  plan: Plan;
  translationPlan: Plan;
  native: PathResult;
  translation: PathResult;
  rss: { idle: number; after: number };
  log: { lines: number; bytes: number; calls: number; secretsFound: boolean };
  /** Other work on the machine, at the start and the end: it makes the figures noisy. */
  load: { start: MachineLoad; end: MachineLoad };
  durationS: number;
}

/** DESIGN.md "Performance budget". */
export const TARGETS = {
  p50AddedMs: 0.25,
  p99AddedMs: 2,
  rpsC32: 5_000,
  ttftAddedMs: 1,
  rssBytes: 150 * 2 ** 20,
};

export function machineInfo(): Machine {
  let cpu = 'unknown';
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpu;
  } catch {
    // not Linux: leave it unknown
  }
  const git = (args: string[]): string =>
    spawnSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).stdout?.trim() ?? '';
  const head = git(['rev-parse', '--short', 'HEAD']);
  const dirty = git(['status', '--porcelain', '--untracked-files=no']) !== '';
  return {
    // Every CPU of the machine: nproc would count only the CPUs this (pinned) process may use.
    nproc: cpus().length,
    cpu,
    node: process.version,
    kernel: release(),
    commit: head === '' ? 'unknown' : `${head}${dirty ? ' (with uncommitted changes)' : ''}`,
  };
}

const ms = (v: number): string => `${v.toFixed(3)} ms`;
const signedMs = (v: number): string => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(3)} ms`;
const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MB`;
const rps = (v: number): string => `${Math.round(v).toLocaleString('en-US')} req/s`;
const ratio = (v: number): string => `${v.toFixed(2)}×`;
const pct = (v: number): string => `${Math.round(v * 100)}%`;
const verdict = (ok: boolean): string => (ok ? '**pass**' : '**miss**');

function pathTable(r: PathResult, plan: Plan, targetsApply: boolean): string {
  const n = plan.latencyRounds * plan.latencyPerRound;
  const streams = plan.streamRounds * plan.streamPerRound;
  const ld = r.latency.direct;
  const lt = r.latency.through;
  const td = r.stream.direct.map((s) => s.ttft);
  const tt = r.stream.through.map((s) => s.ttft);
  const sd = r.stream.direct.map((s) => s.total);
  const st = r.stream.through.map((s) => s.total);
  const { direct: xd, through: xt } = r.throughput;
  const target = (text: string, ok: boolean): [string, string] =>
    targetsApply ? [text, verdict(ok)] : [`(${text})`, ok ? 'within' : 'over'];
  const rows: string[][] = [];
  const at = (q: number) => (xs: number[]) => percentile(xs, q);
  const mean = (xs: number[]) => xs.reduce((sum, x) => sum + x, 0) / xs.length;
  const statRow = (
    label: string,
    a: number[],
    b: number[],
    stat: (xs: number[]) => number,
    t: [string, string] = ['', ''],
  ): number => {
    const da = stat(a);
    const db = stat(b);
    rows.push([label, ms(da), ms(db), signedMs(db - da), ratio(db / da), ...t]);
    return db - da;
  };
  const p50Added = at(0.5)(lt) - at(0.5)(ld);
  const p99Added = at(0.99)(lt) - at(0.99)(ld);
  statRow(
    `latency p50, c=1 (${n} requests each)`,
    ld,
    lt,
    at(0.5),
    target(`≤ +${TARGETS.p50AddedMs} ms`, p50Added <= TARGETS.p50AddedMs),
  );
  statRow(
    'latency p99, c=1',
    ld,
    lt,
    at(0.99),
    target(`≤ +${TARGETS.p99AddedMs} ms`, p99Added <= TARGETS.p99AddedMs),
  );
  statRow('latency mean, c=1', ld, lt, mean);
  rows.push([
    `throughput, c=${CONCURRENCY} (${plan.throughputMs / 1000} s each)`,
    rps(xd.rps),
    rps(xt.rps),
    `${xt.rps >= xd.rps ? '+' : '−'}${rps(Math.abs(xt.rps - xd.rps))}`,
    ratio(xt.rps / xd.rps),
    ...target(`≥ ${TARGETS.rpsC32.toLocaleString('en-US')} req/s on one core`, xt.rps >= TARGETS.rpsC32),
  ]);
  statRow(`latency p50 under c=${CONCURRENCY}`, xd.latencies, xt.latencies, at(0.5));
  statRow(`latency p99 under c=${CONCURRENCY}`, xd.latencies, xt.latencies, at(0.99));
  const ttftAdded = at(0.5)(tt) - at(0.5)(td);
  statRow(
    `streaming TTFT p50, c=1 (${streams} streams each)`,
    td,
    tt,
    at(0.5),
    target(`≤ +${TARGETS.ttftAddedMs} ms`, ttftAdded <= TARGETS.ttftAddedMs),
  );
  statRow('streaming TTFT p99, c=1', td, tt, at(0.99));
  statRow('streaming, whole stream p50', sd, st, at(0.5));
  rows.push([
    `gateway RSS under c=${CONCURRENCY} load: peak`,
    '—',
    mb(r.rss.peak),
    '',
    '',
    ...target(`≤ ${mb(TARGETS.rssBytes)}`, r.rss.peak <= TARGETS.rssBytes),
  ]);
  rows.push([`gateway RSS at the end of the c=${CONCURRENCY} load`, '—', mb(r.rss.end), '', '', '', '']);
  rows.push([
    `CPU during c=${CONCURRENCY}: gateway (CPU 1) / client + mock (CPU 0); gateway waiting for a CPU`,
    `— / ${pct(xd.cpu.core0)}`,
    `${pct(xt.cpu.gateway)} / ${pct(xt.cpu.core0)}; ${Number.isNaN(xt.cpu.gatewayWaiting) ? '?' : pct(xt.cpu.gatewayWaiting)}`,
    '',
    '',
    '',
    '',
  ]);
  const usPerReq = xt.cpu.gatewayUsPerRequest;
  rows.push([
    `gateway CPU time per request under c=${CONCURRENCY} (→ req/s if it had a whole core)`,
    '—',
    `${usPerReq.toFixed(0)} µs (→ ${rps(1e6 / usPerReq)})`,
    '',
    '',
    '',
    '',
  ]);
  const errors = xd.errors + xt.errors;
  const head =
    '| measure | direct | through Portcullis | added | ratio (through / direct) | DESIGN.md target | result |\n' +
    '| --- | ---: | ---: | ---: | ---: | --- | --- |\n';
  const body = rows.map((row) => `| ${row.join(' | ')} |`).join('\n');
  const errorNote =
    errors > 0
      ? `\n\n**${errors} request(s) failed during the throughput phases** (first: ${xt.firstError ?? xd.firstError}).`
      : '';
  return `${head}${body}${errorNote}\n`;
}

const loadText = (l: MachineLoad): string =>
  `load average ${l.loadavg.toFixed(2)}${l.cpuPressure === undefined ? '' : `, CPU pressure ${l.cpuPressure.toFixed(0)}%`}`;

/**
 * Judged on the minute before the run: during it the bench keeps both CPUs busy itself (the mock and
 * the client even wait for each other on CPU 0), so the end figures are shown but not judged.
 */
const busy = (r: BenchResult): boolean => r.load.start.loadavg > 1 || (r.load.start.cpuPressure ?? 0) > 10;

export function renderReport(r: BenchResult): string {
  const m = r.machine;
  const experiment = r.logLevel === 'info' ? '' : `, log level ${r.logLevel}: not the operator's default`;
  const mode = r.profiled
    ? 'profiled (gateway under `--cpu-prof`: figures are slower than a normal run)'
    : r.quick
      ? 'quick smoke run (short phases: figures are indicative only)'
      : 'full';
  const layout = r.pinned
    ? 'gateway pinned to CPU 1; mock provider and load generator pinned to CPU 0 (`taskset`)'
    : 'not pinned (`taskset` unavailable): all processes share the CPUs, so figures are noisier';
  return `# Portcullis benchmark

Generated by \`npm run bench\` (bench/run.ts). Absolute numbers on shared machines are noisy; the
ratios to the direct call, measured in the same run with the same client, are what to compare.

- **Date:** ${r.date} (run took ${r.durationS.toFixed(0)} s, mode: ${mode}${experiment})
- **Machine:** ${m.nproc} CPUs (nproc), ${m.cpu}, Linux ${m.kernel}
- **Node:** ${m.node} · **commit:** ${m.commit}
- **Layout:** ${layout}. Everything on 127.0.0.1, HTTP/1.1 keep-alive.
- **Other load on the machine:** ${loadText(r.load.start)} at the start, ${loadText(r.load.end)} at the end${busy(r) ? ' — **the machine was busy with other work**: absolute figures are depressed and noisy; the gateway CPU time per request is the steadier figure' : ''}.
- **Client:** undici \`Pool\` in the bench process, keep-alive, \`pipelining: 1\`; 1 connection for
  c=1, ${CONCURRENCY} for c=${CONCURRENCY}; every response read to its last byte. Identical request bodies
  direct and through; only the origin and the credential header differ.
- **Upstream:** the mock provider (\`test/fixtures/mock-upstream.ts\`, request recording off) in its own
  process, answering at once (no simulated model latency), so the figures isolate the gateway's cost.
- **Gateway:** \`portcullis serve\` on SQLite (temp data dir), in-memory counters, log level **${r.logLevel}**
  with stdout/stderr appended to a file (as an operator would run it); one workspace, two provider
  credentials (openai → mock /v1, anthropic → mock), one API key with an IP allowlist (127.0.0.1/32),
  rpm / tpm / concurrency limits and a monthly budget set far above what the run reaches, so every
  stage the gateway has in this checkout runs on each request without refusing any.
- **Request:** non-streaming chat completion, ~1 KB user prompt plus a system prompt, \`max_tokens: 64\`.
  Streams: the same request with \`stream: true\`; the mock sends 4 content deltas 1 ms apart
  (mock scenario \`chunks=4;chunkDelay=1\`). TTFT = request sent → first chunk with non-empty
  content parsed by the client.
- **Warm-up:** ${r.plan.warmupRequests} sequential requests per target, 20 streams, and ${r.plan.warmupC32Ms / 1000} s at
  c=${CONCURRENCY} before anything is timed; direct and through alternate in rounds.

## OpenAI client → OpenAI target (pass-through)

${pathTable(r.native, r.plan, true)}
## OpenAI client → Anthropic target (format translation)

"Direct" here is the same conversation sent to the mock in Anthropic's own format (\`POST /v1/messages\`);
"through" is the OpenAI-format request that Portcullis translates to Anthropic and back. DESIGN.md's
budget is for the whole pipeline and is shown in brackets for reference.

${pathTable(r.translation, r.translationPlan, false)}
## Memory and logs

- Gateway RSS: ${mb(r.rss.idle)} idle after start; peak under load ${mb(Math.max(r.native.rss.peak, r.translation.rss.peak))} (target ≤ ${mb(TARGETS.rssBytes)}: ${verdict(Math.max(r.native.rss.peak, r.translation.rss.peak) <= TARGETS.rssBytes)}); ${mb(r.rss.after)} one second after the last load phase.
  Sampled from \`/proc/<pid>/status\` (VmRSS) every 100 ms (${r.native.rss.samples + r.translation.rss.samples} samples).
- Gateway log at ${r.logLevel} level: ${r.log.lines.toLocaleString('en-US')} lines, ${mb(r.log.bytes)} for ${r.log.calls.toLocaleString('en-US')} proxied calls (${r.log.calls > 0 ? (r.log.lines / r.log.calls).toFixed(2) : '—'} lines per call).
  Provider secret or API key found in it: **${r.log.secretsFound ? 'YES — investigate' : 'no'}**.

## Reproduce

\`\`\`
npm ci
npm run bench                 # ~1.5 min; rewrites bench/report.md
npm run bench -- --quick      # ~20 s smoke run, report printed only
npm run bench -- --profile    # gateway under --cpu-prof → bench/profile.md (top self-time functions)
node --disable-warning=ExperimentalWarning bench/logger-cost.ts   # cost of the per-request log lines
\`\`\`

Needs Linux (/proc) and, for the intended layout, \`taskset\` and two CPUs. The bench starts and stops
every process itself (mock, CLI seeding, gateway) in a temp dir that it removes, even on failure; keys
are random per run and never printed. Targets: DESIGN.md "Performance budget".
`;
}

export function renderProfile(s: ProfileSummary): string {
  const rows = (xs: ProfileSummary['functions']) =>
    xs
      .map((x) => `| ${x.name.replaceAll('|', '\\|')} | ${x.selfMs.toFixed(0)} ms | ${pct(x.share)} |`)
      .join('\n');
  return `
## CPU profile of the gateway (whole run, idle excluded: ${s.totalMs.toFixed(0)} ms busy)

By origin (self time):

| origin | self time | share |
| --- | ---: | ---: |
${rows(s.origins)}

Top functions (self time):

| function | self time | share |
| --- | ---: | ---: |
${rows(s.functions)}
`;
}
