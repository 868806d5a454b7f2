import type { PolicyOverride } from '../guardrails/policy.ts';
import { createGuardrailPolicies, PolicyError } from '../guardrails/policy-store.ts';
import type { Command } from './context.ts';
import { withLocal } from './local.ts';
import { listFlag, optionalFlag, requireFlag, UsageError } from './usage.ts';

/**
 * `portcullis guardrails set|show` on the local store (DESIGN.md "Interfaces"). A change merges
 * into the workspace's override (or a key's, with --key) of the default policy; running gateways
 * pick it up within 5 s.
 */
const DETECTORS = ['prompt-injection', 'pii', 'secrets'] as const;

export const guardrailsSetCommand: Command = {
  name: ['guardrails', 'set'],
  summary: "Change one detector of a workspace's (or a key's) guardrail policy.",
  usage:
    'portcullis guardrails set --workspace W (--detector prompt-injection|pii|secrets [--action block|redact|pseudonymize|log] [--where input|output|both] [--threshold 0..1] [--enabled true|false] [--on-error block|allow] [--entities EMAIL,PHONE,...] | --allow-tools a,b|any | --allow-hosted-tools web_search,...|none | --allow-beta-flags f1,...|none) [--key KEY_ID] [--json]',
  options: {
    workspace: { type: 'string' },
    detector: { type: 'string' },
    action: { type: 'string' },
    where: { type: 'string' },
    threshold: { type: 'string' },
    enabled: { type: 'string' },
    'on-error': { type: 'string' },
    entities: { type: 'string', multiple: true },
    key: { type: 'string' },
    'allow-tools': { type: 'string', multiple: true },
    'allow-hosted-tools': { type: 'string', multiple: true },
    'allow-beta-flags': { type: 'string', multiple: true },
  },
  async run(ctx, values) {
    const workspace = requireFlag(values, 'workspace');
    const allowLists = allowListChange(values);
    if (allowLists) return updatePolicy(ctx, workspace, allowLists, optionalFlag(values, 'key'));
    const detector = requireFlag(values, 'detector');
    if (!(DETECTORS as readonly string[]).includes(detector)) {
      throw new UsageError(`--detector must be one of ${DETECTORS.join(', ')}`);
    }
    const change: Record<string, unknown> = {};
    const action = optionalFlag(values, 'action');
    if (action !== undefined) change.action = action;
    const where = optionalFlag(values, 'where');
    if (where !== undefined) change.where = where;
    const threshold = optionalFlag(values, 'threshold');
    if (threshold !== undefined) {
      if (!/^(0(\.\d+)?|1(\.0+)?)$/.test(threshold))
        throw new UsageError('--threshold must be a number from 0 to 1');
      change.threshold = Number(threshold);
    }
    const enabled = optionalFlag(values, 'enabled');
    if (enabled !== undefined) {
      if (enabled !== 'true' && enabled !== 'false') throw new UsageError('--enabled must be true or false');
      change.enabled = enabled === 'true';
    }
    const onError = optionalFlag(values, 'on-error');
    if (onError !== undefined) change.onError = onError;
    const entities = listFlag(values, 'entities');
    if (entities !== undefined) change.entities = entities;
    if (Object.keys(change).length === 0)
      throw new UsageError(
        'nothing to change: give --action, --where, --threshold, --enabled, --on-error or --entities',
      );
    const keyId = optionalFlag(values, 'key');
    return withLocal(ctx, async ({ workspaces, clock }) => {
      const ws = await workspaces.resolve(workspace);
      const policies = createGuardrailPolicies({ workspaces, clock });
      try {
        const effective = await policies.update(ws.id, { [detector]: change } as PolicyOverride, keyId);
        const scope = keyId ? `key ${keyId} in "${ws.name}"` : `"${ws.name}"`;
        return {
          data: { workspace: ws.id, key: keyId ?? null, policy: effective },
          text: `guardrail ${detector} of ${scope}: ${JSON.stringify(effective[detector as (typeof DETECTORS)[number]])}`,
        };
      } catch (err) {
        if (err instanceof PolicyError) throw new UsageError(err.problems.join('; '));
        throw err;
      }
    });
  },
};

