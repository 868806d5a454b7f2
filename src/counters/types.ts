/**
 * Counters: the shared, atomic state behind rate limits, token limits, spend reservations and
 * brute-force defence, plus pub/sub for revocation broadcast. The in-memory implementation serves
 * one process; the Redis one serves many replicas with one round trip per call.
 *
 * Keys are opaque strings chosen by the caller (e.g. `rl:key:<id>:rpm`). Amounts are integers
 * (requests, tokens, micro-dollars) so every replica computes the same result.
 */

/** One rate window to charge. GCRA: `limit` units per `windowMs`, bursting up to `limit`. */
export interface RateSpec {
  key: string;
  limit: number;
  windowMs: number;
  /** Units to charge (1 for a request, N for tokens). May exceed what is left: then refused. Negative refunds (always allowed). */
  cost: number;
}

export interface RateOutcome {
  key: string;
  limit: number;
  /** Units still available right after this call (after charging, when allowed). */
  remaining: number;
  /** Milliseconds until the bucket is completely full again. */
  resetMs: number;
  /** Milliseconds to wait before the same cost would be allowed (0 when allowed). */
  retryAfterMs: number;
}

export interface RateResult {
  /** True when every spec had room; then all were charged. Otherwise none was charged. */
  allowed: boolean;
  outcomes: RateOutcome[];
}

/** A reservation against a cap that lives for `ttlMs` (e.g. a monthly budget window). */
export interface ReserveSpec {
  key: string;
  amount: number;
  /** Refuse when current + amount would exceed this. */
  limit: number;
  ttlMs: number;
}

export interface ReserveResult {
  ok: boolean;
  /** Values after the call, one per spec (unchanged when refused). */
  values: number[];
  /** Index of the first spec that had no room, when refused. */
  refusedIndex?: number;
}

/**
 * The outcome of `admit`: reservations and rate charges decided together. Reservations are checked
 * first; rates only when every reservation had room.
 */
export interface AdmitResult {
  /** True when every reservation and every rate had room; then all were charged, otherwise none. */
  ok: boolean;
  /** `ok` here: every reservation had room. `values` are after the call (unchanged unless `ok` above). */
  reserve: ReserveResult;
  /** `allowed: false, outcomes: []` when a reservation was refused (rates were not evaluated). */
  rate: RateResult;
}

export interface Counters {
  readonly kind: 'memory' | 'redis';
  /** Charges every spec, all or nothing, atomically. */
  rate(specs: RateSpec[]): Promise<RateResult>;
  /** Adds every amount, all or nothing, atomically, if each stays within its limit. */
  reserve(specs: ReserveSpec[]): Promise<ReserveResult>;
  /**
   * `reserve` and `rate` in one atomic step (one round trip in Redis), all or nothing across both.
   * Either list may be empty, not both.
   */
  admit(reserve: ReserveSpec[], rate: RateSpec[]): Promise<AdmitResult>;
  /** Adds delta (negative to refund) without a cap; creates the key with ttlMs when missing. Returns the new value. */
  add(key: string, delta: number, ttlMs: number): Promise<number>;
  /** Current values (0 for a missing or expired key). */
  get(keys: string[]): Promise<number[]>;
  /** Removes keys (e.g. to clear a lockout). */
  delete(keys: string[]): Promise<void>;
  publish(channel: string, message: string): Promise<void>;
  /** Resolves once the subscription is active. The returned function unsubscribes. */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
