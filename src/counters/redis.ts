import { Redis } from 'ioredis';
import type { Clock } from '../clock.ts';
import { systemClock } from '../clock.ts';
import type { CountersLogger } from './memory.ts';
import { ADD_LUA, ADMIT_LUA, RATE_LUA, RESERVE_LUA } from './redis-scripts.ts';
import type {
  AdmitResult,
  Counters,
  RateOutcome,
  RateResult,
  RateSpec,
  ReserveResult,
  ReserveSpec,
} from './types.ts';
import { checkAdd, checkAdmitSpecs, checkKey, checkRateSpecs, checkReserveSpecs } from './validate.ts';

/**
 * Counters shared by every replica through Redis. `rate`, `reserve` and `admit` are one EVALSHA each
 * (see redis-scripts.ts). All keys of one call must live on one node, so Redis Cluster is not
 * supported; a single primary (with replicas for failover) is.
 *
 * Failure behaviour: the gateway must fail closed, so a call must fail *fast* when Redis is away
 * rather than queue or hang. No offline queue (a call while disconnected rejects at once), no
 * retries of in-flight commands, and a command timeout for a server that stops answering. The
 * connection reconnects by itself, and the subscriber connection re-subscribes (ioredis
 * `autoResubscribe`). Messages published while a replica is disconnected are lost (Redis pub/sub
 * is at-most-once), so listeners must not be the only path to a security decision.
 */

export interface RedisCountersOptions {
  /** redis:// or rediss:// URL; it may carry a password, which is never logged. */
  url: string;
  logger: CountersLogger;
  /** Only for pacing log lines; limits use the Redis server's clock so replicas agree. */
  clock?: Clock;
  /** Prepended to every key and channel, so deployments and tests can share one Redis. */
  prefix?: string;
  /** How long the first connection may take before startup fails. */
  connectTimeoutMs?: number;
  /** How long any call may wait for Redis's answer before it rejects. */
  commandTimeoutMs?: number;
}

type ScriptArg = string | number;
type Scripted = Redis & {
  pcxRate(numKeys: number, ...args: ScriptArg[]): Promise<unknown>;
  pcxReserve(numKeys: number, ...args: ScriptArg[]): Promise<unknown>;
  pcxAdmit(numKeys: number, ...args: ScriptArg[]): Promise<unknown>;
  pcxAdd(key: string, delta: number, ttlMs: number): Promise<unknown>;
};

