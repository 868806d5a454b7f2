import type { Pool } from 'undici';
import {
  closedLoop,
  type Endpoint,
  type StreamTiming,
  sequential,
  streamingSequential,
  type ThroughputResult,
} from './load.ts';
import { cpuMs, sampleRss, schedstat } from './processes.ts';

/**
 * One measured path (e.g. OpenAI client → OpenAI target): warm-up, then latency at concurrency 1,
 * streaming time to first token, and throughput at concurrency 32, each direct and through the
 * gateway with the same client code. Direct and through alternate in rounds, so drift on a shared
 * machine (other tenants, thermal) lands on both sides rather than on one.
 */
export interface Plan {
  warmupRequests: number;
  warmupC32Ms: number;
  latencyRounds: number;
  latencyPerRound: number;
  streamRounds: number;
  streamPerRound: number;
  throughputMs: number;
}

export interface PathEndpoints {
  direct: Endpoint;
  through: Endpoint;
  directStream: Endpoint;
  throughStream: Endpoint;
}

export interface Pools {
  direct1: Pool;
  through1: Pool;
  direct32: Pool;
  through32: Pool;
}

/** CPU used during a phase, as a fraction of one core. */
export interface CpuShare {
  gateway: number;
  /** Load generator + mock provider (they share CPU 0). */
  core0: number;
  /**
   * Gateway CPU time per request in µs: what each request costs the gateway, independent of how
   * busy the machine's other tenants keep the CPUs (1e6 / this = requests/s on a whole core).
   */
  gatewayUsPerRequest: number;
  /** Share of the phase the gateway's main thread was runnable but waiting for a CPU (NaN: unknown). */
  gatewayWaiting: number;
}

export interface Throughput extends ThroughputResult {
  cpu: CpuShare;
}

export interface PathResult {
  title: string;
  latency: { direct: number[]; through: number[] };
  stream: { direct: StreamTiming[]; through: StreamTiming[] };
  throughput: { direct: Throughput; through: Throughput };
  /** Gateway RSS in bytes while the concurrency-32 load ran through it. */
  rss: { peak: number; end: number; samples: number };
}

export interface Context {
  pools: Pools;
  gwPid: number;
  /** Other processes on CPU 0 besides this one (the mock). */
  corePids: number[];
  log: (msg: string) => void;
}

export const CONCURRENCY = 32;

async function withCpu(ctx: Context, run: () => Promise<ThroughputResult>): Promise<Throughput> {
  const gw0 = cpuMs(ctx.gwPid) ?? 0;
  const sched0 = schedstat(ctx.gwPid);
  const others0 = ctx.corePids.reduce((s, p) => s + (cpuMs(p) ?? 0), 0);
  const self0 = process.cpuUsage();
  const result = await run();
  const self = process.cpuUsage(self0);
  const gw = (cpuMs(ctx.gwPid) ?? 0) - gw0;
  const sched = schedstat(ctx.gwPid);
  const waitMs = sched && sched0 ? (sched.waitNs - sched0.waitNs) / 1e6 : Number.NaN;
  const others = ctx.corePids.reduce((s, p) => s + (cpuMs(p) ?? 0), 0) - others0;
  const core0 = others + (self.user + self.system) / 1000;
  return {
    ...result,
    cpu: {
      gateway: gw / result.elapsedMs,
      core0: core0 / result.elapsedMs,
      gatewayUsPerRequest: result.requests > 0 ? (gw * 1000) / result.requests : Number.NaN,
      gatewayWaiting: waitMs / result.elapsedMs,
    },
  };
}

export async function measurePath(
  title: string,
  eps: PathEndpoints,
  plan: Plan,
  ctx: Context,
): Promise<PathResult> {
  const { pools, log } = ctx;
  log(`${title}: warm-up`);
  await sequential(pools.direct1, eps.direct, plan.warmupRequests);
  await sequential(pools.through1, eps.through, plan.warmupRequests);
  await streamingSequential(pools.direct1, eps.directStream, 20);
  await streamingSequential(pools.through1, eps.throughStream, 20);
  await closedLoop(pools.through32, eps.through, CONCURRENCY, plan.warmupC32Ms);
  await closedLoop(pools.direct32, eps.direct, CONCURRENCY, plan.warmupC32Ms / 2);

  const n = plan.latencyRounds * plan.latencyPerRound;
  log(`${title}: latency at concurrency 1, ${n} sequential requests each`);
  const latency = { direct: [] as number[], through: [] as number[] };
  for (let r = 0; r < plan.latencyRounds; r++) {
    latency.direct.push(...(await sequential(pools.direct1, eps.direct, plan.latencyPerRound)));
    latency.through.push(...(await sequential(pools.through1, eps.through, plan.latencyPerRound)));
  }

  log(`${title}: streaming time to first token, ${plan.streamRounds * plan.streamPerRound} streams each`);
  const stream = { direct: [] as StreamTiming[], through: [] as StreamTiming[] };
  for (let r = 0; r < plan.streamRounds; r++) {
    stream.direct.push(...(await streamingSequential(pools.direct1, eps.directStream, plan.streamPerRound)));
    stream.through.push(
      ...(await streamingSequential(pools.through1, eps.throughStream, plan.streamPerRound)),
    );
  }

  const seconds = plan.throughputMs / 1000;
  log(`${title}: throughput at concurrency ${CONCURRENCY}, ${seconds} s direct`);
  const direct = await withCpu(ctx, () =>
    closedLoop(pools.direct32, eps.direct, CONCURRENCY, plan.throughputMs),
  );
  log(`${title}: throughput at concurrency ${CONCURRENCY}, ${seconds} s through the gateway`);
  const sampler = sampleRss(ctx.gwPid, 100);
  const through = await withCpu(ctx, () =>
    closedLoop(pools.through32, eps.through, CONCURRENCY, plan.throughputMs),
  );
  const rss = sampler.stop();
  log(
    `${title}: ${direct.rps.toFixed(0)} rps direct, ${through.rps.toFixed(0)} rps through, ` +
      `gateway CPU ${(through.cpu.gateway * 100).toFixed(0)}%, RSS peak ${(rss.peak / 2 ** 20).toFixed(0)} MB`,
  );
  return {
    title,
    latency,
    stream,
    throughput: { direct, through },
    rss: { peak: rss.peak, end: rss.last, samples: rss.samples },
  };
}
