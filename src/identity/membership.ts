import { grantableScopes } from '../admin/rbac.ts';
import type { Described } from '../audit/log.ts';
import type { KeyRepository } from '../keys/repository.ts';
import { DATA_PLANE_SCOPES, SCOPES } from '../keys/types.ts';
import type { Tx } from '../store/tx.ts';
import type { MemberRepository } from './members.ts';
import type { Role } from './roles.ts';

/**
 * Role changes and removals with what they imply for the member's API keys, shared by the admin
 * API and the local CLI so both take away the same rights:
 * - removing a member revokes every key they created in the workspace (access ends with membership);
 * - a role bounds the keys its holder may hold, not only the ones they may mint, so a change
 *   revokes the keys they created that the new role could not grant (a demoted Admin's admin:*
 *   keys), or the demotion would not take away what it says.
 * Both run inside the caller's transaction, with the audit entries `describe…` returns.
 */

interface Revoked {
  id: string;
  name: string;
}

export async function changeMemberRole(
  tx: Tx,
  deps: { members: MemberRepository; keys: KeyRepository },
  input: { workspaceId: string; userId: string; role: Role },
): Promise<{ from: Role; revoked: Revoked[] }> {
  const from = await deps.members.inTx(tx).changeRole(input.workspaceId, input.userId, input.role);
  const grantable = grantableScopes(input.role, SCOPES, DATA_PLANE_SCOPES);
  const repo = deps.keys.inTx(tx);
  const beyond = (await repo.list(input.workspaceId)).filter(
    (k) =>
      k.createdBy === input.userId && k.revokedAt === null && k.scopes.some((s) => !grantable.includes(s)),
  );
  for (const k of beyond) await repo.revoke(k.id, { workspaceId: input.workspaceId });
  return { from, revoked: beyond.map((k) => ({ id: k.id, name: k.name })) };
}

export async function removeMember(
  tx: Tx,
  deps: { members: MemberRepository; keys: KeyRepository },
  input: { workspaceId: string; userId: string },
): Promise<{ role: Role; revoked: Revoked[] }> {
  const role = await deps.members.inTx(tx).remove(input.workspaceId, input.userId);
  const repo = deps.keys.inTx(tx);
  const theirs = (await repo.list(input.workspaceId)).filter(
    (k) => k.createdBy === input.userId && k.revokedAt === null,
  );
  for (const k of theirs) await repo.revoke(k.id, { workspaceId: input.workspaceId });
  return { role, revoked: theirs.map((k) => ({ id: k.id, name: k.name })) };
}

function revokedEvents(workspaceId: string, revoked: readonly Revoked[]): Described[] {
  return revoked.map((k) => ({
    action: 'key.revoked' as const,
    workspaceId,
    target: k.id,
    details: { name: k.name },
  }));
}

export function describeRoleChange(
  input: { workspaceId: string; userId: string; role: Role },
  r: { from: Role; revoked: readonly Revoked[] },
): Described[] {
  return [
    {
      action: 'member.role_changed',
      workspaceId: input.workspaceId,
      target: input.userId,
      details: { from: r.from, to: input.role },
    },
    ...revokedEvents(input.workspaceId, r.revoked),
  ];
}

export function describeRemoval(
  input: { workspaceId: string; userId: string },
  r: { role: Role; revoked: readonly Revoked[] },
): Described[] {
  return [
    {
      action: 'member.removed',
      workspaceId: input.workspaceId,
      target: input.userId,
      details: { role: r.role, revokedKeys: r.revoked.length },
    },
    ...revokedEvents(input.workspaceId, r.revoked),
  ];
}
