import picomatch from 'picomatch';
import type { Clock } from '../clock.ts';
import type { AliasTarget } from '../credentials/aliases.ts';
import { type Credential, parseJson, toCredential } from '../credentials/repository.ts';
import type { CredentialOptions, Provider } from '../credentials/validate.ts';
import { PortcullisError } from '../errors/catalogue.ts';
import type { Store } from '../store/types.ts';
import { type ModelMatcher, modelMatcher } from '../util/glob.ts';

/**
 * Route stage, first half: which provider targets may serve a model name, in fallback order.
 * Reads a per-workspace snapshot of credentials and aliases, cached for `ttlMs` so a request costs
 * no query; every change made through the repositories calls `invalidate` in this process, and
 * other replicas see it within the TTL.
 */

export interface Target {
  credentialId: string;
  credentialName: string;
  provider: Provider;
  baseUrl: string;
  /** The model name to send upstream (for azure-openai, map it with `azureDeployment`). */
  upstreamModel: string;
  options: CredentialOptions;
}

export interface ModelEntry {
  /** The name a client sends as `model`. */
  id: string;
  kind: 'alias' | 'model';
  /** `portcullis` for an alias, else the provider of the first credential serving it. */
  ownedBy: string;
}

export interface Router {
  /** Targets for `model`, in order; throws PortcullisError `model_not_found` when none. */
  resolveTargets(input: { workspaceId: string; model: string }): Promise<readonly Target[]>;
  /** Alias names plus every concrete model name the credentials declare, sorted by name. */
  listModels(workspaceId: string): Promise<readonly ModelEntry[]>;
  /** Drops the cached snapshot of one workspace, or of all. */
  invalidate(workspaceId?: string): void;
}

interface Snapshot {
  credentials: { credential: Credential; serves: ModelMatcher }[];
  byName: Map<string, Credential>;
  aliases: Map<string, AliasTarget[]>;
  /** Per model name: the resolved targets (bounded; the snapshot itself expires). */
  memo: Map<string, readonly Target[]>;
}

export const DEFAULT_ROUTE_TTL_MS = 5_000;
const MAX_WORKSPACES = 10_000;
const MAX_MEMO = 1_000;

export function createRouter(opts: { store: Store; clock: Clock; ttlMs?: number }): Router {
  const { db } = opts.store;
  const { clock } = opts;
  const ttlMs = opts.ttlMs ?? DEFAULT_ROUTE_TTL_MS;
  const cache = new Map<string, { expiresAt: number; snapshot: Promise<Snapshot> }>();

  async function load(workspaceId: string): Promise<Snapshot> {
    const [rows, aliasRows] = await Promise.all([
      db
        .selectFrom('provider_credentials')
        .selectAll()
        .where('workspace_id', '=', workspaceId)
        .where('deleted_at', 'is', null)
        .orderBy('created_at')
        .orderBy('name')
        .execute(),
      db
        .selectFrom('model_aliases')
        .select(['name', 'targets'])
        .where('workspace_id', '=', workspaceId)
        .execute(),
    ]);
    const credentials = rows.map((r) => {
      const credential = toCredential(r);
      return { credential, serves: modelMatcher(credential.models) };
    });
    return {
      credentials,
      byName: new Map(credentials.map((c) => [c.credential.name, c.credential])),
      aliases: new Map(aliasRows.map((a) => [a.name, parseJson<AliasTarget[]>(a.targets, [])])),
      memo: new Map(),
    };
  }

  function snapshot(workspaceId: string): Promise<Snapshot> {
    const now = clock.now();
    const hit = cache.get(workspaceId);
    if (hit && hit.expiresAt > now) return hit.snapshot;
    const pending = load(workspaceId);
    if (ttlMs > 0) {
      if (!hit && cache.size >= MAX_WORKSPACES) {
        const oldest = cache.keys().next().value;
        if (oldest !== undefined) cache.delete(oldest);
      }
      const entry = { expiresAt: now + ttlMs, snapshot: pending };
      cache.set(workspaceId, entry);
      // A failed load is not cached: the next request tries the store again (and fails closed).
      pending.catch(() => {
        if (cache.get(workspaceId) === entry) cache.delete(workspaceId);
      });
    }
    return pending;
  }

  function resolveIn(snap: Snapshot, model: string): readonly Target[] {
    const alias = snap.aliases.get(model);
    if (alias) {
      const targets: Target[] = [];
      for (const t of alias) {
        // A target whose credential is gone is skipped; removal refuses while aliases use it.
        const credential = snap.byName.get(t.credential);
        if (credential) targets.push(toTarget(credential, t.model));
      }
      return Object.freeze(targets);
    }
    return Object.freeze(
      snap.credentials.filter((c) => c.serves(model)).map((c) => toTarget(c.credential, model)),
    );
  }

  return {
    async resolveTargets({ workspaceId, model }) {
      const snap = await snapshot(workspaceId);
      let targets = snap.memo.get(model);
      if (!targets) {
        targets = resolveIn(snap, model);
        if (snap.memo.size < MAX_MEMO) snap.memo.set(model, targets);
      }
      if (targets.length === 0)
        throw new PortcullisError('model_not_found', { vars: { model }, param: 'model' });
      return targets;
    },

    async listModels(workspaceId) {
      const snap = await snapshot(workspaceId);
      const entries = new Map<string, ModelEntry>();
      for (const name of snap.aliases.keys())
        entries.set(name, { id: name, kind: 'alias', ownedBy: 'portcullis' });
      for (const { credential } of snap.credentials) {
        for (const id of concreteModels(credential)) {
          if (!entries.has(id)) entries.set(id, { id, kind: 'model', ownedBy: credential.provider });
        }
      }
      return Object.freeze([...entries.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)));
    },

    invalidate(workspaceId) {
      if (workspaceId === undefined) cache.clear();
      else cache.delete(workspaceId);
    },
  };
}

/**
 * The model names a credential can name without guessing: its glob-free entries, its `listed`
 * models and its Azure deployment keys. A glob like `gpt-4o*` cannot be enumerated without asking
 * the provider, which would put an upstream call on the path of GET /v1/models.
 */
export function concreteModels(credential: Credential): string[] {
  const names = credential.models.filter((g) => !picomatch.scan(g).isGlob);
  names.push(...(credential.options.listed ?? []));
  names.push(...Object.keys(credential.options.deployments ?? {}));
  return [...new Set(names)];
}

function toTarget(credential: Credential, upstreamModel: string): Target {
  return Object.freeze({
    credentialId: credential.id,
    credentialName: credential.name,
    provider: credential.provider,
    baseUrl: credential.baseUrl,
    upstreamModel,
    options: credential.options,
  });
}
