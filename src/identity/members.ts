import type { Kysely } from 'kysely';
import type { Clock } from '../clock.ts';
import type { Database } from '../store/schema.ts';
import type { Tx } from '../store/tx.ts';
import type { Store } from '../store/types.ts';
import { IdentityError } from './errors.ts';
import { isRole, type Role } from './roles.ts';

/** A user's membership of a workspace, as the admin API and CLI show it. */
export interface Member {
  userId: string;
  email: string;
  name: string;
  role: Role;
  mfaEnabled: boolean;
  joinedAt: number;
}

/** A workspace the user belongs to, with their role in it. */
export interface Membership {
  workspaceId: string;
  workspaceName: string;
  role: Role;
}

export interface MemberRepository {
  /** Throws member_exists when the user is a member already. */
  add(workspaceId: string, userId: string, role: Role): Promise<void>;
  list(workspaceId: string): Promise<Member[]>;
  find(workspaceId: string, userId: string): Promise<Member | undefined>;
  /** Live (not deleted) workspaces of the user. */
  membershipsOf(userId: string): Promise<Membership[]>;
  /**
   * Changes a role; refuses (last_owner) to demote the workspace's only Owner. Returns the previous
   * role. Serialised per workspace so two concurrent demotions cannot leave it with none.
   */
  changeRole(workspaceId: string, userId: string, role: Role): Promise<Role>;
  /** Removes a member; refuses (last_owner) to remove the only Owner. Returns the role they had. */
  remove(workspaceId: string, userId: string): Promise<Role>;
  inTx(tx: Tx): MemberRepository;
}

export function createMemberRepository(
  opts: { store: Pick<Store, 'db'>; clock: Clock },
  db: Kysely<Database> = opts.store.db,
): MemberRepository {
  const { clock } = opts;

  const roleOf = (value: string): Role => {
    if (!isRole(value)) throw new Error(`stored role "${value}" is not a role`);
    return value;
  };

  const toMember = (row: {
    user_id: string;
    email: string;
    name: string;
    role: string;
    mfa_enabled_at: number | null;
    created_at: number;
  }): Member => ({
    userId: row.user_id,
    email: row.email,
    name: row.name,
    role: roleOf(row.role),
    mfaEnabled: row.mfa_enabled_at !== null,
    joinedAt: Number(row.created_at),
  });

  const find = async (workspaceId: string, userId: string): Promise<Member | undefined> => {
    const row = await db
      .selectFrom('workspace_members as m')
      .innerJoin('users as u', 'u.id', 'm.user_id')
      .select(['m.user_id', 'm.role', 'm.created_at', 'u.email', 'u.name', 'u.mfa_enabled_at'])
      .where('m.workspace_id', '=', workspaceId)
      .where('m.user_id', '=', userId)
      .executeTakeFirst();
    return row ? toMember(row) : undefined;
  };

  /**
   * Takes the workspace row's write lock (PostgreSQL; SQLite transactions are serial already) and
   * refuses when `userId` is its only Owner. Must run inside a transaction to mean anything.
   */
  async function keepAnOwner(workspaceId: string, userId: string, what: string): Promise<Role> {
    await db
      .updateTable('workspaces')
      .set({ updated_at: clock.now() })
      .where('id', '=', workspaceId)
      .execute();
    const member = await find(workspaceId, userId);
    if (!member)
      throw new IdentityError('member_not_found', `user ${userId} is not a member of this workspace`);
    if (member.role === 'owner') {
      const owners = await db
        .selectFrom('workspace_members')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('workspace_id', '=', workspaceId)
        .where('role', '=', 'owner')
        .executeTakeFirst();
      if (Number(owners?.n ?? 0) <= 1) {
        throw new IdentityError(
          'last_owner',
          `${what} would leave the workspace without an Owner; make another member Owner first`,
        );
      }
    }
    return member.role;
  }

  return {
    async add(workspaceId, userId, role) {
      if (await find(workspaceId, userId)) {
        throw new IdentityError('member_exists', `user ${userId} is already a member of this workspace`);
      }
      const now = clock.now();
      // Two concurrent adds of one user: the primary key decides, and the loser gets member_exists.
      const inserted = await db
        .insertInto('workspace_members')
        .values({ workspace_id: workspaceId, user_id: userId, role, created_at: now, updated_at: now })
        .onConflict((oc) => oc.columns(['workspace_id', 'user_id']).doNothing())
        .executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) !== 1) {
        throw new IdentityError('member_exists', `user ${userId} is already a member of this workspace`);
      }
    },
    async list(workspaceId) {
      const rows = await db
        .selectFrom('workspace_members as m')
        .innerJoin('users as u', 'u.id', 'm.user_id')
        .select(['m.user_id', 'm.role', 'm.created_at', 'u.email', 'u.name', 'u.mfa_enabled_at'])
        .where('m.workspace_id', '=', workspaceId)
        .orderBy('m.created_at')
        .orderBy('u.email')
        .execute();
      return rows.map(toMember);
    },
    find,
    async membershipsOf(userId) {
      const rows = await db
        .selectFrom('workspace_members as m')
        .innerJoin('workspaces as w', 'w.id', 'm.workspace_id')
        .select(['w.id', 'w.name', 'm.role'])
        .where('m.user_id', '=', userId)
        .where('w.deleted_at', 'is', null)
        .orderBy('w.created_at')
        .execute();
      return rows.map((r) => ({ workspaceId: r.id, workspaceName: r.name, role: roleOf(r.role) }));
    },
    async changeRole(workspaceId, userId, role) {
      if (!db.isTransaction) {
        return db
          .transaction()
          .execute((trx) => createMemberRepository(opts, trx).changeRole(workspaceId, userId, role));
      }
      const previous =
        role === 'owner'
          ? (await find(workspaceId, userId))?.role
          : await keepAnOwner(workspaceId, userId, 'demoting its only Owner');
      if (previous === undefined) {
        throw new IdentityError('member_not_found', `user ${userId} is not a member of this workspace`);
      }
      await db
        .updateTable('workspace_members')
        .set({ role, updated_at: clock.now() })
        .where('workspace_id', '=', workspaceId)
        .where('user_id', '=', userId)
        .execute();
      return previous;
    },
    async remove(workspaceId, userId) {
      if (!db.isTransaction) {
        return db
          .transaction()
          .execute((trx) => createMemberRepository(opts, trx).remove(workspaceId, userId));
      }
      const previous = await keepAnOwner(workspaceId, userId, 'removing its only Owner');
      await db
        .deleteFrom('workspace_members')
        .where('workspace_id', '=', workspaceId)
        .where('user_id', '=', userId)
        .execute();
      return previous;
    },
    inTx: (tx) => createMemberRepository(opts, tx.db),
  };
}
