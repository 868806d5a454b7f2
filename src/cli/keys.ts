import { changedFields, keyEvent } from '../audit/describe.ts';
import { openCounters } from '../counters/open.ts';
import type { Counters } from '../counters/types.ts';
import { loadPepper } from '../keys/hash.ts';
import {
  createKeyRepository,
  DEFAULT_ROTATION_GRACE_MS,
  type KeyRepository,
  type UpdateKeyInput,
} from '../keys/repository.ts';
import type { ApiKeyRecord, KeyLimits } from '../keys/types.ts';
import { parseDuration, parseExpiry } from '../keys/validate.ts';
import type { Command, CommandResult } from './context.ts';
import { type Local, withLocal } from './local.ts';
import { listFlag, optionalFlag, requireFlag, table, UsageError } from './usage.ts';

/**
 * `portcullis keys create|list|show|update|revoke|rotate|delete` on the local store. When REDIS_URL
 * is configured the change is also broadcast, so running gateways apply it at once; otherwise they
 * apply it within their key cache TTL (`auth.keyCacheTtlMs`, 1 s by default).
 */

async function withKeys<T>(
  ctx: Parameters<Command['run']>[0],
  fn: (keys: KeyRepository, local: Local) => Promise<T>,
): Promise<T> {
  return withLocal(ctx, (local) => withKeyRepository(local, (keys) => fn(keys, local)));
}

/** The key repository on an open local store, broadcasting its changes when Redis is configured. */
export async function withKeyRepository<T>(
  local: Local,
  fn: (keys: KeyRepository) => Promise<T>,
): Promise<T> {
  const pepper = await loadPepper(local);
  let counters: Counters | undefined;
  if (local.config.redisUrl) {
    try {
      counters = await openCounters({ config: local.config, logger: local.logger, clock: local.clock });
    } catch (err) {
      local.logger.warn(
        { err, withinMs: local.config.auth.keyCacheTtlMs },
        'keys: Redis unreachable; running gateways apply this change within their key cache TTL',
      );
    }
  }
  try {
    const keys = createKeyRepository({
      store: local.store,
      clock: local.clock,
      pepper,
      counters,
      logger: local.logger,
    });
    return await fn(keys);
  } finally {
    await counters?.close();
  }
}

function positiveInt(values: Record<string, unknown>, flag: string): number | undefined {
  const v = optionalFlag(values, flag);
  if (v === undefined) return undefined;
  if (!/^\d{1,10}$/.test(v) || Number(v) < 1)
    throw new UsageError(`--${flag} must be a positive whole number`);
  return Number(v);
}

function limitsFrom(values: Record<string, unknown>): KeyLimits {
  const limits: KeyLimits = {};
  const rpm = positiveInt(values, 'rpm');
  const tpm = positiveInt(values, 'tpm');
  const concurrency = positiveInt(values, 'concurrency');
  if (rpm !== undefined) limits.rpm = rpm;
  if (tpm !== undefined) limits.tpm = tpm;
  if (concurrency !== undefined) limits.concurrency = concurrency;
  const budget = optionalFlag(values, 'budget-usd');
  const window = optionalFlag(values, 'budget-window');
  if (budget !== undefined) {
    if (!/^\d+(\.\d+)?$/.test(budget))
      throw new UsageError('--budget-usd must be an amount like 25 or 12.50');
    limits.budgetUsd = Number(budget);
  }
  if (window !== undefined) {
    if (budget === undefined) throw new UsageError('--budget-window needs --budget-usd');
    limits.budgetWindow = window as KeyLimits['budgetWindow'];
  }
  return limits;
}

const when = (ms: number | null): string => (ms === null ? '-' : new Date(ms).toISOString());

function describe(r: ApiKeyRecord): string {
  const rows: [string, string][] = [
    ['id', r.id],
    ['name', r.name],
    ['workspace', r.workspaceId],
    ['key', r.masked],
    ['environment', r.environment],
    ['status', r.status],
    ['scopes', r.scopes.join(', ')],
    ['models', r.models.join(', ')],
    ['allowed IPs', r.allowIps.join(', ') || 'any'],
    ['allowed origins', r.allowOrigins.join(', ') || 'none (server-side only)'],
    ['limits', Object.keys(r.limits).length ? JSON.stringify(r.limits) : 'none at key level'],
    ['tags', r.tags.join(', ') || '-'],
    ['expires', when(r.expiresAt)],
    ['previous secret valid until', when(r.previousValidUntil)],
    ['last used', r.lastUsedAt === null ? 'never' : `${when(r.lastUsedAt)} from ${r.lastUsedIp ?? '?'}`],
    ['created', when(r.createdAt)],
    ['revoked', when(r.revokedAt)],
  ];
  return table(['FIELD', 'VALUE'], rows);
}

