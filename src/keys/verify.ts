import { type KeyObject, randomBytes } from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { Counters } from '../counters/types.ts';
import { PortcullisError } from '../errors/catalogue.ts';
import type { Store } from '../store/types.ts';
import { type KeyEnvironment, parseKey } from './format.ts';
import { decodeHash, HASH_BYTES, hashesEqual, hashKeySecret } from './hash.ts';
import { KEYS_CHANGED_CHANNEL } from './repository.ts';
import type { KeyLimits, KeyPrincipal, Scope } from './types.ts';

/**
 * Verifies presented API keys (pipeline stage 2). One store lookup per key id per cache TTL; the
 * cache holds the stored hash and the key's attributes, never a raw key or secret.
 *
 * Unknown ids and wrong secrets take the same path: the HMAC is always computed and always
 * compared twice (current and previous hash, a random dummy standing in for an absent one), and
 * both end in the same `invalid_api_key` error. The key's state (revoked, expired) is only
 * revealed to a caller who presented the right secret.
 *
 * Changes propagate through `keys:changed` on the counters' pub/sub (Redis across replicas); the
 * TTL bounds staleness when a notice is missed, so a revocation is enforced everywhere within
 * max(pub/sub latency, cacheTtlMs) — 1 s by default.
 */

export interface KeyVerifier {
  /** Resolves the principal or throws a PortcullisError (invalid_api_key, api_key_expired, api_key_revoked). */
  verify(raw: string, context?: { clientIp?: string }): Promise<KeyPrincipal>;
  /** Drops a key's cached copy in this process. */
  invalidate(keyId: string): void;
  /** Subscribes to change notices. */
  start(): Promise<void>;
  /** Unsubscribes and waits for pending last-used writes. */
  stop(): Promise<void>;
}

export interface VerifierLogger {
  warn(obj: object, msg?: string): void;
}

export interface KeyVerifierOptions {
  store: Store;
  pepper: KeyObject;
  clock: Clock;
  counters: Pick<Counters, 'subscribe'>;
  logger: VerifierLogger;
  /** How long a looked-up key is trusted without asking the store again (default 1000 ms). */
  cacheTtlMs?: number;
  /** Bound on cached key ids (default 10,000); the oldest entry is dropped first. */
  maxCacheEntries?: number;
  /** At most one last_used_at write per key per this interval, per replica (default 60 s). */
  lastUsedIntervalMs?: number;
}

/** What the cache keeps for a key id: the hashes and the principal (never the secret). */
interface KnownKey {
  environment: KeyEnvironment;
  secretHash: Buffer;
  previousHash: Buffer | null;
  previousValidUntil: number | null;
  revoked: boolean;
  expiresAt: number | null;
  principal: KeyPrincipal;
}

interface CacheEntry {
  loadedAt: number;
  /** undefined: no such key (cached too, so floods of one unknown id do not reach the store). */
  key: KnownKey | undefined;
}

const DEFAULT_TTL_MS = 1000;
const DEFAULT_MAX_ENTRIES = 10_000;
const DEFAULT_LAST_USED_INTERVAL_MS = 60_000;

