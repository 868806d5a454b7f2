import { createHash, createHmac, type KeyObject } from 'node:crypto';
import type { Counters, RateSpec } from '../counters/types.ts';
import { PortcullisError } from '../errors/catalogue.ts';
import { ipSubject } from '../pipeline/authenticate.ts';
import { normalizeEmail } from './roles.ts';

/**
 * Login throttling (OWASP Authentication Cheat Sheet, "Account lockout"; NIST SP 800-63B §5.2.2):
 * failed passwords and MFA codes are counted per account and per client IP (IPv6 per /64) in the
 * shared counters, so every replica sees the same numbers. After `freeFailures`, each further
 * attempt must wait, doubling from 1 s; at `accountLockAfter` (or `ipLockAfter`) failures the
 * subject is locked for `lockMs`, and the lock is reported (audited) once. The lock is its own
 * counter (`login:lock:…`), so it lasts `lockMs` even when the failure window ends sooner, and a
 * failure after it ended (still past the threshold) locks again and is reported again.
 *
 * The account subject is a hash of the normalised email, whether or not such a user exists, so an
 * unknown email is throttled exactly like a known one (no enumeration through lockouts), and no
 * email address is ever written into Redis.
 */

export interface LoginPolicy {
  freeFailures: number;
  /** Free failures per client IP (defaults to freeFailures). */
  ipFreeFailures?: number;
  accountLockAfter: number;
  ipLockAfter: number;
  windowMs: number;
  lockMs: number;
}

export interface LoginLock {
  /** `account` or `ip`; never the email itself. */
  subject: 'account' | 'ip';
  failures: number;
  lockMs: number;
  clientIp: string;
}

export interface LoginThrottle {
  /**
   * One credential check under the throttle: refused with 429 too_many_login_failures while either
   * subject must wait; else runs `verify` and counts a failure when it answers false. The attempt
   * is reserved before `verify` runs, so a burst of parallel guesses cannot all pass the check
   * before their failures are counted: past the free failures, one attempt per subject at a time.
   * An error thrown by `verify` is not a failure (only releases the reservation).
   */
  attempt(email: string, clientIp: string, verify: () => Promise<boolean>): Promise<boolean>;
  /** Throws 429 too_many_login_failures while either subject must wait (a read: reserves nothing). */
  check(email: string, clientIp: string): Promise<void>;
  /** Counts a failure for both subjects; reports a lock when one is reached. */
  fail(email: string, clientIp: string): Promise<void>;
  /** Clears the account's failures after a successful login (the IP's stay). */
  succeed(email: string): Promise<void>;
}

/**
 * What one attempt's turn is worth: a turn never given back (its replica died mid-check) frees
 * itself after this long. Far longer than any password check.
 */
const TURN_MS = 10_000;