/** `host:port/db` for log lines and errors: the URL without user, password or query. */
export function describeRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.hostname}:${u.port || '6379'}${u.pathname.length > 1 ? u.pathname : ''}`;
  } catch {
    return '(invalid Redis URL)';
  }
}

const RECONNECT_MAX_MS = 1000;
const LOG_EVERY_MS = 10_000;

export async function createRedisCounters(options: RedisCountersOptions): Promise<Counters> {
  const { url, logger, clock = systemClock, prefix = 'pcx:' } = options;
  const connectTimeout = options.connectTimeoutMs ?? 2000;
  const where = describeRedisUrl(url);

  const redis = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout,
    commandTimeout: options.commandTimeoutMs ?? 1000,
    // Quick, capped backoff: revocations and limits should resume within a second of Redis's return.
    retryStrategy: (times: number) => Math.min(50 * 2 ** times, RECONNECT_MAX_MS),
    connectionName: 'portcullis-counters',
    // How long disconnect() waits for a socket to close; ioredis's 2 s default also holds the
    // process open after a failed start.
    disconnectTimeout: 200,
  }) as Scripted;
  redis.defineCommand('pcxRate', { lua: RATE_LUA });
  redis.defineCommand('pcxReserve', { lua: RESERVE_LUA });
  redis.defineCommand('pcxAdmit', { lua: ADMIT_LUA });
  redis.defineCommand('pcxAdd', { lua: ADD_LUA, numberOfKeys: 1 });

  let lastError: Error | undefined;
  let closing = false;
  watch(redis, 'main');
  try {
    await withTimeout(redis.connect(), connectTimeout + 1000);
  } catch (err) {
    redis.disconnect();
    const reason = lastError ?? (err instanceof Error ? err : undefined);
    const code =
      reason && 'code' in reason && typeof reason.code === 'string' ? reason.code : reason?.message;
    throw new Error(`counters: cannot reach Redis at ${where}${code ? ` (${code})` : ''}`);
  }

  /** Logs connection trouble once per outage (then at most every 10 s), never the URL's secret. */
  function watch(connection: Redis, role: string): void {
    let down = false;
    let lastLog = Number.NEGATIVE_INFINITY;
    const report = (msg: string, detail: object): void => {
      const now = clock.now();
      if (!down || now - lastLog >= LOG_EVERY_MS) {
        lastLog = now;
        logger.warn({ redis: where, role, ...detail }, msg);
      }
      down = true;
    };
    connection.on('error', (err: Error) => {
      lastError = err;
      const code = 'code' in err && typeof err.code === 'string' ? err.code : undefined;
      report('counters: Redis connection error', { code, message: err.message });
    });
    connection.on('close', () => {
      if (!closing) report('counters: Redis connection lost', {});
    });
    connection.on('ready', () => {
      if (down) logger.info({ redis: where, role }, 'counters: Redis connection restored');
      down = false;
    });
  }

  const k = (key: string): string => prefix + key;

  // One subscriber connection, opened on first use; handlers fan out per channel.
  let subscriber: Promise<Redis> | undefined;
  const channels = new Map<string, { handlers: Set<(message: string) => void>; ready: Promise<unknown> }>();

  function subscriberConnection(): Promise<Redis> {
    subscriber ??= (async () => {
      const sub = redis.duplicate({ connectionName: 'portcullis-counters-sub' });
      watch(sub, 'subscriber');
      sub.on('message', (channel: string, message: string) => {
        const entry = channels.get(channel);
        if (entry === undefined) return;
        for (const handler of entry.handlers) {
          try {
            handler(message);
          } catch (err) {
            logger.error(
              { err, channel: channel.slice(prefix.length) },
              'counters: subscriber callback threw',
            );
          }
        }
      });
      try {
        await sub.connect();
      } catch (err) {
        sub.disconnect();
        subscriber = undefined;
        throw err;
      }
      return sub;
    })();
    return subscriber;
  }

  return {
    kind: 'redis',

    async rate(specs: RateSpec[]): Promise<RateResult> {
      checkRateSpecs(specs);
      const args: ScriptArg[] = specs.map((s) => k(s.key));
      for (const s of specs) args.push(s.limit, s.windowMs, s.cost);
      const reply = numbers(await redis.pcxRate(specs.length, ...args));
      return { allowed: reply[0] === 1, outcomes: rateOutcomes(specs, reply, 1) };
    },

    async reserve(specs: ReserveSpec[]): Promise<ReserveResult> {
      checkReserveSpecs(specs);
      const args: ScriptArg[] = specs.map((s) => k(s.key));
      for (const s of specs) args.push(s.amount, s.limit, s.ttlMs);
      const reply = numbers(await redis.pcxReserve(specs.length, ...args));
      const values = reply.slice(2);
      if (reply[0] === 1) return { ok: true, values };
      return { ok: false, values, refusedIndex: reply[1] ?? 0 };
    },

    async admit(reserve: ReserveSpec[], rate: RateSpec[]): Promise<AdmitResult> {
      checkAdmitSpecs(reserve, rate);
      const args: ScriptArg[] = [
        ...reserve.map((s) => k(s.key)),
        ...rate.map((s) => k(s.key)),
        reserve.length,
      ];
      for (const s of reserve) args.push(s.amount, s.limit, s.ttlMs);
      for (const s of rate) args.push(s.limit, s.windowMs, s.cost);
      const reply = numbers(await redis.pcxAdmit(reserve.length + rate.length, ...args));
      const values = reply.slice(2, 2 + reserve.length);
      const rateStatus = reply[2 + reserve.length];
      if (rateStatus === -1) {
        return {
          ok: false,
          reserve: { ok: false, values, refusedIndex: reply[1] ?? 0 },
          rate: { allowed: false, outcomes: [] },
        };
      }
      return {
        ok: reply[0] === 1,
        reserve: { ok: true, values },
        rate: { allowed: rateStatus === 1, outcomes: rateOutcomes(rate, reply, 3 + reserve.length) },
      };
    },

    async add(key: string, delta: number, ttlMs: number): Promise<number> {
      checkAdd(key, delta, ttlMs);
      return Number(await redis.pcxAdd(k(key), delta, ttlMs));
    },

    async get(keys: string[]): Promise<number[]> {
      keys.forEach(checkKey);
      if (keys.length === 0) return [];
      const values = await redis.mget(keys.map(k));
      return values.map((v) => {
        const n = v === null ? 0 : Number(v);
        return Number.isFinite(n) ? n : 0;
      });
    },

    async delete(keys: string[]): Promise<void> {
      keys.forEach(checkKey);
      if (keys.length > 0) await redis.del(keys.map(k));
    },

    async publish(channel: string, message: string): Promise<void> {
      await redis.publish(k(channel), message);
    },

    async subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>> {
      const sub = await subscriberConnection();
      const name = k(channel);
      const handler = (message: string): void => onMessage(message);
      let entry = channels.get(name);
      if (entry === undefined) {
        entry = { handlers: new Set(), ready: sub.subscribe(name) };
        channels.set(name, entry);
      }
      entry.handlers.add(handler);
      try {
        await entry.ready;
      } catch (err) {
        entry.handlers.delete(handler);
        if (entry.handlers.size === 0 && channels.get(name) === entry) channels.delete(name);
        throw err;
      }
      let active = true;
      return async () => {
        if (!active) return;
        active = false;
        const current = channels.get(name);
        if (current === undefined) return;
        current.handlers.delete(handler);
        if (current.handlers.size === 0) {
          channels.delete(name);
          // Fails only when Redis is away. ioredis may then re-subscribe the channel on reconnect,
          // but with no handlers left its messages are dropped in the 'message' listener.
          await sub.unsubscribe(name).catch(() => undefined);
        }
      };
    },

    async ping(): Promise<void> {
      await redis.ping();
    },

    async close(): Promise<void> {
      closing = true;
      channels.clear();
      const sub = await subscriber?.catch(() => undefined);
      await Promise.all([quit(redis), sub ? quit(sub) : undefined]);
    },
  };
}

/** QUIT politely, but never wait on a dead connection. */
async function quit(connection: Redis): Promise<void> {
  if (connection.status === 'ready') {
    await connection.quit().catch(() => undefined);
  }
  connection.disconnect();
}

function numbers(reply: unknown): number[] {
  if (!Array.isArray(reply)) throw new Error('counters: unexpected reply from Redis script');
  return reply.map((v) => Number(v));
}

/** Rate outcomes from a script reply: remaining, resetMs, retryAfterMs per spec, from `offset`. */
function rateOutcomes(specs: readonly RateSpec[], reply: readonly number[], offset: number): RateOutcome[] {
  return specs.map((s, i) => ({
    key: s.key,
    limit: s.limit,
    remaining: reply[offset + 3 * i] ?? 0,
    resetMs: reply[offset + 1 + 3 * i] ?? 0,
    retryAfterMs: never(reply[offset + 2 + 3 * i] ?? 0),
  }));
}

/** The script encodes "never fits" (cost > limit) as -1. */
function never(ms: number): number {
  return ms < 0 ? Number.POSITIVE_INFINITY : ms;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
