import { Type as T } from '@sinclair/typebox';
import {
  changeMemberRole,
  describeRemoval,
  describeRoleChange,
  removeMember,
} from '../identity/membership.ts';
import type { Role } from '../identity/roles.ts';
import { type Actor, enforce } from './auth.ts';
import { notFound } from './errors.ts';
import {
  ChangeRoleBody,
  InvitationCreated,
  InvitationOut,
  InvitationParams,
  InviteBody,
  MemberOut,
  MemberParams,
  MemberRemoved,
} from './identity-schemas.ts';
import { type AdminDeps, type AdminRoute, route } from './route.ts';
import { listOf } from './schemas.ts';

/**
 * Members of the caller's workspace and invitations to it. Admins manage Admins and Users; only
 * Owners touch the Owner role (granting it, changing or removing an Owner), and the last Owner can
 * be neither demoted nor removed (409 last_owner). Removing a member revokes the API keys they
 * created in the workspace, in the same transaction: access ends with membership. Demoting one
 * revokes the keys they created that their new role could not grant (an Admin's management keys,
 * when they become a User), so a demotion ends the rights it takes away.
 */
export function memberRoutes(deps: AdminDeps): AdminRoute[] {
  const { identity, audit, keys } = deps;

  /** Owner-role changes need `owners:write`; the rest `members:write`. */
  function mayChangeRoles(actor: Actor, from: Role | undefined, to: Role | undefined): void {
    const workspaceId = actor.workspaceId;
    const hide = () => notFound('workspace', workspaceId);
    enforce(actor, 'members:write', { workspaceId }, hide);
    if (from === 'owner' || to === 'owner') enforce(actor, 'owners:write', { workspaceId }, hide);
  }

  async function member(actor: Actor, userId: string) {
    const found = await identity.members.find(actor.workspaceId, userId);
    if (!found) throw notFound('member', userId);
    return found;
  }

  return [
    route({
      method: 'GET',
      path: '/members',
      action: 'members:read',
      tag: 'members',
      summary: 'Members of the workspace and their roles',
      status: 200,
      response: listOf(MemberOut),
      async handler({ actor }) {
        return { data: await identity.members.list(actor.workspaceId) };
      },
    }),
    route({
      method: 'POST',
      path: '/members',
      action: 'members:write',
      tag: 'members',
      summary: 'Invite someone by email with a role; returns the one-time invitation token',
      description:
        'Portcullis sends no email: pass the token to the invitee, who accepts it at POST /auth/invitations/accept ' +
        '(creating an account, or with the password of an existing one). Inviting an Owner needs the Owner role.',
      body: InviteBody,
      status: 201,
      response: InvitationCreated,
      async handler({ actor, body, context }) {
        mayChangeRoles(actor, undefined, body.role);
        const created = await identity.invite(
          { workspaceId: actor.workspaceId, email: body.email, role: body.role },
          { ...context, actor: actor.id },
        );
        return { ...created.invitation, token: created.token };
      },
    }),
    route({
      method: 'GET',
      path: '/invitations',
      action: 'members:read',
      tag: 'members',
      summary: 'Pending invitations (tokens are never shown again)',
      status: 200,
      response: listOf(InvitationOut),
      async handler({ actor }) {
        return { data: await identity.invitations.listPending(actor.workspaceId) };
      },
    }),
    route({
      method: 'DELETE',
      path: '/invitations/:id',
      action: 'members:write',
      tag: 'members',
      summary: 'Revoke a pending invitation',
      params: InvitationParams,
      status: 200,
      response: T.Object({ id: T.String(), revoked: T.Literal(true) }),
      async handler({ actor, params, context }) {
        const pending = (await identity.invitations.listPending(actor.workspaceId)).find(
          (i) => i.id === params.id,
        );
        if (!pending) throw notFound('invitation', params.id);
        mayChangeRoles(actor, undefined, pending.role);
        await audit.record(
          context,
          async (tx) => {
            if (!(await identity.invitations.inTx(tx).revoke(actor.workspaceId, params.id))) {
              throw notFound('invitation', params.id);
            }
          },
          () => ({
            action: 'member.invitation_revoked',
            workspaceId: actor.workspaceId,
            target: params.id,
            details: { role: pending.role },
          }),
        );
        return { id: params.id, revoked: true as const };
      },
    }),
    route({
      method: 'PATCH',
      path: '/members/:userId',
      action: 'members:write',
      tag: 'members',
      summary: "Change a member's role (Owner role changes: Owners only; the last Owner stays)",
      params: MemberParams,
      body: ChangeRoleBody,
      status: 200,
      response: MemberOut,
      async handler({ actor, params, body, context }) {
        const current = await member(actor, params.userId);
        mayChangeRoles(actor, current.role, body.role);
        const input = { workspaceId: actor.workspaceId, userId: params.userId, role: body.role };
        await audit.record(
          context,
          (tx) =>
            changeMemberRole(
              tx,
              { members: identity.members, keys, invitations: identity.invitations },
              input,
            ),
          (r) => describeRoleChange(input, r),
        );
        return member(actor, params.userId);
      },
    }),
    route({
      method: 'DELETE',
      path: '/members/:userId',
      action: 'members:write',
      tag: 'members',
      summary: 'Remove a member; the API keys they created here are revoked with it',
      params: MemberParams,
      status: 200,
      response: MemberRemoved,
      async handler({ actor, params, context }) {
        const current = await member(actor, params.userId);
        mayChangeRoles(actor, current.role, undefined);
        const input = { workspaceId: actor.workspaceId, userId: params.userId };
        const result = await audit.record(
          context,
          (tx) =>
            removeMember(tx, { members: identity.members, keys, invitations: identity.invitations }, input),
          (r) => describeRemoval(input, r),
        );
        return { userId: params.userId, removed: true as const, revokedKeys: result.revoked.length };
      },
    }),
  ];
}
