import { invalidInput } from '../keys/errors.ts';
import type { KeyLimits } from '../keys/types.ts';
import { validateLimits } from '../keys/validate.ts';
import type { Level } from './plan.ts';

/**
 * Per-model limits (issue 6, item 1): a workspace may cap requests and tokens per minute for one
 * model name, on top of its own limits, e.g. `settings.limits.models = { "gpt-4o": { rpm: 60 } }`.
 * The name is the one the client sends (an alias name, or a model name a credential serves), so
 * a limit on an alias does not cover calls that name its target model directly: limit both.
 */
export interface ModelLimits {
  rpm?: number;
  tpm?: number;
}

/** What a workspace's `settings.limits` holds: a key's fields, plus limits per model name. */
export interface WorkspaceLimits extends KeyLimits {
  models?: Record<string, ModelLimits>;
  /**
   * Limits for each member of the workspace, over all the keys they created together (a User with
   * ten keys still gets one allowance). Keys created by a management key or the CLI belong to no
   * member and are bounded by their own and the workspace's limits only.
   */
  perUser?: KeyLimits;
}

/** The alias-name shape (src/admin/schemas.ts AliasParams): no path tricks, no `__proto__`. */
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$/;
const MAX_MODELS = 200;
const MAX_INT_LIMIT = 1_000_000_000;

/** Validates a workspace's limits: the key fields as `validateLimits` does, then `models`. */
export function validateWorkspaceLimits(value: unknown): WorkspaceLimits {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidInput('limits', 'must be an object');
  }
  const { models, perUser, ...rest } = value as Record<string, unknown>;
  const out: WorkspaceLimits = validateLimits(rest);
  if (perUser !== undefined && perUser !== null) {
    if (typeof perUser !== 'object' || Array.isArray(perUser)) {
      throw invalidInput(
        'limits.perUser',
        'must be an object like { "rpm": 60, "budgetUsd": 20, "budgetWindow": "month" }',
      );
    }
    const valid = validateLimits(perUser);
    if (Object.keys(valid).length > 0) out.perUser = valid;
  }
  if (models === undefined || models === null) return out;
  if (typeof models !== 'object' || Array.isArray(models)) {
    throw invalidInput('limits.models', 'must be an object of model name → { rpm, tpm }');
  }
  const entries = Object.entries(models as Record<string, unknown>);
  if (entries.length > MAX_MODELS) throw invalidInput('limits.models', `at most ${MAX_MODELS} models`);
  const valid: Record<string, ModelLimits> = {};
  for (const [name, limits] of entries) {
    if (!MODEL_NAME.test(name)) {
      throw invalidInput('limits.models', `"${name.slice(0, 80)}" is not a model name`);
    }
    if (typeof limits !== 'object' || limits === null || Array.isArray(limits)) {
      throw invalidInput(`limits.models.${name}`, 'must be an object like { "rpm": 60 }');
    }
    const entry: ModelLimits = {};
    for (const [field, v] of Object.entries(limits as Record<string, unknown>)) {
      if (field !== 'rpm' && field !== 'tpm') {
        throw invalidInput(`limits.models.${name}.${field}`, 'unknown limit (known per model: rpm, tpm)');
      }
      if (v === null || v === undefined) continue;
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1 || v > MAX_INT_LIMIT) {
        throw invalidInput(
          `limits.models.${name}.${field}`,
          `must be a whole number from 1 to ${MAX_INT_LIMIT}`,
        );
      }
      entry[field] = v;
    }
    // An empty entry limits nothing: dropped rather than stored.
    if (entry.rpm !== undefined || entry.tpm !== undefined) valid[name] = entry;
  }
  if (Object.keys(valid).length > 0) out.models = valid;
  return out;
}

/** The level a workspace's limit on `model` is charged at (its counters are per workspace and model). */
export function modelLevel(workspaceId: string, model: string, limits: ModelLimits): Level {
  return { scope: 'model', id: `${workspaceId}:${model}`, model, limits };
}

/** The workspace's limit for the model a call names, if it set one. */
export function modelLimitsFor(limits: WorkspaceLimits, model: string): ModelLimits | undefined {
  const models = limits.models;
  return models !== undefined && Object.hasOwn(models, model) ? models[model] : undefined;
}

/** Every per-model level of a workspace, for the usage views. */
export function modelLevels(workspaceId: string, limits: WorkspaceLimits): Level[] {
  return Object.entries(limits.models ?? {}).map(([model, l]) => modelLevel(workspaceId, model, l));
}