/** `{ id, key, ...attributes }`: the one place a raw key is printed. */
function withKey(record: ApiKeyRecord, key: string): Record<string, unknown> {
  const { id, ...rest } = record;
  return { id, key, ...rest };
}

function oneKeyId(positionals: string[]): string {
  const [id, ...rest] = positionals;
  if (id === undefined || rest.length > 0) throw new UsageError('give exactly one key id (key_…)');
  return id;
}

const SHOWN_ONCE =
  'Store it now in your secret manager: it is shown only this once and cannot be recovered (only a keyed hash is kept).';

/** The key attributes `keys create` and `keys update` both take. */
const KEY_ATTRIBUTE_OPTIONS: NonNullable<Command['options']> = {
  scopes: { type: 'string', multiple: true },
  models: { type: 'string', multiple: true },
  'allow-ip': { type: 'string', multiple: true },
  'allow-origin': { type: 'string', multiple: true },
  expires: { type: 'string' },
  rpm: { type: 'string' },
  tpm: { type: 'string' },
  concurrency: { type: 'string' },
  'budget-usd': { type: 'string' },
  'budget-window': { type: 'string' },
  tags: { type: 'string', multiple: true },
};

export const keysCreateCommand: Command = {
  name: ['keys', 'create'],
  summary: 'Create an API key (printed once).',
  usage: `portcullis keys create --workspace W --name N [--scopes a,b] [--models globs] [--allow-ip CIDR,...]
        [--allow-origin URL,...] [--expires 30d|ISO-TIME] [--env live|test] [--rpm N] [--tpm N] [--concurrency N]
        [--budget-usd X [--budget-window day|week|month|total]] [--tags a,b] [--json]
  scopes: chat, embeddings, responses, messages, models:read (default: all five), admin:read, admin:write`,
  options: {
    workspace: { type: 'string' },
    name: { type: 'string' },
    env: { type: 'string' },
    ...KEY_ATTRIBUTE_OPTIONS,
  },
  async run(ctx, values) {
    const workspace = requireFlag(values, 'workspace');
    const name = requireFlag(values, 'name');
    const env = optionalFlag(values, 'env') ?? 'live';
    if (env !== 'live' && env !== 'test') throw new UsageError('--env must be live or test');
    const limits = limitsFrom(values);
    const expires = optionalFlag(values, 'expires');
    return withKeys(ctx, async (keys, local) => {
      const ws = await local.workspaces.resolve(workspace);
      const expiresAt = expires === undefined ? null : parseExpiry(expires, local.clock.now());
      const { key, record } = await local.audit.record(
        local.auditContext,
        (tx) =>
          keys.inTx(tx).create({
            workspaceId: ws.id,
            name,
            environment: env,
            scopes: listFlag(values, 'scopes'),
            models: listFlag(values, 'models'),
            allowIps: listFlag(values, 'allow-ip'),
            allowOrigins: listFlag(values, 'allow-origin'),
            tags: listFlag(values, 'tags'),
            limits,
            expiresAt,
          }),
        (created) => keyEvent('key.created', created.record),
      );
      return {
        data: withKey(record, key),
        text: `created API key ${record.id} ("${record.name}") in workspace "${ws.name}":\n\n  ${key}\n\n${SHOWN_ONCE}`,
      } satisfies CommandResult;
    });
  },
};

