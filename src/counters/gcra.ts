import type { RateOutcome, RateResult, RateSpec } from './types.ts';

/**
 * GCRA (Generic Cell Rate Algorithm, ITU-T I.371 / ATM Forum TM 4.1), the arithmetic behind
 * `Counters.rate`. The in-memory counters call these functions; `redis-scripts.ts` holds a Lua copy
 * of the same steps, and both are pinned by the same contract tests.
 *
 * Each key stores one number, its theoretical arrival time (TAT): the moment the bucket would be
 * completely full again. One unit costs an emission interval T = windowMs / limit; a call with
 * cost N moves TAT to max(TAT, now) + N·T, and is allowed when the new TAT is no more than
 * windowMs ahead of now (so a full bucket bursts exactly `limit` units).
 *
 * T is rarely a whole number of milliseconds (1000 ms / 3), and rounding it would either refuse the
 * last unit of a burst or leak extra capacity. So TAT is kept as an exact fraction,
 * q + r/limit milliseconds with integers q and 0 <= r < limit, and only integer arithmetic is used.
 * Doubles are exact for integers up to 2^53, and Lua 5.1 (inside Redis) only has doubles, hence
 * the bound MAX_LIMIT_TIMES_WINDOW on limit × windowMs.
 */

/** limit × windowMs must stay below this so every intermediate product is an exact integer. */
export const MAX_LIMIT_TIMES_WINDOW = 2 ** 52;

/** TAT = q + r / l milliseconds since the epoch; `l` is the limit the fraction was computed for. */
export interface GcraState {
  q: number;
  r: number;
  l: number;
}

/** Floor division with remainder, corrected for floating-point rounding of a / b near 2^52. */
export function divmod(a: number, b: number): [number, number] {
  let q = Math.floor(a / b);
  let r = a - q * b;
  if (r < 0) {
    q -= 1;
    r += b;
  } else if (r >= b) {
    q += 1;
    r -= b;
  }
  return [q, r];
}

/**
 * The state to charge against at `now`: an unknown key or a TAT in the past means a full bucket
 * (TAT = now). A fraction stored for another limit (the limit was reconfigured) is converted,
 * rounding up so a change never grants extra capacity.
 */
export function normalize(state: GcraState | undefined, now: number, limit: number): GcraState {
  if (state === undefined || state.q < now) return { q: now, r: 0, l: limit };
  let { q, r } = state;
  if (state.l !== limit) {
    const [cq, cr] = divmod(r * limit, state.l);
    r = cr > 0 ? cq + 1 : cq;
    if (r >= limit) {
      q += 1;
      r -= limit;
    }
  }
  return { q, r, l: limit };
}

export interface Charge {
  allowed: boolean;
  /** The TAT after charging (only meaningful when allowed). */
  next: GcraState;
  /** 0 when allowed; Infinity when cost > limit (it can never fit). */
  retryAfterMs: number;
}

/** Tries to charge `cost` units against a normalized state. */
export function charge(state: GcraState, now: number, windowMs: number, limit: number, cost: number): Charge {
  if (cost > limit) return { allowed: false, next: state, retryAfterMs: Number.POSITIVE_INFINITY };
  const [iq, ir] = divmod(cost * windowMs, limit);
  let q = state.q + iq;
  let r = state.r + ir;
  if (r >= limit) {
    q += 1;
    r -= limit;
  }
  // Allowed iff (q - now) + r/limit <= windowMs.
  const over = q - now - windowMs;
  const allowed = over < 0 || (over === 0 && r === 0);
  return { allowed, next: { q, r, l: limit }, retryAfterMs: allowed ? 0 : over + (r > 0 ? 1 : 0) };
}

/** Whole units that would still fit now: floor((windowMs - (TAT - now)) / T). */
export function remaining(state: GcraState, now: number, windowMs: number): number {
  const [units] = divmod((windowMs - (state.q - now)) * state.l - state.r, windowMs);
  return Math.max(0, units);
}

/** Milliseconds until the bucket is full again: ceil(TAT - now). Also the key's time to live. */
export function resetMs(state: GcraState, now: number): number {
  return Math.max(0, state.q - now + (state.r > 0 ? 1 : 0));
}

export function encodeState(state: GcraState): string {
  return `${state.q}:${state.r}:${state.l}`;
}

export function decodeState(text: string): GcraState | undefined {
  const m = /^(-?\d+):(\d+):(\d+)$/.exec(text);
  if (!m) return undefined;
  return { q: Number(m[1]), r: Number(m[2]), l: Number(m[3]) };
}

/**
 * Evaluates a whole `rate` call: specs are charged in order against a working copy (so the same
 * key twice is charged twice); only if every one fits are the new states returned for writing.
 * When refused, each outcome describes its own bucket as it stands, untouched.
 */
export function evaluateRate(
  read: (key: string) => GcraState | undefined,
  now: number,
  specs: readonly RateSpec[],
): { result: RateResult; writes: Map<string, GcraState> } {
  const working = new Map<string, GcraState>();
  const charged: RateOutcome[] = [];
  let allowed = true;
  for (const spec of specs) {
    const state = normalize(working.get(spec.key) ?? read(spec.key), now, spec.limit);
    const c = charge(state, now, spec.windowMs, spec.limit, spec.cost);
    if (!c.allowed) {
      allowed = false;
      break;
    }
    working.set(spec.key, c.next);
    charged.push(outcome(spec, c.next, now, 0));
  }
  if (allowed) return { result: { allowed, outcomes: charged }, writes: working };
  const outcomes = specs.map((spec) => {
    const state = normalize(read(spec.key), now, spec.limit);
    const c = charge(state, now, spec.windowMs, spec.limit, spec.cost);
    return outcome(spec, state, now, c.retryAfterMs);
  });
  return { result: { allowed, outcomes }, writes: new Map() };
}

function outcome(spec: RateSpec, state: GcraState, now: number, retryAfterMs: number): RateOutcome {
  return {
    key: spec.key,
    limit: spec.limit,
    remaining: remaining(state, now, spec.windowMs),
    resetMs: resetMs(state, now),
    retryAfterMs,
  };
}
