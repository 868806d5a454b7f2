import type { Config } from '../config/schema.ts';
import type { Counters } from '../counters/types.ts';
import type { KeyLimits } from '../keys/types.ts';
import { modelLevels, type WorkspaceLimits } from './model-limits.ts';
import { planLevels, type WorkspacePlans } from './named-plans.ts';
import { budgetsOf, counterKey, type Level, MINUTE_MS } from './plan.ts';
import { resetText } from './windows.ts';

/**
 * Visibility (issue 6, item 6): current usage against every limit and budget that applies to a
 * key or a workspace, read from the same counters the limit stage charges (cost-0 reads).
 */
export interface UsageRow {
  scope: Level['scope'];
  id: string;
  /** For the `model` scope and a plan's per-model limits: the model name. */
  model?: string;
  /** For the `plan` scope: the plan's name. */
  plan?: string;
  limit: 'rpm' | 'tpm' | 'concurrency' | 'budget';
  /** Requests, tokens, slots, or micro-dollars for budgets. */
  max: number;
  used: number;
  /** Budgets: the window and when it resets. */
  window?: string;
  resets?: string;
}

export function globalLevel(config: Readonly<Config>): Level {
  const limits: KeyLimits = {};
  if (config.limits.rpm > 0) limits.rpm = config.limits.rpm;
  if (config.limits.tpm > 0) limits.tpm = config.limits.tpm;
  if (config.limits.concurrency > 0) limits.concurrency = config.limits.concurrency;
  return { scope: 'global', id: '', limits };
}

/**
 * Every level that can apply to calls of a key (when given) or of a whole workspace: the key, the
 * workspace, each of the workspace's per-model limits, the plans of both, and the global one.
 */
export function applicableLevels(opts: {
  key?: { id: string; limits: Readonly<KeyLimits>; userId?: string | null };
  /** A member without a key in view (GET /members/{id}/limits). */
  userId?: string;
  workspaceId: string;
  workspaceLimits: WorkspaceLimits;
  plans?: WorkspacePlans;
  global: Level;
}): Level[] {
  const levels: Level[] = [];
  if (opts.key) levels.push({ scope: 'key', id: opts.key.id, limits: opts.key.limits });
  const { models: _models, perUser, ...own } = opts.workspaceLimits;
  const member = opts.key?.userId ?? opts.userId;
  if (member && perUser) levels.push({ scope: 'user', id: `${opts.workspaceId}:${member}`, limits: perUser });
  levels.push({ scope: 'workspace', id: opts.workspaceId, limits: own });
  levels.push(...modelLevels(opts.workspaceId, opts.workspaceLimits));
  if (opts.plans)
    levels.push(...planLevels(opts.plans, { workspaceId: opts.workspaceId, keyId: opts.key?.id }));
  levels.push(opts.global);
  return levels;
}

export async function usageReport(
  counters: Counters,
  levels: readonly Level[],
  now: number,
): Promise<UsageRow[]> {
  const rows: UsageRow[] = [];
  const rate: { row: UsageRow; key: string }[] = [];
  const plain: { row: UsageRow; key: string }[] = [];
  for (const level of levels) {
    for (const kind of ['rpm', 'tpm'] as const) {
      const max = level.limits[kind];
      if (max === undefined) continue;
      const row: UsageRow = { scope: level.scope, id: level.id, limit: kind, max, used: 0 };
      if (level.model !== undefined) row.model = level.model;
      if (level.plan !== undefined) row.plan = level.plan.name;
      rows.push(row);
      rate.push({ row, key: counterKey(kind, level) });
    }
    if (level.limits.concurrency !== undefined) {
      const row: UsageRow = {
        scope: level.scope,
        id: level.id,
        limit: 'concurrency',
        max: level.limits.concurrency,
        used: 0,
      };
      if (level.plan !== undefined) row.plan = level.plan.name;
      rows.push(row);
      plain.push({ row, key: counterKey('conc', level) });
    }
  }
  for (const b of budgetsOf(levels, now)) {
    const row: UsageRow = {
      scope: b.scope,
      id: b.id,
      limit: 'budget',
      max: b.limitMicros,
      used: 0,
      window: b.window,
      resets: resetText(b.span),
    };
    if (b.plan !== undefined) row.plan = b.plan;
    rows.push(row);
    plain.push({ row, key: b.key });
  }
  if (rate.length > 0) {
    const read = await counters.rate(
      rate.map(({ row, key }) => ({ key, limit: row.max, windowMs: MINUTE_MS, cost: 0 })),
    );
    read.outcomes.forEach((o, i) => {
      const entry = rate[i];
      if (entry) entry.row.used = entry.row.max - o.remaining;
    });
  }
  if (plain.length > 0) {
    const values = await counters.get(plain.map((p) => p.key));
    values.forEach((v, i) => {
      const entry = plain[i];
      if (entry) entry.row.used = Math.max(0, v);
    });
  }
  return rows;
}
