import { MAX_LIMIT_TIMES_WINDOW } from './gcra.ts';
import type { RateSpec, ReserveSpec } from './types.ts';

/**
 * Input checks shared by both implementations, so a bad call fails the same way (a TypeError or
 * RangeError: a programming error, never a limit decision) whether counters live in memory or in
 * Redis. Messages name the field, never the key, which may embed an identifier.
 */

function int(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value)) throw new TypeError(`counters: ${name} must be a safe integer`);
  if (value < min) throw new RangeError(`counters: ${name} must be >= ${min}`);
}

export function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0)
    throw new TypeError('counters: key must be a non-empty string');
}

export function checkRateSpecs(specs: readonly RateSpec[]): void {
  if (specs.length === 0) throw new RangeError('counters: rate needs at least one spec');
  for (const s of specs) {
    checkKey(s.key);
    int('limit', s.limit, 1);
    int('windowMs', s.windowMs, 1);
    // A negative cost refunds (moves the TAT back; never past a full bucket): token limits settle with it.
    int('cost', s.cost, Number.MIN_SAFE_INTEGER);
    if (s.limit * s.windowMs > MAX_LIMIT_TIMES_WINDOW) {
      throw new RangeError('counters: limit × windowMs is too large (max 2^52)');
    }
  }
}

export function checkReserveSpecs(specs: readonly ReserveSpec[]): void {
  if (specs.length === 0) throw new RangeError('counters: reserve needs at least one spec');
  for (const s of specs) {
    checkKey(s.key);
    int('amount', s.amount, Number.MIN_SAFE_INTEGER);
    int('limit', s.limit, Number.MIN_SAFE_INTEGER);
    int('ttlMs', s.ttlMs, 1);
  }
}

export function checkAdmitSpecs(reserve: readonly ReserveSpec[], rate: readonly RateSpec[]): void {
  if (reserve.length + rate.length === 0) throw new RangeError('counters: admit needs at least one spec');
  if (reserve.length > 0) checkReserveSpecs(reserve);
  if (rate.length > 0) checkRateSpecs(rate);
}

export function checkAdd(key: string, delta: number, ttlMs: number): void {
  checkKey(key);
  int('delta', delta, Number.MIN_SAFE_INTEGER);
  int('ttlMs', ttlMs, 1);
}
