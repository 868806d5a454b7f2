import { grantableScopes, ruleOf } from '../admin/rbac.ts';
import type { Described } from '../audit/log.ts';
import type { KeyRepository } from '../keys/repository.ts';
import { DATA_PLANE_SCOPES, SCOPES } from '../keys/types.ts';
import type { Tx } from '../store/tx.ts';
import type { Invitation, InvitationRepository } from './invitations.ts';
import type { MemberRepository } from './members.ts';
import type { Role } from './roles.ts';

/**
 * Role changes and removals with what they imply for the member's API keys, shared by the admin
 * API and the local CLI so both take away the same rights:
 * - removing a member revokes every key they created in the workspace (access ends with membership);
 * - a role bounds the keys its holder may hold, not only the ones they may mint, so a change
 *   revokes the keys they created that the new role could not grant (a demoted Admin's admin:*
 *   keys), or the demotion would not take away what it says.
 * Pending invitations follow the same rule: a removed member's invitations are revoked, and a
 * demoted one's that the new role could not send (an invitation to become Owner, once its sender
 * is no longer an Owner) — an invitation is the sender's authority, deferred.
 * Both run inside the caller's transaction, with the audit entries `describe…` returns.
 */

interface Revoked {
  id: string;
  name: string;
}

interface MembershipDeps {
  members: MemberRepository;
  keys: KeyRepository;
  invitations: InvitationRepository;
}

/** Whether a member of `role` may invite someone with `invited` (members:write; owners:write for Owner). */
export const mayInvite = (role: Role, invited: Role): boolean =>
  ruleOf('members:write')[role] === 'all' && (invited !== 'owner' || ruleOf('owners:write')[role] === 'all');

async function revokeInvitations(
  tx: Tx,
  invitations: InvitationRepository,
  input: { workspaceId: string; userId: string },
  which: (invitation: Invitation) => boolean,
): Promise<Invitation[]> {
  const repo = invitations.inTx(tx);
  const theirs = (await repo.listPending(input.workspaceId)).filter(
    (i) => i.invitedBy === input.userId && which(i),
  );
  const revoked: Invitation[] = [];
  for (const i of theirs) if (await repo.revoke(input.workspaceId, i.id)) revoked.push(i);
  return revoked;
}

export async function changeMemberRole(
  tx: Tx,
  deps: MembershipDeps,
  input: { workspaceId: string; userId: string; role: Role },
): Promise<{ from: Role; revoked: Revoked[]; invitations: Invitation[] }> {
  const from = await deps.members.inTx(tx).changeRole(input.workspaceId, input.userId, input.role);
  const grantable = grantableScopes(input.role, SCOPES, DATA_PLANE_SCOPES);
  const repo = deps.keys.inTx(tx);
  const beyond = (await repo.list(input.workspaceId)).filter(
    (k) =>
      k.createdBy === input.userId && k.revokedAt === null && k.scopes.some((s) => !grantable.includes(s)),
  );
  for (const k of beyond) await repo.revoke(k.id, { workspaceId: input.workspaceId });
  const invitations = await revokeInvitations(
    tx,
    deps.invitations,
    input,
    (i) => !mayInvite(input.role, i.role),
  );
  return { from, revoked: beyond.map((k) => ({ id: k.id, name: k.name })), invitations };
}

export async function removeMember(
  tx: Tx,
  deps: MembershipDeps,
  input: { workspaceId: string; userId: string },
): Promise<{ role: Role; revoked: Revoked[]; invitations: Invitation[] }> {
  const role = await deps.members.inTx(tx).remove(input.workspaceId, input.userId);
  const repo = deps.keys.inTx(tx);
  const theirs = (await repo.list(input.workspaceId)).filter(
    (k) => k.createdBy === input.userId && k.revokedAt === null,
  );
  for (const k of theirs) await repo.revoke(k.id, { workspaceId: input.workspaceId });
  const invitations = await revokeInvitations(tx, deps.invitations, input, () => true);
  return { role, revoked: theirs.map((k) => ({ id: k.id, name: k.name })), invitations };
}

function revokedEvents(
  workspaceId: string,
  revoked: readonly Revoked[],
  invitations: readonly Invitation[],
): Described[] {
  return [
    ...revoked.map((k) => ({
      action: 'key.revoked' as const,
      workspaceId,
      target: k.id,
      details: { name: k.name },
    })),
    ...invitations.map((i) => ({
      action: 'member.invitation_revoked' as const,
      workspaceId,
      target: i.id,
      details: { role: i.role },
    })),
  ];
}

export function describeRoleChange(
  input: { workspaceId: string; userId: string; role: Role },
  r: { from: Role; revoked: readonly Revoked[]; invitations: readonly Invitation[] },
): Described[] {
  return [
    {
      action: 'member.role_changed',
      workspaceId: input.workspaceId,
      target: input.userId,
      details: { from: r.from, to: input.role },
    },
    ...revokedEvents(input.workspaceId, r.revoked, r.invitations),
  ];
}

export function describeRemoval(
  input: { workspaceId: string; userId: string },
  r: { role: Role; revoked: readonly Revoked[]; invitations: readonly Invitation[] },
): Described[] {
  return [
    {
      action: 'member.removed',
      workspaceId: input.workspaceId,
      target: input.userId,
      details: { role: r.role, revokedKeys: r.revoked.length },
    },
    ...revokedEvents(input.workspaceId, r.revoked, r.invitations),
  ];
}
