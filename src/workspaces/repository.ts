import type { Kysely } from 'kysely';
import type { Clock } from '../clock.ts';
import { validateWorkspaceLimits, type WorkspaceLimits } from '../limits/model-limits.ts';
import type { Database } from '../store/schema.ts';
import type { Tx } from '../store/tx.ts';
import type { Store } from '../store/types.ts';
import { newId } from '../util/ids.ts';

/** Workspaces (tenants). The people side (members, roles, settings policy) is built on top of this. */
export interface Workspace {
  id: string;
  name: string;
  createdAt: number;
}

export class WorkspaceError extends Error {
  readonly code: 'workspace_not_found' | 'workspace_exists' | 'invalid_workspace_name';
  constructor(code: WorkspaceError['code'], message: string) {
    super(message);
    this.name = 'WorkspaceError';
    this.code = code;
  }
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,62}$/;

export interface WorkspaceRepository {
  create(name: string): Promise<Workspace>;
  list(): Promise<Workspace[]>;
  /** By id (`wsp_…`) or by name; soft-deleted workspaces are not found. */
  find(idOrName: string): Promise<Workspace | undefined>;
  /** Like find, but throws a clear WorkspaceError when missing. */
  resolve(idOrName: string): Promise<Workspace>;
  /** Soft delete: the name is freed (kept in settings for a restore), keys stop working at once. */
  softDelete(id: string): Promise<void>;
  rename(id: string, name: string): Promise<Workspace>;
  /** A soft-deleted workspace, or undefined (live or unknown ones are not "deleted"). */
  findDeleted(id: string): Promise<(Workspace & { deletedAt: number; formerName: string }) | undefined>;
  /** Brings a soft-deleted workspace back under its former name (workspace_exists if taken since). */
  restore(id: string): Promise<Workspace>;
  /** One named section of the workspace's settings (validated by its owner), or undefined. */
  getSetting(id: string, name: string): Promise<unknown>;
  /** Replaces one named section of the settings, keeping every other one. */
  setSetting(id: string, name: string, value: unknown): Promise<void>;
  /** The workspace's limits and budget (settings.limits): a key's fields plus per-model limits; {} = none. */
  getLimits(id: string): Promise<WorkspaceLimits>;
  /** Replaces settings.limits (validated like a key's, plus `models`), keeping every other setting. */
  setLimits(id: string, limits: WorkspaceLimits): Promise<WorkspaceLimits>;
  /** The same repository inside `tx` (src/store/tx.ts), so a change commits with its audit entry. */
  inTx(tx: Tx): WorkspaceRepository;
}