export function createKeyVerifier(opts: KeyVerifierOptions): KeyVerifier {
  const { store, pepper, clock, counters, logger } = opts;
  const ttlMs = opts.cacheTtlMs ?? DEFAULT_TTL_MS;
  const maxEntries = opts.maxCacheEntries ?? DEFAULT_MAX_ENTRIES;
  const lastUsedIntervalMs = opts.lastUsedIntervalMs ?? DEFAULT_LAST_USED_INTERVAL_MS;
  const cache = new Map<string, CacheEntry>();
  const inflight = new Map<string, Promise<CacheEntry>>();
  const lastUsedWritten = new Map<string, number>();
  const pendingWrites = new Set<Promise<void>>();
  // Stands in for an absent hash, so an unknown id costs the same comparisons as a known one.
  const dummy = randomBytes(HASH_BYTES);
  // Bumped by every invalidation: a load that started before it must not repopulate the cache.
  let epoch = 0;
  let unsubscribe: (() => Promise<void>) | undefined;

  function invalidate(keyId: string): void {
    epoch++;
    if (keyId === '*') cache.clear();
    else cache.delete(keyId);
    inflight.delete(keyId);
  }

  async function load(id: string): Promise<CacheEntry> {
    const startedEpoch = epoch;
    const row = await store.db
      .selectFrom('api_keys')
      .innerJoin('workspaces', 'workspaces.id', 'api_keys.workspace_id')
      .select([
        'api_keys.id',
        'api_keys.workspace_id',
        'api_keys.name',
        'api_keys.environment',
        'api_keys.secret_hash',
        'api_keys.previous_secret_hash',
        'api_keys.previous_valid_until',
        'api_keys.scopes',
        'api_keys.models',
        'api_keys.allow_ips',
        'api_keys.allow_origins',
        'api_keys.limits',
        'api_keys.expires_at',
        'api_keys.created_by',
        'api_keys.revoked_at',
        'api_keys.deleted_at',
        'workspaces.deleted_at as workspace_deleted_at',
      ])
      .where('api_keys.id', '=', id)
      .executeTakeFirst();
    const entry: CacheEntry = { loadedAt: clock.now(), key: undefined };
    if (row) {
      const expiresAt = row.expires_at === null ? null : Number(row.expires_at);
      entry.key = {
        environment: row.environment as KeyEnvironment,
        secretHash: decodeHash(row.secret_hash),
        previousHash: row.previous_secret_hash === null ? null : decodeHash(row.previous_secret_hash),
        previousValidUntil: row.previous_valid_until === null ? null : Number(row.previous_valid_until),
        // A deleted key, or a key of a deleted workspace, is refused like a revoked one.
        revoked: row.revoked_at !== null || row.deleted_at !== null || row.workspace_deleted_at !== null,
        expiresAt,
        principal: Object.freeze({
          keyId: row.id,
          workspaceId: row.workspace_id,
          name: row.name,
          environment: row.environment as KeyEnvironment,
          scopes: Object.freeze(JSON.parse(row.scopes) as Scope[]),
          models: Object.freeze(JSON.parse(row.models) as string[]),
          allowIps: Object.freeze(JSON.parse(row.allow_ips) as string[]),
          userId: row.created_by?.startsWith('usr_') ? row.created_by : null,
          allowOrigins: Object.freeze(JSON.parse(row.allow_origins) as string[]),
          limits: Object.freeze(JSON.parse(row.limits) as KeyLimits),
          expiresAt,
        }),
      };
    }
    if (epoch === startedEpoch) {
      cache.delete(id);
      if (cache.size >= maxEntries) {
        const oldest = cache.keys().next();
        if (!oldest.done) cache.delete(oldest.value);
      }
      cache.set(id, entry);
    }
    return entry;
  }

  function lookup(id: string): CacheEntry | Promise<CacheEntry> {
    const hit = cache.get(id);
    if (hit !== undefined && clock.now() - hit.loadedAt < ttlMs) return hit;
    let pending = inflight.get(id);
    if (pending === undefined) {
      // Concurrent requests for one key share one store query.
      pending = load(id).finally(() => {
        if (inflight.get(id) === pending) inflight.delete(id);
      });
      inflight.set(id, pending);
    }
    return pending;
  }

  function recordUse(keyId: string, clientIp: string | undefined, now: number): void {
    const last = lastUsedWritten.get(keyId);
    if (last !== undefined && now - last < lastUsedIntervalMs) return;
    if (lastUsedWritten.size >= maxEntries) lastUsedWritten.clear();
    lastUsedWritten.set(keyId, now);
    // Fire and forget: bookkeeping must never slow down or fail a request.
    const write = store.db
      .updateTable('api_keys')
      .set({ last_used_at: now, last_used_ip: clientIp ?? null })
      .where('id', '=', keyId)
      .execute()
      .then(
        () => undefined,
        (err: unknown) => logger.warn({ err, keyId }, 'keys: could not record last use'),
      );
    pendingWrites.add(write);
    void write.finally(() => pendingWrites.delete(write));
  }

  async function verify(raw: string, context: { clientIp?: string } = {}): Promise<KeyPrincipal> {
    const parsed = parseKey(raw);
    if (parsed === undefined) throw invalidKey();
    const found = lookup(parsed.id);
    const entry = found instanceof Promise ? await found : found;
    const key = entry.key;
    const presented = hashKeySecret(pepper, parsed);
    const matchesCurrent = hashesEqual(presented, key?.secretHash ?? dummy);
    const matchesPrevious = hashesEqual(presented, key?.previousHash ?? dummy);
    if (
      key === undefined ||
      (!matchesCurrent && !matchesPrevious) ||
      key.environment !== parsed.environment
    ) {
      throw invalidKey();
    }
    if (key.revoked) throw new PortcullisError('api_key_revoked', { headers: INVALID_TOKEN });
    const now = clock.now();
    if (key.expiresAt !== null && now >= key.expiresAt) throw expired(key.expiresAt);
    if (!matchesCurrent) {
      // The rotated-out secret: accepted until the end of its grace period, then "expired".
      const until = key.previousValidUntil ?? 0;
      if (now >= until) throw expired(until);
    }
    recordUse(parsed.id, context.clientIp, now);
    return key.principal;
  }

  return {
    verify,
    invalidate,
    async start() {
      if (unsubscribe) return;
      unsubscribe = await counters.subscribe(KEYS_CHANGED_CHANNEL, (message) => invalidate(message));
    },
    async stop() {
      const u = unsubscribe;
      unsubscribe = undefined;
      if (u) await u();
      await Promise.allSettled([...pendingWrites]);
    },
  };
}

/** Malformed, unknown and wrong keys: one error, built the same way every time. */
function invalidKey(): PortcullisError {
  return new PortcullisError('invalid_api_key', { headers: INVALID_TOKEN });
}

function expired(at: number): PortcullisError {
  return new PortcullisError('api_key_expired', {
    vars: { expiredAt: new Date(at).toISOString() },
    headers: INVALID_TOKEN,
  });
}

/** RFC 6750 §3.1: a presented but unusable bearer token. */
const INVALID_TOKEN = { 'www-authenticate': 'Bearer error="invalid_token"' };
