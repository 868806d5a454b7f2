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
  softDelete(id: string): Promise<void>;
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

  return {
    async create(name) {
      if (!NAME.test(name)) {
        throw new WorkspaceError(
          'invalid_workspace_name',
          'a workspace name is 1-63 letters, digits, spaces, dots, dashes or underscores, starting with a letter or digit',
        );
      }
      const existing = await db
        .selectFrom('workspaces')
        .select('id')
        .where('name', '=', name)
        .executeTakeFirst();
      if (existing)
        throw new WorkspaceError('workspace_exists', `a workspace named "${name}" already exists`);
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
      // The name is freed for reuse; the row (and the audit trail pointing at it) stays.
      await db
        .updateTable('workspaces')
        .set({ deleted_at: now, updated_at: now, name: `${id} (deleted)` })
        .where('id', '=', id)
        .where('deleted_at', 'is', null)
        .execute();
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
