import type { Clock } from '../clock.ts';

/**
 * A circuit breaker per upstream target (credential + base URL). After `failures` consecutive
 * failures the circuit opens: the target is skipped (so fallbacks answer at once instead of each
 * request waiting out timeouts) until `cooldownMs` has passed; then one trial request is let
 * through (half-open). Its success closes the circuit, its failure reopens it.
 *
 * Per process on purpose: each replica judges its own path to the provider.
 */
export interface CircuitBreakers {
  /** True when a request may go to this target now (claims the half-open trial when due). */
  allow(target: string): boolean;
  success(target: string): void;
  failure(target: string): void;
  state(target: string): 'closed' | 'open' | 'half-open';
}

interface Circuit {
  failures: number;
  openedAt: number | undefined;
  trialInFlight: boolean;
}

const MAX_TRACKED = 10_000;

export function createCircuitBreakers(opts: {
  failures: number;
  cooldownMs: number;
  clock: Clock;
}): CircuitBreakers {
  const circuits = new Map<string, Circuit>();
  const get = (target: string): Circuit => {
    let c = circuits.get(target);
    if (!c) {
      if (circuits.size >= MAX_TRACKED) circuits.clear();
      c = { failures: 0, openedAt: undefined, trialInFlight: false };
      circuits.set(target, c);
    }
    return c;
  };
  return {
    allow(target) {
      const c = circuits.get(target);
      if (!c || c.openedAt === undefined) return true;
      if (opts.clock.now() - c.openedAt < opts.cooldownMs || c.trialInFlight) return false;
      c.trialInFlight = true;
      return true;
    },
    success(target) {
      const c = circuits.get(target);
      if (c) circuits.delete(target);
    },
    failure(target) {
      const c = get(target);
      c.failures += 1;
      c.trialInFlight = false;
      if (c.openedAt !== undefined || c.failures >= opts.failures) c.openedAt = opts.clock.now();
    },
    state(target) {
      const c = circuits.get(target);
      if (!c || c.openedAt === undefined) return 'closed';
      return opts.clock.now() - c.openedAt < opts.cooldownMs ? 'open' : 'half-open';
    },
  };
}
