import type { Clock } from '../clock.ts';
import type { WorkspaceRepository } from '../workspaces/repository.ts';
import {
  DEFAULT_POLICY,
  type GuardrailPolicy,
  mergePolicy,
  type PolicyOverride,
  validatePolicyOverride,
} from './policy.ts';

/**
 * Where guardrail policies live: in the workspace's settings, as overrides of DEFAULT_POLICY —
 * `settings.guardrails` for the workspace and `settings.guardrailKeys[keyId]` per key. The
 * effective policy for a call is DEFAULT_POLICY ← workspace override ← key override. Reads are
 * cached briefly per workspace; a change made in this process is visible at once.
 */
export interface GuardrailPolicies {
  effective(workspaceId: string, keyId: string): Promise<GuardrailPolicy>;
  /** The stored overrides of a workspace: its own and its keys'. */
  overrides(
    workspaceId: string,
  ): Promise<{ workspace: PolicyOverride; keys: Record<string, PolicyOverride> }>;
  /** Merges `change` into the workspace's (or a key's) override; throws PolicyError on invalid input. */
  update(workspaceId: string, change: PolicyOverride, keyId?: string): Promise<GuardrailPolicy>;
}

export class PolicyError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid guardrail policy: ${problems.join('; ')}`);
    this.name = 'PolicyError';
    this.problems = problems;
  }
}

interface Stored {
  at: number;
  workspace: PolicyOverride;
  keys: Record<string, PolicyOverride>;
  merged: Map<string, GuardrailPolicy>;
}

const TTL_MS = 5000;

function asOverride(value: unknown): PolicyOverride {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as PolicyOverride)
    : {};
}

export function createGuardrailPolicies(opts: {
  workspaces: WorkspaceRepository;
  clock: Clock;
  ttlMs?: number;
}): GuardrailPolicies {
  const cache = new Map<string, Stored>();
  const ttl = opts.ttlMs ?? TTL_MS;

  const load = async (workspaceId: string): Promise<Stored> => {
    const hit = cache.get(workspaceId);
    if (hit && opts.clock.now() - hit.at < ttl) return hit;
    const workspace = asOverride(await opts.workspaces.getSetting(workspaceId, 'guardrails'));
    const keysRaw = await opts.workspaces.getSetting(workspaceId, 'guardrailKeys');
    const keys: Record<string, PolicyOverride> = {};
    if (typeof keysRaw === 'object' && keysRaw !== null) {
      for (const [id, o] of Object.entries(keysRaw)) keys[id] = asOverride(o);
    }
    const stored: Stored = { at: opts.clock.now(), workspace, keys, merged: new Map() };
    if (cache.size > 10_000) cache.clear();
    cache.set(workspaceId, stored);
    return stored;
  };

  const merge = (a: PolicyOverride, b: PolicyOverride): PolicyOverride => {
    const out: Record<string, unknown> = { ...a };
    for (const [detector, part] of Object.entries(b)) {
      out[detector] = { ...((a as Record<string, object | undefined>)[detector] ?? {}), ...part };
    }
    return out as PolicyOverride;
  };

  return {
    async effective(workspaceId, keyId) {
      const stored = await load(workspaceId);
      let policy = stored.merged.get(keyId);
      if (!policy) {
        policy = mergePolicy(DEFAULT_POLICY, stored.workspace, stored.keys[keyId]);
        stored.merged.set(keyId, policy);
      }
      return policy;
    },
    async overrides(workspaceId) {
      const { workspace, keys } = await load(workspaceId);
      return { workspace, keys };
    },
    async update(workspaceId, change, keyId) {
      const problems = validatePolicyOverride(change);
      if (problems.length > 0) throw new PolicyError(problems);
      cache.delete(workspaceId);
      const stored = await load(workspaceId);
      if (keyId === undefined) {
        const next = merge(stored.workspace, change);
        const merged = validatePolicyOverride(next);
        if (merged.length > 0) throw new PolicyError(merged);
        await opts.workspaces.setSetting(workspaceId, 'guardrails', next);
      } else {
        const keys = { ...stored.keys, [keyId]: merge(stored.keys[keyId] ?? {}, change) };
        await opts.workspaces.setSetting(workspaceId, 'guardrailKeys', keys);
      }
      cache.delete(workspaceId);
      return this.effective(workspaceId, keyId ?? '');
    },
  };
}
