import type { Kysely } from 'kysely';
import type { Clock } from '../clock.ts';
import type { Database, ModelAliasRow } from '../store/schema.ts';
import { type AfterCommit, immediately, type Tx } from '../store/tx.ts';
import type { Store } from '../store/types.ts';
import { modelMatcher } from '../util/glob.ts';
import { newId } from '../util/ids.ts';
import { CredentialError } from './errors.ts';
import { parseJson } from './repository.ts';
import { validateModelName } from './validate.ts';

/**
 * Model aliases: one public model name mapped to an ordered list of targets, each a credential of
 * the same workspace and the upstream model to ask it for. The order is the fallback order.
 */

export interface AliasTarget {
  /** The credential's name (unique in the workspace). */
  credential: string;
  /** The model name sent upstream. */
  model: string;
}

export interface ModelAlias {
  id: string;
  workspaceId: string;
  name: string;
  targets: AliasTarget[];
  createdAt: number;
  updatedAt: number;
}

export interface AliasRepository {
  /** Creates or replaces the alias. Every target's credential must exist in this workspace and serve its model. */
  set(workspaceId: string, name: string, targets: readonly AliasTarget[]): Promise<ModelAlias>;
  list(workspaceId: string): Promise<ModelAlias[]>;
  find(workspaceId: string, name: string): Promise<ModelAlias | undefined>;
  /** Throws `alias_not_found` when there is none. */
  remove(workspaceId: string, name: string): Promise<ModelAlias>;
  /** The same repository inside `tx` (src/store/tx.ts); routing caches are invalidated after the commit. */
  inTx(tx: Tx): AliasRepository;
}

export const MAX_ALIAS_TARGETS = 10;

export interface AliasRepositoryOptions {
  store: Store;
  clock: Clock;
  onChange?: (workspaceId: string) => void;
}

/** `db` and `after` are for `inTx`. */
export function createAliasRepository(
  opts: AliasRepositoryOptions,
  db: Kysely<Database> = opts.store.db,
  after: AfterCommit = immediately,
): AliasRepository {
  const { clock } = opts;
  const changed = (workspaceId: string) => after(() => opts.onChange?.(workspaceId));

  const find = async (workspaceId: string, name: string): Promise<ModelAlias | undefined> => {
    const row = await db
      .selectFrom('model_aliases')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where('name', '=', name)
      .executeTakeFirst();
    return row ? toAlias(row) : undefined;
  };

  async function validateTargets(
    workspaceId: string,
    targets: readonly AliasTarget[],
  ): Promise<AliasTarget[]> {
    if (targets.length === 0)
      throw invalid('targets', 'an alias needs at least one target (credential:model)');
    if (targets.length > MAX_ALIAS_TARGETS) {
      throw invalid('targets', `an alias has at most ${MAX_ALIAS_TARGETS} targets`);
    }
    const names = [...new Set(targets.map((t) => t.credential))];
    // Scoped to the workspace: another tenant's credential of the same name is simply absent.
    const rows = await db
      .selectFrom('provider_credentials')
      .select(['name', 'models'])
      .where('workspace_id', '=', workspaceId)
      .where('name', 'in', names)
      .where('deleted_at', 'is', null)
      .execute();
    const globs = new Map(rows.map((r) => [r.name, parseJson<string[]>(r.models, [])]));
    const seen = new Set<string>();
    return targets.map((t, i) => {
      const model = validateModelName(t.model, `targets[${i}].model`);
      const models = globs.get(t.credential);
      if (!models) {
        throw new CredentialError(
          'credential_not_found',
          `target ${i + 1}: no provider credential "${t.credential.slice(0, 80)}" in this workspace`,
          `targets[${i}].credential`,
        );
      }
      if (!modelMatcher(models)(model)) {
        throw invalid(
          `targets[${i}].model`,
          `target ${i + 1}: credential "${t.credential}" does not serve "${model}" (its models: ${models.join(', ')})`,
        );
      }
      const key = `${t.credential}\u0000${model}`;
      if (seen.has(key)) throw invalid(`targets[${i}]`, `target ${i + 1} repeats ${t.credential}:${model}`);
      seen.add(key);
      return { credential: t.credential, model };
    });
  }

  return {
    async set(workspaceId, name, targets) {
      const ws = await db
        .selectFrom('workspaces')
        .select('id')
        .where('id', '=', workspaceId)
        .where('deleted_at', 'is', null)
        .executeTakeFirst();
      if (!ws) throw new CredentialError('workspace_not_found', `no workspace "${workspaceId}"`);
      try {
        validateModelName(name, 'name');
      } catch {
        throw invalid('name', `"${name.slice(0, 80)}" is not a valid alias name (it is a public model name)`);
      }
      const checked = await validateTargets(workspaceId, targets);
      const now = clock.now();
      const json = JSON.stringify(checked);
      await db
        .insertInto('model_aliases')
        .values({
          id: newId('als'),
          workspace_id: workspaceId,
          name,
          targets: json,
          created_at: now,
          updated_at: now,
        })
        .onConflict((oc) =>
          oc.columns(['workspace_id', 'name']).doUpdateSet({ targets: json, updated_at: now }),
        )
        .execute();
      await changed(workspaceId);
      const saved = await find(workspaceId, name);
      if (!saved) throw new Error('alias vanished after being saved');
      return saved;
    },

    async list(workspaceId) {
      const rows = await db
        .selectFrom('model_aliases')
        .selectAll()
        .where('workspace_id', '=', workspaceId)
        .orderBy('name')
        .execute();
      return rows.map(toAlias);
    },

    find,

    async remove(workspaceId, name) {
      const alias = await find(workspaceId, name);
      if (!alias)
        throw new CredentialError(
          'alias_not_found',
          `no model alias "${name.slice(0, 80)}" in this workspace`,
        );
      await db.deleteFrom('model_aliases').where('id', '=', alias.id).execute();
      await changed(workspaceId);
      return alias;
    },

    inTx: (tx) => createAliasRepository(opts, tx.db, (effect) => tx.afterCommit(effect)),
  };
}

function invalid(field: string, message: string): CredentialError {
  return new CredentialError('invalid_alias', message, field);
}

function toAlias(row: ModelAliasRow): ModelAlias {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    name: row.name,
    targets: parseJson<AliasTarget[]>(row.targets, []),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}
