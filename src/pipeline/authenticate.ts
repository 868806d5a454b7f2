import ipaddr from 'ipaddr.js';
import type { Clock } from '../clock.ts';
import type { Counters } from '../counters/types.ts';
import { PortcullisError } from '../errors/catalogue.ts';
import { parseKey } from '../keys/format.ts';
import type { KeyPrincipal } from '../keys/types.ts';
import type { KeyVerifier } from '../keys/verify.ts';

/**
 * Pipeline stage 2: who is calling. The key comes only from `Authorization: Bearer` (RFC 6750
 * §2.1) or `x-api-key` (what the Anthropic SDK sends); a key in the URL is refused outright,
 * because URLs end up in proxy logs, browser histories and Referer headers.
 *
 * Brute-force defence: every invalid_api_key is counted per client IP (IPv6 per /64, the block a
 * single host usually holds) and per key id. A source over its threshold is locked for a
 * cooling-off period, during which it is refused with 429 too_many_auth_failures and
 * `retry-after` (RFC 6585 §4, RFC 9110 §10.2.3) before any key lookup happens.
 */

export interface AuthRequest {
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Path and query as received (`request.url` in Fastify). */
  url: string;
  /** From src/pipeline/client-ip.ts. */
  clientIp: string;
}

export interface LockoutPolicy {
  /** Failed authentications allowed within `windowMs`; 0 disables this lockout. */
  failures: number;
  windowMs: number;
  /** How long a source over the threshold is refused. */
  cooldownMs: number;
}

export interface BruteForcePolicy {
  ip: LockoutPolicy;
  /**
   * Per key id. Key ids are not secret, so anyone can spend a key's failure budget and lock it
   * out; hence a higher threshold than per IP. Set failures to 0 to turn it off.
   */
  key: LockoutPolicy;
}

export const DEFAULT_BRUTE_FORCE: BruteForcePolicy = {
  ip: { failures: 20, windowMs: 5 * 60_000, cooldownMs: 5 * 60_000 },
  key: { failures: 100, windowMs: 5 * 60_000, cooldownMs: 60_000 },
};

