import type { KeyObject } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Clock } from '../clock.ts';
import type { Counters } from '../counters/types.ts';
import type { ApiKeyRow, Database } from '../store/schema.ts';
import { type AfterCommit, immediately, type Tx } from '../store/tx.ts';
import type { Store } from '../store/types.ts';
import { invalidInput, KeyError } from './errors.ts';
import { generateKey, isKeyId, KEY_ENVIRONMENTS, type KeyEnvironment, maskKey } from './format.ts';
import { encodeHash, hashKeySecret } from './hash.ts';
import { type ApiKeyRecord, DATA_PLANE_SCOPES, type KeyLimits, type KeyStatus, type Scope } from './types.ts';
import {
  normalizeCidrs,
  normalizeOrigins,
  validateExpiry,
  validateLimits,
  validateModels,
  validateName,
  validateScopes,
  validateTags,
} from './validate.ts';

/**
 * Key lifecycle: create, list, show, update, revoke, rotate, soft delete. The raw key leaves this
 * module exactly twice: from `create` and from `rotate`, to be shown once. Records never carry the
 * hash. Every change that could loosen or tighten what a key may do is broadcast on
 * `keys:changed` so every replica's verifier drops its cached copy (src/keys/verify.ts).
 */

export const KEYS_CHANGED_CHANNEL = 'keys:changed';
export const DEFAULT_ROTATION_GRACE_MS = 24 * 3_600_000;
/** The longest grace a rotation may give the old secret. */
export const MAX_ROTATION_GRACE_MS = 30 * 86_400_000;

export interface CreateKeyInput {
  workspaceId: string;
  name: string;
  environment?: KeyEnvironment;
  createdBy?: string | null;
  scopes?: readonly string[];
  models?: readonly string[];
  allowIps?: readonly string[];
  allowOrigins?: readonly string[];
  limits?: KeyLimits;
  tags?: readonly string[];
  expiresAt?: number | null;
}

export type UpdateKeyInput = Partial<
  Pick<
    CreateKeyInput,
    'name' | 'scopes' | 'models' | 'allowIps' | 'allowOrigins' | 'limits' | 'tags' | 'expiresAt'
  >
>;

/** Restricts a lookup to one workspace (the admin API passes the caller's): another tenant's key is "not found". */
export interface Scoped {
  workspaceId?: string;
}

export interface KeyRepository {
  create(input: CreateKeyInput): Promise<{ key: string; record: ApiKeyRecord }>;
  list(workspaceId: string, options?: { includeDeleted?: boolean }): Promise<ApiKeyRecord[]>;
  show(id: string, scope?: Scoped): Promise<ApiKeyRecord>;
  update(id: string, patch: UpdateKeyInput, scope?: Scoped): Promise<ApiKeyRecord>;
  /** Immediate: the next request with this key is refused (api_key_revoked) on every replica within 1 s. */
  revoke(id: string, scope?: Scoped): Promise<ApiKeyRecord>;
  /** A new secret; the current one keeps working for `graceMs` (default 24 h, 0 = stops now). */
  rotate(id: string, options?: Scoped & { graceMs?: number }): Promise<{ key: string; record: ApiKeyRecord }>;
  /** Soft delete: revokes (if not yet) and hides the key from lists; the row stays for the audit trail. */
  delete(id: string, scope?: Scoped): Promise<ApiKeyRecord>;
  /**
   * The same repository working inside `tx` (src/store/tx.ts), so a change commits together with
   * its audit entry; the `keys:changed` broadcast is sent only after the commit.
   */
  inTx(tx: Tx): KeyRepository;
}

export interface KeyRepositoryOptions {
  store: Store;
  clock: Clock;
  pepper: KeyObject;
  /** Where change notices are published; without it, other replicas see changes when their cache TTL ends. */
  counters?: Pick<Counters, 'publish'>;
  logger?: { warn(obj: object, msg?: string): void };
}

/** `settings.keys.maxLifetimeDays` of a workspace: the longest lifetime a new or updated key may have. */
interface WorkspaceKeyPolicy {
  maxLifetimeMs?: number;
}

const RECORD_COLUMNS = [
  'id',
  'workspace_id',
  'name',
  'environment',
  'created_by',
  'previous_valid_until',
  'masked',
  'scopes',
  'models',
  'allow_ips',
  'allow_origins',
  'limits',
  'tags',
  'expires_at',
  'revoked_at',
  'deleted_at',
  'last_used_at',
  'last_used_ip',
  'created_at',
  'updated_at',
] as const;

type RecordRow = Pick<ApiKeyRow, (typeof RECORD_COLUMNS)[number]>;

