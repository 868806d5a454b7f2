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
  /**
   * Forgets the cached policies of a workspace (of all, without an id), after a change written
   * elsewhere in this process (the admin API writes inside its audit transaction). Other replicas
   * see a change when their entry expires (5 s).
   */
  invalidate(workspaceId?: string): void;
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

/** The stored overrides of a workspace, read through `workspaces` (a transaction's, or the store's). */
export async function readOverrides(
  workspaces: Pick<WorkspaceRepository, 'getSetting'>,
  workspaceId: string,
): Promise<{ workspace: PolicyOverride; keys: Record<string, PolicyOverride> }> {
  const workspace = asOverride(await workspaces.getSetting(workspaceId, 'guardrails'));
  const keysRaw = await workspaces.getSetting(workspaceId, 'guardrailKeys');
  const keys: Record<string, PolicyOverride> = {};
  if (typeof keysRaw === 'object' && keysRaw !== null) {
    for (const [id, o] of Object.entries(keysRaw)) keys[id] = asOverride(o);
  }
  return { workspace, keys };
}

/** Section by section, `b`'s fields over `a`'s (a section `b` does not name is kept whole). */
function mergeOverrides(a: PolicyOverride, b: PolicyOverride): PolicyOverride {
  const out: Record<string, unknown> = { ...a };
  for (const [section, part] of Object.entries(b)) {
    out[section] = { ...((a as Record<string, object | undefined>)[section] ?? {}), ...part };
  }
  return out as PolicyOverride;
}

/**
 * A change to a stored override: `merge` into it (what `guardrails set` does), `replace` it
 * whole (`{}` = back to what it inherits), or `remove` it (a key's override).
 */
export type OverrideChange = { mode: 'merge' | 'replace'; override: PolicyOverride } | { mode: 'remove' };

/**
 * Applies `change` to the workspace's override, or to `keyId`'s, through `workspaces`: pass a
 * transaction's repository (`inTx`) and the write commits with whatever else the transaction
 * holds (the audit entry). Validates the result; throws PolicyError. Touches no cache: call
 * `invalidate` after the commit.
 */
export async function writeOverride(
  workspaces: Pick<WorkspaceRepository, 'getSetting' | 'setSetting'>,
  workspaceId: string,
  change: OverrideChange,
  keyId?: string,
): Promise<{ before: PolicyOverride; after: PolicyOverride }> {
  if (change.mode !== 'remove') {
    const problems = validatePolicyOverride(change.override);
    if (problems.length > 0) throw new PolicyError(problems);
  }
  const stored = await readOverrides(workspaces, workspaceId);
  const before = keyId === undefined ? stored.workspace : (stored.keys[keyId] ?? {});
  const after =
    change.mode === 'remove'
      ? {}
      : change.mode === 'replace'
        ? change.override
        : mergeOverrides(before, change.override);
  const problems = validatePolicyOverride(after);
  if (problems.length > 0) throw new PolicyError(problems);
  if (keyId === undefined) {
    await workspaces.setSetting(workspaceId, 'guardrails', after);
  } else {
    const keys = { ...stored.keys };
    if (change.mode === 'remove') delete keys[keyId];
    else keys[keyId] = after;
    await workspaces.setSetting(workspaceId, 'guardrailKeys', keys);
  }
  return { before, after };
}

export function createGuardrailPolicies(opts: {
  workspaces: WorkspaceRepository;
  clock: Clock;
  ttlMs?: number;
}): GuardrailPolicies {
  const cache = new Map<string, Stored>();
  const ttl = opts.ttlMs ?? TTL_MS;
  // Bumped by every invalidation: a read that began before it must not cache what it read.
  let epoch = 0;

  const load = async (workspaceId: string): Promise<Stored> => {
    const hit = cache.get(workspaceId);
    if (hit && opts.clock.now() - hit.at < ttl) return hit;
    const started = epoch;
    const { workspace, keys } = await readOverrides(opts.workspaces, workspaceId);
    const stored: Stored = { at: opts.clock.now(), workspace, keys, merged: new Map() };
    if (started !== epoch) return stored;
    if (cache.size > 10_000) cache.clear();
    cache.set(workspaceId, stored);
    return stored;
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
      await writeOverride(opts.workspaces, workspaceId, { mode: 'merge', override: change }, keyId);
      this.invalidate(workspaceId);
      return this.effective(workspaceId, keyId ?? '');
    },
    invalidate(workspaceId) {
      epoch++;
      if (workspaceId === undefined) cache.clear();
      else cache.delete(workspaceId);
    },
  };
}