export const keysListCommand: Command = {
  name: ['keys', 'list'],
  summary: 'List the API keys of a workspace (masked).',
  usage: 'portcullis keys list --workspace W [--all] [--json]   (--all includes deleted keys)',
  options: { workspace: { type: 'string' }, all: { type: 'boolean', default: false } },
  async run(ctx, values) {
    const workspace = requireFlag(values, 'workspace');
    return withKeys(ctx, async (keys, local) => {
      const ws = await local.workspaces.resolve(workspace);
      const all = await keys.list(ws.id, { includeDeleted: values.all === true });
      const text =
        all.length === 0
          ? `no API keys in "${ws.name}"; create one with: portcullis keys create --workspace ${ws.name} --name NAME`
          : table(
              ['ID', 'NAME', 'KEY', 'STATUS', 'SCOPES', 'EXPIRES', 'LAST USED'],
              all.map((k) => [
                k.id,
                k.name,
                k.masked,
                k.status,
                k.scopes.join(','),
                when(k.expiresAt),
                when(k.lastUsedAt),
              ]),
            );
      return { data: all, text };
    });
  },
};

export const keysShowCommand: Command = {
  name: ['keys', 'show'],
  summary: 'Show one API key (masked) and its attributes.',
  usage: 'portcullis keys show KEY_ID [--json]',
  async run(ctx, _values, positionals) {
    const id = oneKeyId(positionals);
    return withKeys(ctx, async (keys) => {
      const record = await keys.show(id);
      return { data: record, text: describe(record) };
    });
  },
};

export const keysRevokeCommand: Command = {
  name: ['keys', 'revoke'],
  summary: 'Revoke an API key now (every replica refuses it within 1 s).',
  usage: 'portcullis keys revoke KEY_ID [--json]',
  async run(ctx, _values, positionals) {
    const id = oneKeyId(positionals);
    return withKeys(ctx, async (keys, local) => {
      const record = await local.audit.record(
        local.auditContext,
        (tx) => keys.inTx(tx).revoke(id),
        (revoked) => keyEvent('key.revoked', revoked),
      );
      return { data: record, text: `revoked API key ${record.id} ("${record.name}")` };
    });
  },
};

export const keysRotateCommand: Command = {
  name: ['keys', 'rotate'],
  summary: 'Give an API key a new secret (printed once); the old one works for a grace period.',
  usage: 'portcullis keys rotate KEY_ID [--grace 24h] [--json]   (--grace 0 stops the old secret at once)',
  options: { grace: { type: 'string' } },
  async run(ctx, values, positionals) {
    const id = oneKeyId(positionals);
    const graceText = optionalFlag(values, 'grace');
    const graceMs = graceText === undefined ? undefined : graceText === '0' ? 0 : parseDuration(graceText);
    if (graceText !== undefined && graceMs === undefined)
      throw new UsageError('--grace must look like 24h, 30m, 7d or 0');
    return withKeys(ctx, async (keys, local) => {
      const { key, record } = await local.audit.record(
        local.auditContext,
        (tx) => keys.inTx(tx).rotate(id, graceMs === undefined ? {} : { graceMs }),
        (rotated) =>
          keyEvent('key.rotated', rotated.record, {
            graceSeconds: (graceMs ?? DEFAULT_ROTATION_GRACE_MS) / 1000,
          }),
      );
      return {
        data: withKey(record, key),
        text: `rotated API key ${record.id}; the previous secret works until ${when(record.previousValidUntil)}:\n\n  ${key}\n\n${SHOWN_ONCE}`,
      };
    });
  },
};

/** A flag that may also say "remove this limit": `--rpm none`. */
function limitOrNone(values: Record<string, unknown>, flag: string): number | null | undefined {
  return optionalFlag(values, flag) === 'none' ? null : positiveInt(values, flag);
}

/**
 * The key's limits with the given flags applied: unmentioned limits are kept, `none` removes one.
 * Read-modify-write: two concurrent updates of different limits of one key may lose one of them.
 */