/** `db` is for `inTx`. */
export function createWorkspaceRepository(
  opts: { store: Store; clock: Clock },
  db: Kysely<Database> = opts.store.db,
): WorkspaceRepository {
  const { clock } = opts;
  const toWorkspace = (row: { id: string; name: string; created_at: number }): Workspace => ({
    id: row.id,
    name: row.name,
    createdAt: row.created_at,
  });

  const find = async (idOrName: string): Promise<Workspace | undefined> => {
    const column = idOrName.startsWith('wsp_') ? 'id' : 'name';
    const row = await db
      .selectFrom('workspaces')
      .select(['id', 'name', 'created_at'])
      .where(column, '=', idOrName)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    return row ? toWorkspace(row) : undefined;
  };

  const readSettings = async (id: string): Promise<Record<string, unknown>> => {
    const row = await db
      .selectFrom('workspaces')
      .select('settings')
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    if (!row) throw new WorkspaceError('workspace_not_found', `no workspace "${id}"`);
    const parsed: unknown = JSON.parse(row.settings);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : {};
  };

  const checkName = (name: string): void => {
    if (!NAME.test(name)) {
      throw new WorkspaceError(
        'invalid_workspace_name',
        'a workspace name is 1-63 letters, digits, spaces, dots, dashes or underscores, starting with a letter or digit',
      );
    }
  };
  const ensureFree = async (name: string): Promise<void> => {
    const existing = await db
      .selectFrom('workspaces')
      .select('id')
      .where('name', '=', name)
      .executeTakeFirst();
    if (existing) throw new WorkspaceError('workspace_exists', `a workspace named "${name}" already exists`);
  };

  return {
    async create(name) {
      checkName(name);
      await ensureFree(name);
      const now = clock.now();
      const row = {
        id: newId('wsp'),
        name,
        settings: '{}',
        created_at: now,
        updated_at: now,
        deleted_at: null,
      };
      await db.insertInto('workspaces').values(row).execute();
      return toWorkspace(row);
    },
    async list() {
      const rows = await db
        .selectFrom('workspaces')
        .select(['id', 'name', 'created_at'])
        .where('deleted_at', 'is', null)
        .orderBy('created_at')
        .orderBy('name')
        .execute();
      return rows.map(toWorkspace);
    },
    find,
    async resolve(idOrName) {
      const ws = await find(idOrName);
      if (!ws) throw new WorkspaceError('workspace_not_found', `no workspace "${idOrName}"`);
      return ws;
    },
    async softDelete(id) {
      const now = clock.now();
      const ws = await find(id);
      if (!ws) return;
      const settings = { ...(await readSettings(id)), formerName: ws.name };
      // The name is freed for reuse; the row (and the audit trail pointing at it) stays.
      await db
        .updateTable('workspaces')
        .set({
          deleted_at: now,
          updated_at: now,
          name: `${id} (deleted)`,
          settings: JSON.stringify(settings),
        })
        .where('id', '=', id)
        .where('deleted_at', 'is', null)
        .execute();
    },
    async rename(id, name) {
      checkName(name);
      const current = await find(id);
      if (!current) throw new WorkspaceError('workspace_not_found', `no workspace "${id}"`);
      if (current.name === name) return current;
      await ensureFree(name);
      await db
        .updateTable('workspaces')
        .set({ name, updated_at: clock.now() })
        .where('id', '=', id)
        .execute();
      return { ...current, name };
    },
    async findDeleted(id) {
      const row = await db
        .selectFrom('workspaces')
        .select(['id', 'name', 'created_at', 'deleted_at', 'settings'])
        .where('id', '=', id)
        .where('deleted_at', 'is not', null)
        .executeTakeFirst();
      if (!row || row.deleted_at === null) return undefined;
      const settings = JSON.parse(row.settings) as { formerName?: unknown };
      const formerName = typeof settings.formerName === 'string' ? settings.formerName : row.id;
      return { ...toWorkspace(row), deletedAt: Number(row.deleted_at), formerName };
    },
    async restore(id) {
      const row = await db
        .selectFrom('workspaces')
        .select(['settings'])
        .where('id', '=', id)
        .where('deleted_at', 'is not', null)
        .executeTakeFirst();
      if (!row) throw new WorkspaceError('workspace_not_found', `no deleted workspace "${id}"`);
      const { formerName, ...settings } = JSON.parse(row.settings) as Record<string, unknown>;
      if (settings.purgedAt !== undefined) {
        throw new WorkspaceError(
          'workspace_not_found',
          `workspace "${id}" was purged after its retention period`,
        );
      }
      const name = typeof formerName === 'string' ? formerName : id;
      await ensureFree(name);
      const now = clock.now();
      await db
        .updateTable('workspaces')
        .set({ deleted_at: null, updated_at: now, name, settings: JSON.stringify(settings) })
        .where('id', '=', id)
        .execute();
      const restored = await find(id);
      if (!restored) throw new WorkspaceError('workspace_not_found', `no workspace "${id}"`);
      return restored;
    },
    async getSetting(id, name) {
      return (await readSettings(id))[name];
    },
    async setSetting(id, name, value) {
      const settings = { ...(await readSettings(id)), [name]: value };
      await db
        .updateTable('workspaces')
        .set({ settings: JSON.stringify(settings), updated_at: clock.now() })
        .where('id', '=', id)
        .execute();
    },
    async getLimits(id) {
      const limits = (await readSettings(id)).limits;
      return limits === undefined ? {} : validateWorkspaceLimits(limits);
    },
    async setLimits(id, limits) {
      const valid = validateWorkspaceLimits(limits);
      const settings = { ...(await readSettings(id)), limits: valid };
      await db
        .updateTable('workspaces')
        .set({ settings: JSON.stringify(settings), updated_at: clock.now() })
        .where('id', '=', id)
        .execute();
      return valid;
    },
    inTx: (tx) => createWorkspaceRepository(opts, tx.db),
  };
}
