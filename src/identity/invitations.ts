import type { KeyObject } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Clock } from '../clock.ts';
import type { Database, InvitationsTable } from '../store/schema.ts';
import type { Tx } from '../store/tx.ts';
import type { Store } from '../store/types.ts';
import { newId } from '../util/ids.ts';
import { hashOpaqueToken, newOpaqueToken } from './opaque-tokens.ts';
import { isRole, type Role, requireEmail } from './roles.ts';

/**
 * Invitations to join a workspace with a role. Portcullis sends no email itself: whoever invites
 * gets the one-time token (once, like an API key) and passes it on; the invitee accepts it with a
 * password (creating their account, or proving they own the existing one). Tokens are stored only
 * as keyed hashes and expire.
 */

export const INVITATION_TTL_MS = 7 * 24 * 3_600_000;

export interface Invitation {
  id: string;
  workspaceId: string;
  email: string;
  role: Role;
  invitedBy: string;
  createdAt: number;
  expiresAt: number;
}

export interface InvitationRepository {
  create(input: { workspaceId: string; email: string; role: Role; invitedBy: string }): Promise<{
    invitation: Invitation;
    token: string;
  }>;
  /** Pending (not accepted, revoked or expired) invitations of a workspace. */
  listPending(workspaceId: string): Promise<Invitation[]>;
  /** The pending invitation a token stands for, or undefined. */
  findPending(token: string): Promise<Invitation | undefined>;
  /** Marks it accepted, only once: false when it was used, revoked or expired in the meantime. */
  markAccepted(id: string): Promise<boolean>;
  revoke(workspaceId: string, id: string): Promise<Invitation | undefined>;
  inTx(tx: Tx): InvitationRepository;
}

function toInvitation(row: InvitationsTable): Invitation {
  if (!isRole(row.role)) throw new Error(`stored role "${row.role}" is not a role`);
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    email: row.email,
    role: row.role,
    invitedBy: row.invited_by,
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
  };
}

export function createInvitationRepository(
  opts: { store: Pick<Store, 'db'>; clock: Clock; pepper: KeyObject },
  db: Kysely<Database> = opts.store.db,
): InvitationRepository {
  const { clock, pepper } = opts;
  const pending = (now: number) =>
    db
      .selectFrom('invitations')
      .selectAll()
      .where('accepted_at', 'is', null)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now);

  return {
    async create(input) {
      const email = requireEmail(input.email);
      const token = newOpaqueToken('invite');
      const hash = hashOpaqueToken(pepper, 'invite', token);
      if (hash === undefined) throw new Error('a new invitation token failed its own shape check');
      const now = clock.now();
      const row: InvitationsTable = {
        id: newId('inv'),
        workspace_id: input.workspaceId,
        email,
        role: input.role,
        token_hash: hash,
        invited_by: input.invitedBy,
        created_at: now,
        expires_at: now + INVITATION_TTL_MS,
        accepted_at: null,
        revoked_at: null,
      };
      await db.insertInto('invitations').values(row).execute();
      return { invitation: toInvitation(row), token };
    },
    async listPending(workspaceId) {
      const rows = await pending(clock.now())
        .where('workspace_id', '=', workspaceId)
        .orderBy('created_at')
        .execute();
      return rows.map(toInvitation);
    },
    async findPending(token) {
      const hash = hashOpaqueToken(pepper, 'invite', token);
      if (hash === undefined) return undefined;
      const row = await pending(clock.now()).where('token_hash', '=', hash).executeTakeFirst();
      return row ? toInvitation(row) : undefined;
    },
    async markAccepted(id) {
      const now = clock.now();
      const result = await db
        .updateTable('invitations')
        .set({ accepted_at: now })
        .where('id', '=', id)
        .where('accepted_at', 'is', null)
        .where('revoked_at', 'is', null)
        .where('expires_at', '>', now)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },
    async revoke(workspaceId, id) {
      const row = await pending(clock.now())
        .where('workspace_id', '=', workspaceId)
        .where('id', '=', id)
        .executeTakeFirst();
      if (!row) return undefined;
      // Conditional: an acceptance (or another revocation) that committed since the read wins.
      const result = await db
        .updateTable('invitations')
        .set({ revoked_at: clock.now() })
        .where('id', '=', id)
        .where('accepted_at', 'is', null)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) === 1 ? toInvitation(row) : undefined;
    },
    inTx: (tx) => createInvitationRepository(opts, tx.db),
  };
}