function updatedLimits(current: KeyLimits, values: Record<string, unknown>): KeyLimits | undefined {
  const flags = ['rpm', 'tpm', 'concurrency', 'budget-usd', 'budget-window'];
  if (flags.every((f) => values[f] === undefined)) return undefined;
  const next: KeyLimits = { ...current };
  const set = (field: 'rpm' | 'tpm' | 'concurrency', value: number | null | undefined): void => {
    if (value === null) delete next[field];
    else if (value !== undefined) next[field] = value;
  };
  set('rpm', limitOrNone(values, 'rpm'));
  set('tpm', limitOrNone(values, 'tpm'));
  set('concurrency', limitOrNone(values, 'concurrency'));
  const budget = optionalFlag(values, 'budget-usd');
  if (budget === 'none') {
    delete next.budgetUsd;
    delete next.budgetWindow;
  } else if (budget !== undefined) {
    const { budgetUsd } = limitsFrom({ 'budget-usd': budget });
    if (budgetUsd !== undefined) next.budgetUsd = budgetUsd;
  }
  const window = optionalFlag(values, 'budget-window');
  if (window !== undefined) {
    if (next.budgetUsd === undefined) throw new UsageError('--budget-window needs a budget (--budget-usd)');
    next.budgetWindow = window as KeyLimits['budgetWindow'];
  }
  return next;
}

export const keysUpdateCommand: Command = {
  name: ['keys', 'update'],
  summary:
    'Change an API key (every replica applies it within 1 s); unmentioned attributes stay as they are.',
  usage: `portcullis keys update KEY_ID [--name N] [--scopes a,b] [--models globs] [--allow-ip CIDR,...|any]
        [--allow-origin URL,...|none] [--expires 30d|ISO-TIME|never] [--rpm N|none] [--tpm N|none]
        [--concurrency N|none] [--budget-usd X|none] [--budget-window day|week|month|total] [--tags a,b] [--json]
  Lists replace the key's list. Revoked and deleted keys cannot be changed.`,
  options: { name: { type: 'string' }, ...KEY_ATTRIBUTE_OPTIONS },
  async run(ctx, values, positionals) {
    const id = oneKeyId(positionals);
    const name = optionalFlag(values, 'name');
    const expires = optionalFlag(values, 'expires');
    // Emptying these lists widens (any IP) or narrows (no browser use) a key: only by an explicit word.
    const allowIps = listFlag(values, 'allow-ip');
    const allowOrigins = listFlag(values, 'allow-origin');
    const patch: UpdateKeyInput = {};
    if (name !== undefined) patch.name = name;
    const scopes = listFlag(values, 'scopes');
    const models = listFlag(values, 'models');
    const tags = listFlag(values, 'tags');
    if (scopes !== undefined) patch.scopes = scopes;
    if (models !== undefined) patch.models = models;
    if (tags !== undefined) patch.tags = tags;
    if (allowIps !== undefined)
      patch.allowIps = allowIps.length === 1 && allowIps[0] === 'any' ? [] : allowIps;
    if (allowOrigins !== undefined)
      patch.allowOrigins = allowOrigins.length === 1 && allowOrigins[0] === 'none' ? [] : allowOrigins;
    return withKeys(ctx, async (keys, local) => {
      if (expires !== undefined)
        patch.expiresAt = expires === 'never' ? null : parseExpiry(expires, local.clock.now());
      const limits = updatedLimits((await keys.show(id)).limits, values);
      if (limits !== undefined) patch.limits = limits;
      if (Object.keys(patch).length === 0)
        throw new UsageError('nothing to change: give at least one attribute');
      const record = await local.audit.record(
        local.auditContext,
        (tx) => keys.inTx(tx).update(id, patch),
        (updated) =>
          keyEvent('key.updated', updated, { changed: changedFields(patch), scopes: updated.scopes }),
      );
      return { data: record, text: `updated API key ${record.id}:\n\n${describe(record)}` };
    });
  },
};

export const keysDeleteCommand: Command = {
  name: ['keys', 'delete'],
  summary: 'Delete an API key (soft: revoked and hidden; the record stays for the audit trail).',
  usage: 'portcullis keys delete KEY_ID [--json]',
  async run(ctx, _values, positionals) {
    const id = oneKeyId(positionals);
    return withKeys(ctx, async (keys, local) => {
      const record = await local.audit.record(
        local.auditContext,
        (tx) => keys.inTx(tx).delete(id),
        (deleted) => keyEvent('key.deleted', deleted),
      );
      return { data: record, text: `deleted API key ${record.id} ("${record.name}")` };
    });
  },
};

export const KEY_COMMANDS: Command[] = [
  keysCreateCommand,
  keysListCommand,
  keysShowCommand,
  keysUpdateCommand,
  keysRevokeCommand,
  keysRotateCommand,
  keysDeleteCommand,
];