/**
 * The allowlists given as flags, or undefined: `--allow-tools any` lifts the tool allowlist;
 * `none` (or an empty value) allows nothing.
 */
function allowListChange(values: Record<string, unknown>): PolicyOverride | undefined {
  const change: Record<string, { allow: string[] | null }> = {};
  const flags = [
    ['allow-tools', 'tools'],
    ['allow-hosted-tools', 'hostedTools'],
    ['allow-beta-flags', 'betaFlags'],
  ] as const;
  for (const [flag, section] of flags) {
    const list = listFlag(values, flag);
    if (list === undefined) continue;
    if (list.length === 1 && list[0] === 'any') {
      if (section !== 'tools') throw new UsageError(`--${flag} takes names or none, not any`);
      change[section] = { allow: null };
    } else change[section] = { allow: list.filter((name) => name !== 'none') };
  }
  return Object.keys(change).length > 0 ? (change as PolicyOverride) : undefined;
}

async function updatePolicy(
  ctx: Parameters<Command['run']>[0],
  workspace: string,
  change: PolicyOverride,
  keyId: string | undefined,
): ReturnType<Command['run']> {
  return withLocal(ctx, async ({ workspaces, clock }) => {
    const ws = await workspaces.resolve(workspace);
    const policies = createGuardrailPolicies({ workspaces, clock });
    try {
      const effective = await policies.update(ws.id, change, keyId);
      const scope = keyId ? `key ${keyId} in "${ws.name}"` : `"${ws.name}"`;
      const shown = Object.keys(change).map(
        (s) => `${s}: ${JSON.stringify(effective[s as keyof typeof effective])}`,
      );
      return {
        data: { workspace: ws.id, key: keyId ?? null, policy: effective },
        text: `guardrails of ${scope}: ${shown.join(', ')}`,
      };
    } catch (err) {
      if (err instanceof PolicyError) throw new UsageError(err.problems.join('; '));
      throw err;
    }
  });
}

export const guardrailsShowCommand: Command = {
  name: ['guardrails', 'show'],
  summary: 'Show the effective guardrail policy of a workspace (or of one key in it).',
  usage: 'portcullis guardrails show --workspace W [--key KEY_ID] [--json]',
  options: { workspace: { type: 'string' }, key: { type: 'string' } },
  async run(ctx, values) {
    const workspace = requireFlag(values, 'workspace');
    const keyId = optionalFlag(values, 'key');
    return withLocal(ctx, async ({ workspaces, clock }) => {
      const ws = await workspaces.resolve(workspace);
      const policies = createGuardrailPolicies({ workspaces, clock });
      const effective = await policies.effective(ws.id, keyId ?? '');
      const lines = DETECTORS.map((d) => {
        const p = effective[d];
        return `  ${d.padEnd(16)} ${p.enabled ? 'on ' : 'off'}  ${p.action.padEnd(12)} ${p.where.padEnd(6)} threshold ${p.threshold}  on error: ${p.onError}`;
      });
      const names = (list: readonly string[] | null): string =>
        list === null ? 'any' : list.length === 0 ? 'none' : list.join(', ');
      lines.push(
        `  ${'tools'.padEnd(16)} ${names(effective.tools.allow)}`,
        `  ${'hosted tools'.padEnd(16)} ${names(effective.hostedTools.allow)}`,
        `  ${'beta flags'.padEnd(16)} ${names(effective.betaFlags.allow)}`,
      );
      return {
        data: {
          workspace: ws.id,
          key: keyId ?? null,
          policy: effective,
          overrides: await policies.overrides(ws.id),
        },
        text: `guardrails of "${ws.name}"${keyId ? ` for key ${keyId}` : ''}:\n${lines.join('\n')}`,
      };
    });
  },
};
