import type { Described } from '../audit/log.ts';
import { loadPepper } from '../keys/hash.ts';
import { createKeyRepository } from '../keys/repository.ts';
import {
  readPlans,
  validatePlanName,
  type WorkspacePlans,
  withAssignment,
  withoutPlan,
  withPlan,
  writePlans,
} from '../limits/named-plans.ts';
import type { Command } from './context.ts';
import { describeLimits, limitFlags } from './limits.ts';
import { type Local, withLocal } from './local.ts';
import { optionalFlag, requireFlag, table, UsageError } from './usage.ts';

/**
 * `portcullis plans set|list|assign|unassign|remove`: named limit sets of a workspace (issue 6,
 * item 1), kept in its `settings.plans` (src/limits/named-plans.ts). Every change commits with its
 * audit entry; running gateways pick it up within 5 s (their workspace cache lifetime).
 */

/** Reads the plans, applies `change` and writes them back inside the audited transaction. */
function changePlans(
  local: Local,
  workspaceId: string,
  change: (current: WorkspacePlans) => WorkspacePlans,
  describe: (before: WorkspacePlans, after: WorkspacePlans) => Described,
): Promise<WorkspacePlans> {
  let before: WorkspacePlans | undefined;
  return local.audit.record(
    local.auditContext,
    async (tx) => {
      const workspaces = local.workspaces.inTx(tx);
      before = await readPlans(workspaces, workspaceId);
      return writePlans(workspaces, workspaceId, change(before));
    },
    (after) => describe(before ?? after, after),
  );
}

/** The key must exist in this workspace (a key of another workspace is "not found", like a missing one). */
async function keyOfWorkspace(local: Local, keyId: string, workspaceId: string): Promise<string> {
  const keys = createKeyRepository({
    store: local.store,
    clock: local.clock,
    pepper: await loadPepper(local),
  });
  return (await keys.show(keyId, { workspaceId })).id;
}

export const plansSetCommand: Command = {
  name: ['plans', 'set'],
  summary: 'Create or replace a named plan (a limit set) of a workspace.',
  usage:
    'portcullis plans set --workspace W --name N [--rpm N] [--tpm N] [--concurrency N] [--budget-usd X --budget-window day|week|month|total] [--json]',
  options: {
    workspace: { type: 'string' },
    name: { type: 'string' },
    rpm: { type: 'string' },
    tpm: { type: 'string' },
    concurrency: { type: 'string' },
    'budget-usd': { type: 'string' },
    'budget-window': { type: 'string' },
  },
  async run(ctx, values) {
    const workspace = requireFlag(values, 'workspace');
    const name = validatePlanName(requireFlag(values, 'name'));
    const limits = limitFlags(values);
    if (Object.keys(limits).length === 0) throw new UsageError('a plan needs at least one limit');
    return withLocal(ctx, async (local) => {
      const ws = await local.workspaces.resolve(workspace);
      const plans = await changePlans(
        local,
        ws.id,
        (current) => withPlan(current, name, limits),
        (before, after) => {
          const old = before.plans[name] ?? {};
          const now = after.plans[name] ?? {};
          const fields = new Set([...Object.keys(old), ...Object.keys(now)]) as Set<keyof typeof now>;
          const changed = [...fields].filter((f) => JSON.stringify(old[f]) !== JSON.stringify(now[f])).sort();
          return { action: 'plans.set', workspaceId: ws.id, target: ws.id, details: { name, changed } };
        },
      );
      const plan = plans.plans[name] ?? {};
      return {
        data: { workspace: ws.id, name, limits: plan },
        text: `plan "${name}": ${describeLimits(plan)}`,
      };
    });
  },
};

export const plansListCommand: Command = {
  name: ['plans', 'list'],
  summary: "List a workspace's plans and who is on them.",
  usage: 'portcullis plans list --workspace W [--json]',
  options: { workspace: { type: 'string' } },
  async run(ctx, values) {
    const workspace = requireFlag(values, 'workspace');
    return withLocal(ctx, async (local) => {
      const ws = await local.workspaces.resolve(workspace);
      const plans = await readPlans(local.workspaces, ws.id);
      const names = Object.keys(plans.plans).sort();
      const text =
        names.length === 0
          ? 'no plans'
          : table(
              ['PLAN', 'LIMITS', 'WORKSPACE', 'KEYS'],
              names.map((n) => [
                n,
                describeLimits(plans.plans[n] ?? {}),
                plans.workspace === n ? 'yes' : '-',
                String(Object.values(plans.keys).filter((p) => p === n).length),
              ]),
            );
      return { data: { workspaceId: ws.id, ...plans }, text };
    });
  },
};

