import type { Clock } from '../clock.ts';
import { decodeState, encodeState, evaluateRate, type GcraState } from './gcra.ts';
import type { AdmitResult, Counters, RateResult, RateSpec, ReserveResult, ReserveSpec } from './types.ts';
import { checkAdd, checkAdmitSpecs, checkKey, checkRateSpecs, checkReserveSpecs } from './validate.ts';

/**
 * In-process counters for a single instance. Every method runs to completion synchronously inside
 * its promise, so calls are trivially atomic with respect to each other.
 *
 * Expired keys are removed lazily when touched and by an incremental sweep: every call examines a
 * few more entries of the map (like Redis's active expiry), so memory tracks the live keys and no
 * timer is needed.
 */

/** Logger shape the counters need; a pino logger fits. */
export interface CountersLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface MemoryCountersOptions {
  clock: Clock;
  /** Where errors thrown by subscriber callbacks are reported. */
  logger?: CountersLogger;
}

/** A counter value, or a GCRA state encoded as text (kept as Redis would keep it). */
interface Entry {
  value: number | string;
  expiresAt: number;
}

export interface MemoryCounters extends Counters {
  /** Entries held right now, expired-but-not-yet-swept included (for tests and metrics). */
  size(): number;
}

const SWEEP_PER_CALL = 16;

export function createMemoryCounters({ clock, logger }: MemoryCountersOptions): MemoryCounters {
  const entries = new Map<string, Entry>();
  const channels = new Map<string, Set<(message: string) => void>>();
  let sweeper = entries.keys();
  let closed = false;

  function sweep(now: number): void {
    for (let i = 0; i < SWEEP_PER_CALL; i++) {
      const next = sweeper.next();
      if (next.done) {
        sweeper = entries.keys();
        return;
      }
      const entry = entries.get(next.value);
      if (entry && entry.expiresAt <= now) entries.delete(next.value);
    }
  }

  /** Starts a call: refuses after close, sweeps a little, and returns the time to use. */
  function begin(): number {
    if (closed) throw new Error('counters: closed');
    const now = clock.now();
    sweep(now);
    return now;
  }

  function live(key: string, now: number): Entry | undefined {
    const entry = entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= now) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  }

  function numberAt(key: string, now: number): number {
    const value = live(key, now)?.value;
    return typeof value === 'number' ? value : 0;
  }

  /** Adds to a counter, keeping its expiry; a new counter (or one without expiry) gets ttlMs. */
  function increment(key: string, delta: number, ttlMs: number, now: number): number {
    const entry = live(key, now);
    if (entry === undefined || typeof entry.value !== 'number') {
      entries.set(key, { value: delta, expiresAt: now + ttlMs });
      return delta;
    }
    entry.value += delta;
    return entry.value;
  }

  function gcraReader(now: number): (key: string) => GcraState | undefined {
    return (key) => {
      const value = live(key, now)?.value;
      return typeof value === 'string' ? decodeState(value) : undefined;
    };
  }

  /** Stores GCRA states; each lives until its bucket is full again. */
  function writeRates(writes: Map<string, GcraState>, now: number): void {
    for (const [key, state] of writes) {
      const ttl = state.q - now + (state.r > 0 ? 1 : 0);
      if (ttl > 0) entries.set(key, { value: encodeState(state), expiresAt: now + ttl });
      else entries.delete(key);
    }
  }

  /** Index of the first reservation without room (the same key twice counts twice), or undefined. */
  function firstRefusal(specs: readonly ReserveSpec[], now: number): number | undefined {
    const working = new Map<string, number>();
    for (const [i, spec] of specs.entries()) {
      const current = working.get(spec.key) ?? numberAt(spec.key, now);
      if (current + spec.amount > spec.limit) return i;
      working.set(spec.key, current + spec.amount);
    }
    return undefined;
  }

  return {
    kind: 'memory',

    size: () => entries.size,

    async rate(specs: RateSpec[]): Promise<RateResult> {
      checkRateSpecs(specs);
      const now = begin();
      const { result, writes } = evaluateRate(gcraReader(now), now, specs);
      writeRates(writes, now);
      return result;
    },

    async reserve(specs: ReserveSpec[]): Promise<ReserveResult> {
      checkReserveSpecs(specs);
      const now = begin();
      const refusedIndex = firstRefusal(specs, now);
      if (refusedIndex !== undefined) {
        return { ok: false, values: specs.map((s) => numberAt(s.key, now)), refusedIndex };
      }
      return { ok: true, values: specs.map((s) => increment(s.key, s.amount, s.ttlMs, now)) };
    },

    async admit(reserve: ReserveSpec[], rate: RateSpec[]): Promise<AdmitResult> {
      checkAdmitSpecs(reserve, rate);
      const now = begin();
      const current = () => reserve.map((s) => numberAt(s.key, now));
      const refusedIndex = firstRefusal(reserve, now);
      if (refusedIndex !== undefined) {
        return {
          ok: false,
          reserve: { ok: false, values: current(), refusedIndex },
          rate: { allowed: false, outcomes: [] },
        };
      }
      const rated =
        rate.length > 0
          ? evaluateRate(gcraReader(now), now, rate)
          : { result: { allowed: true, outcomes: [] }, writes: new Map<string, GcraState>() };
      if (!rated.result.allowed) {
        return { ok: false, reserve: { ok: true, values: current() }, rate: rated.result };
      }
      writeRates(rated.writes, now);
      const values = reserve.map((s) => increment(s.key, s.amount, s.ttlMs, now));
      return { ok: true, reserve: { ok: true, values }, rate: rated.result };
    },

    async add(key: string, delta: number, ttlMs: number): Promise<number> {
      checkAdd(key, delta, ttlMs);
      return increment(key, delta, ttlMs, begin());
    },

    async get(keys: string[]): Promise<number[]> {
      keys.forEach(checkKey);
      const now = begin();
      return keys.map((key) => numberAt(key, now));
    },

    async delete(keys: string[]): Promise<void> {
      keys.forEach(checkKey);
      begin();
      for (const key of keys) entries.delete(key);
    },

    async publish(channel: string, message: string): Promise<void> {
      begin();
      const handlers = channels.get(channel);
      if (handlers === undefined) return;
      // Delivered on a later turn of the event loop, as a Redis subscriber would see it, and to
      // the handlers subscribed at publish time.
      for (const handler of [...handlers]) {
        setImmediate(() => {
          if (closed || !channels.get(channel)?.has(handler)) return;
          try {
            handler(message);
          } catch (err) {
            logger?.error({ err, channel }, 'counters: subscriber callback threw');
          }
        });
      }
    },

    async subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>> {
      begin();
      // A wrapper gives each subscription its own identity, even for the same callback twice.
      const handler = (message: string): void => onMessage(message);
      let handlers = channels.get(channel);
      if (handlers === undefined) {
        handlers = new Set();
        channels.set(channel, handlers);
      }
      handlers.add(handler);
      return async () => {
        const set = channels.get(channel);
        set?.delete(handler);
        if (set?.size === 0) channels.delete(channel);
      };
    },

    async ping(): Promise<void> {
      begin();
    },

    async close(): Promise<void> {
      closed = true;
      channels.clear();
      entries.clear();
    },
  };
}
