import { invalidInput } from '../keys/errors.ts';
import type { WorkspaceRepository } from '../workspaces/repository.ts';
import { modelLimitsFor, validateWorkspaceLimits, type WorkspaceLimits } from './model-limits.ts';
import type { Level } from './plan.ts';

/**
 * Named plans (issue 6, item 1): a limit set defined once per workspace ("free", "pro") and
 * assigned to the workspace itself and to keys. Stored in the workspace's `settings.plans`, next to
 * `settings.limits`, so no table and no migration are needed and a change is one settings write.
 *
 * A plan is charged as its own level, on counters of its own (`lim:…:p:k:<key id>` for a key's
 * plan, `lim:…:p:w:<workspace id>` for the workspace's), in the same all-or-nothing admit as the
 * key's and workspace's explicit limits: every applicable limit is charged, so the most
 * restrictive wins, and a plan budget with another window than the key's own is kept apart. The
 * counters are per key or workspace, not per plan name, so moving to another plan keeps this
 * minute's and this window's usage.
 */
export interface WorkspacePlans {
  /** Plan name → its limits: a workspace's fields (rpm, tpm, concurrency, budget, per model). */
  plans: Record<string, WorkspaceLimits>;
  /** The plan the workspace itself is on: it applies to every call of the workspace. */
  workspace?: string;
  /** Key id → the plan that key is on. */
  keys: Record<string, string>;
}

export const SETTINGS_SECTION = 'plans';
const PLAN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const KEY_ID = /^key_[A-Za-z0-9_-]{1,100}$/;
const MAX_PLANS = 100;
const MAX_ASSIGNED_KEYS = 100_000;

export function emptyPlans(): WorkspacePlans {
  return { plans: {}, keys: {} };
}

export function validatePlanName(name: string): string {
  if (!PLAN_NAME.test(name)) {
    throw invalidInput('plan', 'a plan name is 1-63 letters, digits, dots, dashes or underscores');
  }
  return name;
}

/** Validates `settings.plans`: every plan like a workspace's limits, every assignment to a known plan. */
export function validatePlans(value: unknown): WorkspacePlans {
  if (value === undefined || value === null) return emptyPlans();
  if (typeof value !== 'object' || Array.isArray(value)) throw invalidInput('plans', 'must be an object');
  const { plans = {}, workspace, keys = {} } = value as Record<string, unknown>;
  if (typeof plans !== 'object' || plans === null || Array.isArray(plans)) {
    throw invalidInput('plans.plans', 'must be an object of plan name → limits');
  }
  const entries = Object.entries(plans as Record<string, unknown>);
  if (entries.length > MAX_PLANS) throw invalidInput('plans.plans', `at most ${MAX_PLANS} plans`);
  // fromEntries defines own properties: a hostile name like `__proto__` is rejected, not merged.
  const out: WorkspacePlans = {
    plans: Object.fromEntries(entries.map(([n, l]) => [validatePlanName(n), validateWorkspaceLimits(l)])),
    keys: {},
  };
  const known = (name: unknown, field: string): string => {
    if (typeof name !== 'string' || !Object.hasOwn(out.plans, name)) {
      throw invalidInput(field, 'must name a plan of this workspace');
    }
    return name;
  };
  if (workspace !== undefined && workspace !== null) out.workspace = known(workspace, 'plans.workspace');
  if (typeof keys !== 'object' || keys === null || Array.isArray(keys)) {
    throw invalidInput('plans.keys', 'must be an object of key id → plan name');
  }
  const assigned = Object.entries(keys as Record<string, unknown>);
  if (assigned.length > MAX_ASSIGNED_KEYS) throw invalidInput('plans.keys', 'too many keys');
  out.keys = Object.fromEntries(
    assigned.map(([keyId, name]) => {
      if (!KEY_ID.test(keyId)) throw invalidInput('plans.keys', `"${keyId.slice(0, 80)}" is not a key id`);
      return [keyId, known(name, `plans.keys.${keyId}`)];
    }),
  );
  return out;
}

export async function readPlans(
  workspaces: WorkspaceRepository,
  workspaceId: string,
): Promise<WorkspacePlans> {
  return validatePlans(await workspaces.getSetting(workspaceId, SETTINGS_SECTION));
}

export async function writePlans(
  workspaces: WorkspaceRepository,
  workspaceId: string,
  plans: WorkspacePlans,
): Promise<WorkspacePlans> {
  const valid = validatePlans(plans);
  await workspaces.setSetting(workspaceId, SETTINGS_SECTION, valid);
  return valid;
}

/** Creates or replaces a plan's limits. */
export function withPlan(current: WorkspacePlans, name: string, limits: WorkspaceLimits): WorkspacePlans {
  const others = Object.entries(current.plans).filter(([n]) => n !== name);
  return { ...current, plans: Object.fromEntries([...others, [validatePlanName(name), limits]]) };
}

/** Removes a plan and every assignment of it (the keys and workspace fall back to their own limits). */
export function withoutPlan(current: WorkspacePlans, name: string): WorkspacePlans {
  const out: WorkspacePlans = {
    plans: Object.fromEntries(Object.entries(current.plans).filter(([n]) => n !== name)),
    keys: Object.fromEntries(Object.entries(current.keys).filter(([, plan]) => plan !== name)),
  };
  if (current.workspace !== undefined && current.workspace !== name) out.workspace = current.workspace;
  return out;
}

/** Puts the workspace (no `keyId`) or one key on `plan`; `undefined` takes it off its plan. */
export function withAssignment(
  current: WorkspacePlans,
  plan: string | undefined,
  keyId?: string,
): WorkspacePlans {
  if (plan !== undefined && !Object.hasOwn(current.plans, plan)) {
    throw invalidInput('plan', `no plan "${plan.slice(0, 80)}" in this workspace`);
  }
  if (keyId === undefined) {
    const { workspace: _old, ...rest } = current;
    return plan === undefined ? rest : { ...rest, workspace: plan };
  }
  const others = Object.entries(current.keys).filter(([k]) => k !== keyId);
  return { ...current, keys: Object.fromEntries(plan === undefined ? others : [...others, [keyId, plan]]) };
}

/**
 * The levels the plans of a key (when given) and of its workspace add. With `model` only that
 * model's plan limits are included (a call); without, every model's (the usage views).
 */
export function planLevels(
  plans: WorkspacePlans,
  subject: { workspaceId: string; keyId?: string; model?: string },
): Level[] {
  const levels: Level[] = [];
  const add = (on: 'key' | 'workspace', ownerId: string, name: string | undefined) => {
    if (name === undefined || !Object.hasOwn(plans.plans, name)) return;
    const limits = plans.plans[name] ?? {};
    const { models, ...own } = limits;
    const id = `${on === 'key' ? 'k' : 'w'}:${ownerId}`;
    const plan = { name, on };
    levels.push({ scope: 'plan', id, plan, limits: own });
    const perModel =
      subject.model === undefined
        ? Object.entries(models ?? {})
        : Object.entries({ [subject.model]: modelLimitsFor(limits, subject.model) });
    for (const [model, l] of perModel) {
      if (l !== undefined) levels.push({ scope: 'plan', id: `${id}:${model}`, plan, model, limits: l });
    }
  };
  if (subject.keyId !== undefined) add('key', subject.keyId, plans.keys[subject.keyId]);
  add('workspace', subject.workspaceId, plans.workspace);
  return levels;
}
