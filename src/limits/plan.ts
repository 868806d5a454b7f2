import type { RateSpec, ReserveSpec } from '../counters/types.ts';
import type { BudgetWindow, KeyLimits } from '../keys/types.ts';
import { type WindowSpan, windowAt, windowTtlMs } from './windows.ts';

/**
 * The pure half of the limit stage: which counters one call charges, at which levels, and by how
 * much. No I/O, so the arithmetic is unit-tested on its own (plan.test.ts); stage.ts runs the plan
 * against the counters and settles it.
 */
export type LimitScope = 'key' | 'user' | 'workspace' | 'model' | 'plan' | 'global';

export interface Level {
  scope: LimitScope;
  /**
   * Key id, workspace id, `<workspace id>:<model>` for a workspace's model limit, '' for global;
   * for a named plan `k:<key id>` or `w:<workspace id>`, plus `:<model>` for its per-model limits.
   */
  id: string;
  /** For the `model` scope and a plan's per-model limits: the model name the limit is for. */
  model?: string;
  /** For the `plan` scope: which plan, and whether the key or the workspace is on it. */
  plan?: { name: string; on: 'key' | 'workspace' };
  limits: Readonly<KeyLimits>;
}

/**
 * How refusal messages name a level: `key`, `workspace`, `model "gpt-4o"`, `global`,
 * `key plan "free"`, `workspace plan "pro" model "gpt-4o"`.
 */
export function scopeLabel(level: Pick<Level, 'scope' | 'model' | 'plan'>): string {
  const model = level.model === undefined ? '' : `model "${level.model}"`;
  if (level.scope === 'model') return model;
  if (level.scope === 'plan' && level.plan) {
    return `${level.plan.on} plan "${level.plan.name}"${model ? ` ${model}` : ''}`;
  }
  return level.scope;
}

export interface BudgetCharge {
  scope: LimitScope;
  id: string;
  /** The level's name in messages (scopeLabel). */
  label: string;
  /** For the `plan` scope: the plan's name. */
  plan?: string;
  window: BudgetWindow;
  span: WindowSpan;
  limitMicros: number;
  key: string;
}

export interface LimitPlan {
  /** Requests-per-minute specs first, then tokens-per-minute (stage.ts relies on this order). */
  rate: RateSpec[];
  /** Index in `rate` where the token specs start. */
  tokenSpecsFrom: number;
  /** The level (scope and limit) of each rate spec, for the refusal message. */
  rateLevels: Level[];
  /** The level of each concurrency slot in `reserve`. */
  concurrencyLevels: Level[];
  /** Concurrency slots first, then budgets. */
  reserve: ReserveSpec[];
  concurrencyCount: number;
  budgets: BudgetCharge[];
  tokensReserved: number;
  costReserved: number;
}

export const MINUTE_MS = 60_000;
/**
 * Life of a concurrency counter. Counters cannot extend an expiry, so a slot leaked by a crashed
 * replica is forgotten at the latest this long after the counter was created (see docs/limits.md).
 */
export const CONCURRENCY_TTL_MS = 3_600_000;
/** The cap used when a reservation is settled or released: such adds must never be refused. */
export const UNCAPPED = Number.MAX_SAFE_INTEGER;

const LETTER: Readonly<Record<LimitScope, string>> = {
  key: 'k',
  user: 'u',
  workspace: 'w',
  model: 'm',
  plan: 'p',
  global: 'g',
};

export function counterKey(kind: 'rpm' | 'tpm' | 'conc', level: Pick<Level, 'scope' | 'id'>): string {
  return `lim:${kind}:${LETTER[level.scope]}:${level.id}`;
}

export function spendKey(level: Pick<Level, 'scope' | 'id'>, window: BudgetWindow, span: WindowSpan): string {
  return `lim:spend:${LETTER[level.scope]}:${level.id}:${window}:${span.id}`;
}

export function toMicros(usd: number): number {
  return Math.round(usd * 1_000_000);
}

/** The budgets that apply to a call, with their current windows. */
export function budgetsOf(levels: readonly Level[], now: number): BudgetCharge[] {
  const out: BudgetCharge[] = [];
  for (const level of levels) {
    const usd = level.limits.budgetUsd;
    if (usd === undefined) continue;
    const window = level.limits.budgetWindow ?? 'month';
    const span = windowAt(window, now);
    out.push({
      scope: level.scope,
      id: level.id,
      label: scopeLabel(level),
      ...(level.plan ? { plan: level.plan.name } : {}),
      window,
      span,
      limitMicros: toMicros(usd),
      key: spendKey(level, window, span),
    });
  }
  return out;
}

export function buildPlan(input: {
  levels: readonly Level[];
  budgets: readonly BudgetCharge[];
  tokens: number;
  costMicros: number;
  now: number;
}): LimitPlan {
  const { levels, budgets, tokens, costMicros, now } = input;
  const rate: RateSpec[] = [];
  const rateLevels: Level[] = [];
  for (const level of levels) {
    if (level.limits.rpm === undefined) continue;
    rate.push({ key: counterKey('rpm', level), limit: level.limits.rpm, windowMs: MINUTE_MS, cost: 1 });
    rateLevels.push(level);
  }
  const tokenSpecsFrom = rate.length;
  for (const level of levels) {
    if (level.limits.tpm === undefined) continue;
    rate.push({ key: counterKey('tpm', level), limit: level.limits.tpm, windowMs: MINUTE_MS, cost: tokens });
    rateLevels.push(level);
  }
  const reserve: ReserveSpec[] = [];
  const concurrencyLevels: Level[] = [];
  for (const level of levels) {
    if (level.limits.concurrency !== undefined) {
      concurrencyLevels.push(level);
      reserve.push({
        key: counterKey('conc', level),
        amount: 1,
        limit: level.limits.concurrency,
        ttlMs: CONCURRENCY_TTL_MS,
      });
    }
  }
  const concurrencyCount = reserve.length;
  for (const b of budgets) {
    reserve.push({ key: b.key, amount: costMicros, limit: b.limitMicros, ttlMs: windowTtlMs(b.span, now) });
  }
  return {
    rate,
    tokenSpecsFrom,
    rateLevels,
    concurrencyLevels,
    reserve,
    concurrencyCount,
    budgets: [...budgets],
    tokensReserved: tokens,
    costReserved: costMicros,
  };
}

/** The specs that undo a successful reservation (a refused rate check after it, or a settle). */
export function releaseSpecs(plan: LimitPlan, costDelta: number): ReserveSpec[] {
  return plan.reserve.map((spec, i) => ({
    key: spec.key,
    amount: i < plan.concurrencyCount ? -1 : costDelta,
    limit: UNCAPPED,
    ttlMs: spec.ttlMs,
  }));
}

/** Token specs that settle a reservation to the real count (negative cost = refund). */
export function tokenSettleSpecs(plan: LimitPlan, actualTokens: number): RateSpec[] {
  const delta = actualTokens - plan.tokensReserved;
  if (delta === 0) return [];
  return plan.rate.slice(plan.tokenSpecsFrom).map((spec) => ({ ...spec, cost: delta }));
}

/** Budget thresholds (percent) that crossing emits an event for. */
export const THRESHOLDS = [50, 80, 100] as const;

/** Thresholds crossed when a budget's spend moved from `before` to `after`. */
export function crossedThresholds(before: number, after: number, limitMicros: number): number[] {
  return THRESHOLDS.filter((p) => {
    const mark = Math.ceil((limitMicros * p) / 100);
    return before < mark && after >= mark;
  });
}