export function createKeyRepository(
  opts: KeyRepositoryOptions,
  db: Kysely<Database> = opts.store.db,
  after: AfterCommit = immediately,
): KeyRepository {
  const { clock, pepper, counters, logger } = opts;

  async function notify(id: string): Promise<void> {
    if (!counters) return;
    try {
      await counters.publish(KEYS_CHANGED_CHANNEL, id);
    } catch (err) {
      // The change is committed; replicas that miss the notice pick it up when their cache TTL ends.
      logger?.warn(
        { err, keyId: id },
        'keys: could not broadcast a key change; replicas apply it within the cache TTL',
      );
    }
  }

  async function findRow(id: string, scope: Scoped = {}): Promise<RecordRow> {
    if (!isKeyId(id)) throw new KeyError('key_not_found', `no API key "${id}" (key ids look like key_…)`);
    let query = db.selectFrom('api_keys').select(RECORD_COLUMNS).where('id', '=', id);
    if (scope.workspaceId !== undefined) query = query.where('workspace_id', '=', scope.workspaceId);
    const row = await query.executeTakeFirst();
    if (!row) throw new KeyError('key_not_found', `no API key "${id}"`);
    return row;
  }

  async function policyOf(workspaceId: string): Promise<WorkspaceKeyPolicy> {
    const ws = await db
      .selectFrom('workspaces')
      .select('settings')
      .where('id', '=', workspaceId)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    if (!ws) throw invalidInput('workspaceId', `no workspace "${workspaceId}"`);
    const days = (parseJson(ws.settings) as { keys?: { maxLifetimeDays?: unknown } } | null)?.keys
      ?.maxLifetimeDays;
    return typeof days === 'number' && days > 0 ? { maxLifetimeMs: days * 86_400_000 } : {};
  }

  function checkLifetime(expiresAt: number | null, policy: WorkspaceKeyPolicy, now: number): number | null {
    if (policy.maxLifetimeMs === undefined) return expiresAt;
    const latest = now + policy.maxLifetimeMs;
    // A workspace with a lifetime policy gives keys without an explicit expiry the longest allowed one.
    if (expiresAt === null) return latest;
    if (expiresAt > latest) {
      throw invalidInput(
        'expiresAt',
        `this workspace allows keys to live at most ${Math.round(policy.maxLifetimeMs / 86_400_000)} days`,
      );
    }
    return expiresAt;
  }

  async function update(id: string, patch: UpdateKeyInput, scope?: Scoped): Promise<ApiKeyRecord> {
    const row = await findRow(id, scope);
    if (row.deleted_at !== null || row.revoked_at !== null) {
      throw new KeyError(
        'key_not_active',
        `API key ${id} is ${row.deleted_at !== null ? 'deleted' : 'revoked'}`,
      );
    }
    const now = clock.now();
    const set: Partial<ApiKeyRow> = { updated_at: now };
    if (patch.name !== undefined) set.name = validateName(patch.name);
    if (patch.scopes !== undefined) set.scopes = JSON.stringify(validateScopes(patch.scopes));
    if (patch.models !== undefined) set.models = JSON.stringify(validateModels(patch.models));
    if (patch.allowIps !== undefined) set.allow_ips = JSON.stringify(normalizeCidrs(patch.allowIps));
    if (patch.allowOrigins !== undefined)
      set.allow_origins = JSON.stringify(normalizeOrigins(patch.allowOrigins));
    if (patch.limits !== undefined) set.limits = JSON.stringify(validateLimits(patch.limits));
    if (patch.tags !== undefined) set.tags = JSON.stringify(validateTags(patch.tags));
    if (patch.expiresAt !== undefined) {
      set.expires_at = checkLifetime(
        validateExpiry(patch.expiresAt, now),
        await policyOf(row.workspace_id),
        now,
      );
    }
    await db.updateTable('api_keys').set(set).where('id', '=', id).execute();
    await after(() => notify(id));
    return toRecord(await findRow(id), now);
  }

  return {
    async create(input) {
      const now = clock.now();
      const environment = input.environment ?? 'live';
      if (!KEY_ENVIRONMENTS.includes(environment))
        throw invalidInput('environment', 'must be "live" or "test"');
      const policy = await policyOf(input.workspaceId);
      const attrs = {
        name: validateName(input.name),
        scopes: validateScopes(input.scopes ?? [...DATA_PLANE_SCOPES]),
        models: validateModels(input.models ?? ['*']),
        allowIps: normalizeCidrs(input.allowIps ?? []),
        allowOrigins: normalizeOrigins(input.allowOrigins ?? []),
        limits: validateLimits(input.limits ?? {}),
        tags: validateTags(input.tags ?? []),
        expiresAt: checkLifetime(validateExpiry(input.expiresAt, now), policy, now),
      };
      const generated = generateKey(environment);
      await db
        .insertInto('api_keys')
        .values({
          id: generated.id,
          workspace_id: input.workspaceId,
          name: attrs.name,
          environment,
          created_by: input.createdBy ?? null,
          secret_hash: encodeHash(hashKeySecret(pepper, generated)),
          previous_secret_hash: null,
          previous_valid_until: null,
          masked: maskKey(generated.raw),
          scopes: JSON.stringify(attrs.scopes),
          models: JSON.stringify(attrs.models),
          allow_ips: JSON.stringify(attrs.allowIps),
          allow_origins: JSON.stringify(attrs.allowOrigins),
          limits: JSON.stringify(attrs.limits),
          tags: JSON.stringify(attrs.tags),
          expires_at: attrs.expiresAt,
          revoked_at: null,
          deleted_at: null,
          last_used_at: null,
          last_used_ip: null,
          created_at: now,
          updated_at: now,
        })
        .execute();
      // A replica may have cached "unknown id" for this id (a guess that happened to collide).
      await after(() => notify(generated.id));
      return { key: generated.raw, record: toRecord(await findRow(generated.id), now) };
    },

    async list(workspaceId, options = {}) {
      let query = db.selectFrom('api_keys').select(RECORD_COLUMNS).where('workspace_id', '=', workspaceId);
      if (!options.includeDeleted) query = query.where('deleted_at', 'is', null);
      const rows = await query.orderBy('created_at').orderBy('id').execute();
      const now = clock.now();
      return rows.map((r) => toRecord(r, now));
    },

    async show(id, scope) {
      return toRecord(await findRow(id, scope), clock.now());
    },

    update,

    async revoke(id, scope) {
      const row = await findRow(id, scope);
      const now = clock.now();
      if (row.revoked_at === null) {
        await db
          .updateTable('api_keys')
          .set({ revoked_at: now, updated_at: now })
          .where('id', '=', id)
          .where('revoked_at', 'is', null)
          .execute();
      }
      await after(() => notify(id));
      return toRecord(await findRow(id), now);
    },

    async rotate(id, options = {}) {
      const graceMs = options.graceMs ?? DEFAULT_ROTATION_GRACE_MS;
      if (!Number.isSafeInteger(graceMs) || graceMs < 0 || graceMs > MAX_ROTATION_GRACE_MS) {
        throw invalidInput('grace', `must be between 0 and ${MAX_ROTATION_GRACE_MS / 86_400_000} days`);
      }
      const row = await findRow(id, options);
      if (row.deleted_at !== null || row.revoked_at !== null) {
        throw new KeyError(
          'key_not_active',
          `API key ${id} is ${row.deleted_at !== null ? 'deleted' : 'revoked'}`,
        );
      }
      const now = clock.now();
      const environment = row.environment as KeyEnvironment;
      const generated = generateKey(environment, id);
      const current = await db
        .selectFrom('api_keys')
        .select('secret_hash')
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      // Guarded on the hash read: of two concurrent rotations, exactly one wins; the other is told to retry.
      const result = await db
        .updateTable('api_keys')
        .set({
          secret_hash: encodeHash(hashKeySecret(pepper, generated)),
          previous_secret_hash: current.secret_hash,
          previous_valid_until: now + graceMs,
          masked: maskKey(generated.raw),
          updated_at: now,
        })
        .where('id', '=', id)
        .where('secret_hash', '=', current.secret_hash)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) !== 1) {
        throw new KeyError('key_not_active', `API key ${id} was changed concurrently; retry the rotation`);
      }
      await after(() => notify(id));
      return { key: generated.raw, record: toRecord(await findRow(id), now) };
    },

    async delete(id, scope) {
      const row = await findRow(id, scope);
      const now = clock.now();
      if (row.deleted_at === null) {
        await db
          .updateTable('api_keys')
          .set({ deleted_at: now, revoked_at: row.revoked_at ?? now, updated_at: now })
          .where('id', '=', id)
          .execute();
      }
      await after(() => notify(id));
      return toRecord(await findRow(id), now);
    },

    inTx: (tx) => createKeyRepository(opts, tx.db, (effect) => tx.afterCommit(effect)),
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function statusOf(row: RecordRow, now: number): KeyStatus {
  if (row.deleted_at !== null) return 'deleted';
  if (row.revoked_at !== null) return 'revoked';
  if (row.expires_at !== null && Number(row.expires_at) <= now) return 'expired';
  return 'active';
}

const num = (v: number | string | null): number | null => (v === null ? null : Number(v));

export function toRecord(row: RecordRow, now: number): ApiKeyRecord {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    name: row.name,
    environment: row.environment as KeyEnvironment,
    createdBy: row.created_by,
    masked: row.masked,
    status: statusOf(row, now),
    scopes: parseJson(row.scopes) as Scope[],
    models: parseJson(row.models) as string[],
    allowIps: parseJson(row.allow_ips) as string[],
    allowOrigins: parseJson(row.allow_origins) as string[],
    limits: parseJson(row.limits) as KeyLimits,
    tags: parseJson(row.tags) as string[],
    expiresAt: num(row.expires_at),
    revokedAt: num(row.revoked_at),
    deletedAt: num(row.deleted_at),
    previousValidUntil: num(row.previous_valid_until),
    lastUsedAt: num(row.last_used_at),
    lastUsedIp: row.last_used_ip,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}