export interface AuthLogger {
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface Authenticator {
  authenticate(request: AuthRequest): Promise<KeyPrincipal>;
}

export interface AuthenticatorOptions {
  verifier: Pick<KeyVerifier, 'verify'>;
  counters: Pick<Counters, 'rate'>;
  logger: AuthLogger;
  clock: Clock;
  bruteForce?: Partial<BruteForcePolicy>;
  /** Told when a source is locked out (the audit sink, src/audit); must not throw. */
  onBlocked?: (event: AuthBlocked) => void;
}

/** A brute-force lockout that was just set. `subject` is `ip:…` or `key:key_…` (ids, never secrets). */
export interface AuthBlocked {
  subject: string;
  clientIp: string;
  failures: number;
  windowMs: number;
  cooldownMs: number;
}

/** Query parameter names that clients (and other gateways) use for keys. */
const KEY_PARAM_NAMES = new Set(['key', 'api_key', 'api-key', 'apikey', 'x-api-key', 'access_token']);
const KEY_LOOKING = /pcx_(?:live|test)_/i;
const BEARER = /^Bearer[ \t]+([^\s]+)[ \t]*$/i;
/** Local memory of sources with recent failures, so clean traffic pays no lockout round trip. */
const MAX_SUSPECTS = 100_000;

/** True when the URL's query string carries something that is, or is named like, an API key. */
export function keyInQuery(url: string): boolean {
  const q = url.indexOf('?');
  if (q === -1) return false;
  const query = url.slice(q + 1);
  if (KEY_LOOKING.test(query)) return true;
  let params: URLSearchParams;
  try {
    params = new URLSearchParams(query);
  } catch {
    return false;
  }
  for (const [name, value] of params) {
    if (KEY_PARAM_NAMES.has(name.toLowerCase()) || KEY_LOOKING.test(value) || parseKey(value) !== undefined) {
      return true;
    }
  }
  return false;
}

/**
 * The presented key, or undefined when there is none. Two different keys in the two headers are
 * refused as invalid rather than picking one.
 */
export function presentedKey(headers: AuthRequest['headers']): string | undefined {
  const auth = single(headers.authorization);
  const bearer = auth === undefined ? undefined : BEARER.exec(auth)?.[1];
  const xApiKey = single(headers['x-api-key'])?.trim() || undefined;
  if (bearer !== undefined && xApiKey !== undefined && bearer !== xApiKey) {
    throw new PortcullisError('invalid_api_key', {
      headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
    });
  }
  return bearer ?? xApiKey;
}

function single(value: string | string[] | undefined): string | undefined {
  if (Array.isArray(value)) return value.length === 1 ? value[0] : value.join(',');
  return value;
}

/** The unit an IP is counted in: the address for IPv4, the /64 for IPv6. */
export function ipSubject(clientIp: string): string {
  try {
    const addr = ipaddr.process(clientIp);
    if (addr.kind() === 'ipv6') {
      const parts = (addr as ipaddr.IPv6).parts.slice(0, 4);
      return `${parts.map((p) => p.toString(16)).join(':')}::/64`;
    }
    return addr.toString();
  } catch {
    return clientIp;
  }
}

export function createAuthenticator(opts: AuthenticatorOptions): Authenticator {
  const { verifier, counters, logger, clock } = opts;
  const policy: BruteForcePolicy = { ...DEFAULT_BRUTE_FORCE, ...opts.bruteForce };
  const suspects = new Map<string, number>();

  function isSuspect(subject: string, now: number): boolean {
    const until = suspects.get(subject);
    if (until === undefined) return false;
    if (until > now) return true;
    suspects.delete(subject);
    return false;
  }

  function suspect(subject: string, lockout: LockoutPolicy, now: number): void {
    if (suspects.size >= MAX_SUSPECTS) suspects.clear();
    suspects.set(subject, now + Math.max(lockout.windowMs, lockout.cooldownMs));
  }

  /**
   * Refuses a locked source before any lookup. Only sources this replica saw fail recently are
   * checked against the shared counters (a round trip with Redis), so a source locked elsewhere
   * gets at most one more attempt here before this replica checks it too.
   */
  async function refuseIfLocked(subjects: [string, LockoutPolicy][], now: number): Promise<void> {
    const check = subjects.filter(([s, p]) => p.failures > 0 && isSuspect(s, now));
    if (check.length === 0) return;
    let result: Awaited<ReturnType<Counters['rate']>>;
    try {
      result = await counters.rate(
        check.map(([s, p]) => ({ key: `auth:lock:${s}`, limit: 1, windowMs: p.cooldownMs, cost: 0 })),
      );
    } catch (err) {
      // Fail closed (DESIGN.md invariant 4): without the lockout state the check cannot run.
      logger.error({ err }, 'auth: brute-force state unavailable');
      throw new PortcullisError('service_unavailable', { vars: { dependency: 'counters' }, cause: err });
    }
    const locked = result.outcomes.filter((o) => o.remaining < 1);
    if (locked.length === 0) return;
    const retryAfter = Math.max(1, Math.ceil(Math.max(...locked.map((o) => o.resetMs)) / 1000));
    throw new PortcullisError('too_many_auth_failures', {
      vars: { retryAfter },
      headers: { 'retry-after': String(retryAfter) },
    });
  }

  async function recordFailure(subject: string, lockout: LockoutPolicy, clientIp: string, now: number) {
    if (lockout.failures <= 0) return;
    suspect(subject, lockout, now);
    try {
      const failures = await counters.rate([
        { key: `auth:fail:${subject}`, limit: lockout.failures, windowMs: lockout.windowMs, cost: 1 },
      ]);
      if (failures.allowed) return;
      const lock = await counters.rate([
        { key: `auth:lock:${subject}`, limit: 1, windowMs: lockout.cooldownMs, cost: 1 },
      ]);
      // Logged (and audited, through onBlocked) when the lock is set, not for every request it refuses.
      if (lock.allowed) {
        logger.warn(
          {
            event: 'auth.blocked',
            subject,
            clientIp,
            failures: lockout.failures,
            windowMs: lockout.windowMs,
            until: new Date(now + lockout.cooldownMs).toISOString(),
          },
          'auth: too many failed authentications; source locked out',
        );
        opts.onBlocked?.({
          subject,
          clientIp,
          failures: lockout.failures,
          windowMs: lockout.windowMs,
          cooldownMs: lockout.cooldownMs,
        });
      }
    } catch (err) {
      logger.error({ err }, 'auth: could not count a failed authentication');
    }
  }

  return {
    async authenticate(request) {
      if (keyInQuery(request.url)) throw new PortcullisError('api_key_in_query');
      const raw = presentedKey(request.headers);
      if (raw === undefined) {
        throw new PortcullisError('missing_api_key', { headers: { 'www-authenticate': 'Bearer' } });
      }
      const now = clock.now();
      const keyId = parseKey(raw)?.id;
      const subjects: [string, LockoutPolicy][] = [[`ip:${ipSubject(request.clientIp)}`, policy.ip]];
      if (keyId !== undefined) subjects.push([`key:${keyId}`, policy.key]);
      await refuseIfLocked(subjects, now);
      try {
        return await verifier.verify(raw, { clientIp: request.clientIp });
      } catch (err) {
        if (err instanceof PortcullisError && err.code === 'invalid_api_key') {
          await Promise.all(subjects.map(([s, p]) => recordFailure(s, p, request.clientIp, now)));
        }
        throw err;
      }
    },
  };
}