export const plansAssignCommand: Command = {
  name: ['plans', 'assign'],
  summary: 'Put a workspace (without --key) or one of its keys on a plan.',
  usage: 'portcullis plans assign --workspace W --plan N [--key KEY_ID] [--json]',
  options: { workspace: { type: 'string' }, plan: { type: 'string' }, key: { type: 'string' } },
  async run(ctx, values) {
    const workspace = requireFlag(values, 'workspace');
    const plan = requireFlag(values, 'plan');
    const keyFlag = optionalFlag(values, 'key');
    return withLocal(ctx, async (local) => {
      const ws = await local.workspaces.resolve(workspace);
      const keyId = keyFlag === undefined ? undefined : await keyOfWorkspace(local, keyFlag, ws.id);
      await changePlans(
        local,
        ws.id,
        (current) => withAssignment(current, plan, keyId),
        () => ({
          action: 'plans.assigned',
          workspaceId: ws.id,
          target: keyId ?? ws.id,
          details: { plan, scope: keyId === undefined ? 'workspace' : 'key' },
        }),
      );
      const who = keyId === undefined ? `workspace "${ws.name}"` : `key ${keyId}`;
      return { data: { workspace: ws.id, key: keyId ?? null, plan }, text: `${who} is on plan "${plan}"` };
    });
  },
};

export const plansUnassignCommand: Command = {
  name: ['plans', 'unassign'],
  summary: 'Take a workspace (without --key) or one of its keys off its plan.',
  usage: 'portcullis plans unassign --workspace W [--key KEY_ID] [--json]',
  options: { workspace: { type: 'string' }, key: { type: 'string' } },
  async run(ctx, values) {
    const workspace = requireFlag(values, 'workspace');
    const keyId = optionalFlag(values, 'key');
    return withLocal(ctx, async (local) => {
      const ws = await local.workspaces.resolve(workspace);
      await changePlans(
        local,
        ws.id,
        (current) => withAssignment(current, undefined, keyId),
        (before) => ({
          action: 'plans.unassigned',
          workspaceId: ws.id,
          target: keyId ?? ws.id,
          details: {
            plan: (keyId === undefined ? before.workspace : before.keys[keyId]) ?? null,
            scope: keyId === undefined ? 'workspace' : 'key',
          },
        }),
      );
      const who = keyId === undefined ? `workspace "${ws.name}"` : `key ${keyId}`;
      return { data: { workspace: ws.id, key: keyId ?? null }, text: `${who} is on no plan` };
    });
  },
};

export const plansRemoveCommand: Command = {
  name: ['plans', 'remove'],
  summary: 'Remove a plan; the workspace and keys on it fall back to their own limits.',
  usage: 'portcullis plans remove --workspace W --name N [--json]',
  options: { workspace: { type: 'string' }, name: { type: 'string' } },
  async run(ctx, values) {
    const workspace = requireFlag(values, 'workspace');
    const name = requireFlag(values, 'name');
    return withLocal(ctx, async (local) => {
      const ws = await local.workspaces.resolve(workspace);
      const current = await readPlans(local.workspaces, ws.id);
      if (!Object.hasOwn(current.plans, name)) throw new UsageError(`no plan "${name}" in "${ws.name}"`);
      await changePlans(
        local,
        ws.id,
        (latest) => withoutPlan(latest, name),
        (before) => ({
          action: 'plans.removed',
          workspaceId: ws.id,
          target: ws.id,
          details: {
            name,
            unassignedKeys: Object.values(before.keys).filter((p) => p === name).length,
            workspaceUnassigned: before.workspace === name,
          },
        }),
      );
      return { data: { workspace: ws.id, name }, text: `removed plan "${name}"` };
    });
  },
};

export const PLAN_COMMANDS: Command[] = [
  plansSetCommand,
  plansListCommand,
  plansAssignCommand,
  plansUnassignCommand,
  plansRemoveCommand,
];