export function createLoginThrottle(opts: {
  counters: Pick<Counters, 'add' | 'get' | 'rate'>;
  policy: LoginPolicy;
  onLocked?: (lock: LoginLock) => void;
  /** Keys the account subject (HMAC) so counter keys do not reveal emails. */
  pepper?: KeyObject;
}): LoginThrottle {
  const { counters, policy } = opts;
  // Keyed when the caller has a key (the server passes the vault-held pepper): a plain hash of an
  // email in Redis could be reversed with a list of addresses.
  const accountId = (email: string): string =>
    (opts.pepper ? createHmac('sha256', opts.pepper) : createHash('sha256'))
      .update(`login:${email}`)
      .digest('base64url')
      .slice(0, 32);
  const subjects = (email: string, clientIp: string) =>
    [
      {
        kind: 'account' as const,
        key: `acct:${accountId(normalizeEmail(email))}`,
        lockAfter: policy.accountLockAfter,
        free: policy.freeFailures,
      },
      {
        kind: 'ip' as const,
        key: `ip:${ipSubject(clientIp)}`,
        lockAfter: policy.ipLockAfter,
        free: policy.ipFreeFailures ?? policy.freeFailures,
      },
    ] as const;

  /** How long the attempt after the n-th failure must wait. */
  const delayAfter = (n: number, lockAfter: number, free: number): number => {
    if (n >= lockAfter) return policy.lockMs;
    if (n <= free) return 0;
    return Math.min(1000 * 2 ** (n - free - 1), policy.lockMs);
  };

  /** Counters unreachable: fail closed (DESIGN.md invariant 4); a login that cannot be throttled is refused. */
  async function guarded<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (err instanceof PortcullisError) throw err;
      throw new PortcullisError('service_unavailable', { vars: { dependency: 'counters' }, cause: err });
    }
  }

  type Subject = ReturnType<typeof subjects>[number];

  /**
   * An attempt's turn on subject `s` after `n` settled failures: a GCRA bucket (the shared
   * counters' `rate`) with one slot per attempt that may still run before the next wait applies —
   * the free failures left, and one past them — each slot worth TURN_MS of time. An attempt takes
   * a slot and gives it back (a refund) when its outcome is counted; a slot whose attempt never
   * comes back (a crashed replica) frees itself after TURN_MS. Refunds cannot add capacity
   * (a bucket is never fuller than full), so nothing can drift into extra parallel guesses.
   */
  const turn = (s: Subject, n: number, cost: number): RateSpec => {
    const slots = Math.max(1, s.free + 1 - n);
    return { key: `login:turn:${s.key}`, limit: slots, windowMs: slots * TURN_MS, cost };
  };

  /**
   * Throws 429 while a subject must wait. With `take`, also takes this attempt's turn on each
   * subject (all or nothing) and returns what to give back; without, only reads.
   */
  async function refuseIfWaiting(subs: readonly Subject[], take: boolean): Promise<RateSpec[]> {
    const counts = await counters.get(subs.map((s) => `login:fail:${s.key}`));
    // Cost 0: only reads each bucket (the lock, and the wait the current count imposes).
    const specs: RateSpec[] = [];
    const turns: RateSpec[] = [];
    for (const [i, s] of subs.entries()) {
      specs.push({ key: `login:lock:${s.key}`, limit: 1, windowMs: policy.lockMs, cost: 0 });
      const n = counts[i] ?? 0;
      const delay = delayAfter(n, s.lockAfter, s.free);
      if (delay > 0) specs.push({ key: `login:wait:${s.key}:${n}`, limit: 1, windowMs: delay, cost: 0 });
      if (take) turns.push(turn(s, n, 1));
    }
    const result = await counters.rate([...specs, ...turns]);
    let retryMs = 0;
    result.outcomes.forEach((outcome, i) => {
      if (i < specs.length ? outcome.remaining < 1 : !result.allowed) {
        retryMs = Math.max(retryMs, i < specs.length ? outcome.resetMs : 1000);
      }
    });
    if (retryMs > 0) {
      // Refused after the turns were taken (a lock or a wait): give them back.
      if (take && result.allowed) await giveBack(turns).catch(() => undefined);
      const retryAfter = Math.max(1, Math.ceil(retryMs / 1000));
      throw new PortcullisError('too_many_login_failures', {
        vars: { retryAfter },
        headers: { 'retry-after': String(retryAfter) },
      });
    }
    return turns;
  }

  const giveBack = (turns: readonly RateSpec[]): Promise<unknown> =>
    turns.length === 0 ? Promise.resolve() : counters.rate(turns.map((t) => ({ ...t, cost: -1 })));

  async function recordFailure(subs: readonly Subject[], clientIp: string): Promise<void> {
    for (const s of subs) {
      const n = await counters.add(`login:fail:${s.key}`, 1, policy.windowMs);
      const delay = delayAfter(n, s.lockAfter, s.free);
      if (delay > 0)
        await counters.rate([{ key: `login:wait:${s.key}:${n}`, limit: 1, windowMs: delay, cost: 1 }]);
      if (n < s.lockAfter) continue;
      // Charging the lock succeeds only when none is running: that failure starts a new lock.
      const lock = await counters.rate([
        { key: `login:lock:${s.key}`, limit: 1, windowMs: policy.lockMs, cost: 1 },
      ]);
      if (lock.allowed) opts.onLocked?.({ subject: s.kind, failures: n, lockMs: policy.lockMs, clientIp });
    }
  }

  return {
    async attempt(email, clientIp, verify) {
      const subs = subjects(email, clientIp);
      const turns = await guarded(() => refuseIfWaiting(subs, true));
      try {
        const ok = await verify();
        if (!ok) await guarded(() => recordFailure(subs, clientIp));
        return ok;
      } finally {
        // Best effort: a turn not given back frees itself after TURN_MS; a login that succeeded is
        // not turned into an error by it.
        await giveBack(turns).catch(() => undefined);
      }
    },
    check: async (email, clientIp) => {
      await guarded(() => refuseIfWaiting(subjects(email, clientIp), false));
    },
    fail: (email, clientIp) => guarded(() => recordFailure(subjects(email, clientIp), clientIp)),
    succeed: (email) =>
      guarded(async () => {
        const key = `login:fail:${subjects(email, '0.0.0.0')[0].key}`;
        const [n] = await counters.get([key]);
        if (n !== undefined && n > 0) await counters.add(key, -n, policy.windowMs);
      }),
  };
}
