import { IdentityError } from '../identity/errors.ts';
import {
  changeMemberRole,
  describeRemoval,
  describeRoleChange,
  removeMember,
} from '../identity/membership.ts';
import { isRole, type Role } from '../identity/roles.ts';
import type { Command } from './context.ts';
import { withIdentity } from './identity.ts';
import { withKeyRepository } from './keys.ts';
import { isRemote, openRemote, REMOTE_OPTIONS, REMOTE_USAGE } from './remote.ts';
import { requireFlag, table, UsageError } from './usage.ts';

/**
 * Members of a workspace: list, add (an existing user joins at once; an unknown email gets an
 * invitation token), set a role, remove. Locally the operator holds the store and may do all of
 * it; the rules that protect a workspace still hold (the last Owner stays, keys of a removed member
 * are revoked). Remotely the admin API decides by the caller's role (docs/rbac.md).
 */

interface MemberRow {
  userId: string;
  email: string;
  name: string;
  role: string;
  mfaEnabled: boolean;
}

const render = (members: MemberRow[]): string =>
  members.length === 0
    ? 'no members'
    : table(
        ['USER', 'EMAIL', 'ROLE', 'MFA'],
        members.map((m) => [m.userId, m.email, m.role, m.mfaEnabled ? 'on' : 'off']),
      );

function roleFlag(values: Record<string, unknown>): Role {
  const role = requireFlag(values, 'role');
  if (!isRole(role)) throw new UsageError('--role must be owner, admin or user');
  return role;
}

const OPTIONS = { ...REMOTE_OPTIONS, email: { type: 'string' }, role: { type: 'string' } } as const;

export const membersListCommand: Command = {
  name: ['members', 'list'],
  summary: 'List the members of a workspace and their roles.',
  usage: `portcullis members list --workspace W [--json]\n  ${REMOTE_USAGE}`,
  options: OPTIONS,
  async run(ctx, values) {
    if (isRemote(values)) {
      const r = (await (await openRemote(ctx, values)).call('GET', '/members')) as { data: MemberRow[] };
      return { data: r.data, text: render(r.data) };
    }
    const workspace = requireFlag(values, 'workspace');
    return withIdentity(ctx, async ({ identity, workspaces }) => {
      const ws = await workspaces.resolve(workspace);
      const members = await identity.members.list(ws.id);
      return { data: members, text: render(members) };
    });
  },
};

export const membersAddCommand: Command = {
  name: ['members', 'add'],
  summary: 'Add someone to a workspace with a role (unknown emails get a one-time invitation token).',
  usage: `portcullis members add --workspace W --email E --role owner|admin|user [--json]\n  ${REMOTE_USAGE}`,
  options: OPTIONS,
  async run(ctx, values) {
    const email = requireFlag(values, 'email');
    const role = roleFlag(values);
    if (isRemote(values)) {
      const r = (await (await openRemote(ctx, values)).call('POST', '/members', { email, role })) as {
        id: string;
        token: string;
        expiresAt: number;
      };
      return {
        data: r,
        text: `invited ${email} as ${role}; give them this one-time token (shown only now), valid until ${new Date(r.expiresAt).toISOString()}:\n${r.token}`,
      };
    }
    const workspace = requireFlag(values, 'workspace');
    return withIdentity(ctx, async ({ identity, workspaces, audit, auditContext }) => {
      const ws = await workspaces.resolve(workspace);
      const user = await identity.users.findByEmail(email);
      if (!user) {
        const r = await identity.invite(
          { workspaceId: ws.id, email, role },
          { ...auditContext, actor: auditContext.actor ?? 'cli' },
        );
        return {
          data: { invitation: r.invitation, token: r.token },
          text: `no user ${email} yet: invited as ${role}; give them this one-time token (shown only now):\n${r.token}`,
        };
      }
      await audit.record(
        auditContext,
        (tx) => identity.members.inTx(tx).add(ws.id, user.id, role),
        () => ({ action: 'member.added', workspaceId: ws.id, target: user.id, details: { role } }),
      );
      return {
        data: { userId: user.id, email: user.email, role, workspaceId: ws.id },
        text: `added ${user.email} to "${ws.name}" as ${role}`,
      };
    });
  },
};

/** The member with this email in the remote workspace (the API addresses members by user id). */
async function remoteMember(
  remote: Awaited<ReturnType<typeof openRemote>>,
  email: string,
): Promise<MemberRow> {
  const { data } = (await remote.call('GET', '/members')) as { data: MemberRow[] };
  const found = data.find((m) => m.email === email.trim().toLowerCase());
  if (!found) throw new IdentityError('member_not_found', `${email} is not a member of this workspace`);
  return found;
}

export const membersSetRoleCommand: Command = {
  name: ['members', 'set-role'],
  summary: "Change a member's role (the workspace always keeps an Owner).",
  usage: `portcullis members set-role --workspace W --email E --role owner|admin|user [--json]\n  ${REMOTE_USAGE}`,
  options: OPTIONS,
  async run(ctx, values) {
    const email = requireFlag(values, 'email');
    const role = roleFlag(values);
    if (isRemote(values)) {
      const remote = await openRemote(ctx, values);
      const member = await remoteMember(remote, email);
      const r = await remote.call('PATCH', `/members/${member.userId}`, { role });
      return { data: r, text: `${email} is now ${role}` };
    }
    const workspace = requireFlag(values, 'workspace');
    return withIdentity(ctx, async (local) => {
      const { identity, workspaces, audit, auditContext } = local;
      const ws = await workspaces.resolve(workspace);
      const user = await identity.users.findByEmail(email);
      if (!user) throw new IdentityError('member_not_found', `${email} is not a member of "${ws.name}"`);
      const input = { workspaceId: ws.id, userId: user.id, role };
      // Through the key repository, like the admin API: keys beyond the new role are revoked and
      // running gateways hear of it at once (Redis broadcast).
      const { from, revoked } = await withKeyRepository(local, (keys) =>
        audit.record(
          auditContext,
          (tx) =>
            changeMemberRole(
              tx,
              { members: identity.members, keys, invitations: identity.invitations },
              input,
            ),
          (r) => describeRoleChange(input, r),
        ),
      );
      return {
        data: { userId: user.id, email: user.email, from, role, revokedKeys: revoked.length },
        text: `${user.email}: ${from} → ${role} in "${ws.name}"${revoked.length > 0 ? `; ${revoked.length} key(s) beyond the new role revoked` : ''}`,
      };
    });
  },
};

export const membersRemoveCommand: Command = {
  name: ['members', 'remove'],
  summary: 'Remove a member; the API keys they created in the workspace are revoked.',
  usage: `portcullis members remove --workspace W --email E [--json]\n  ${REMOTE_USAGE}`,
  options: OPTIONS,
  async run(ctx, values) {
    const email = requireFlag(values, 'email');
    if (isRemote(values)) {
      const remote = await openRemote(ctx, values);
      const member = await remoteMember(remote, email);
      const r = (await remote.call('DELETE', `/members/${member.userId}`)) as { revokedKeys: number };
      return { data: r, text: `removed ${email}; ${r.revokedKeys} key(s) revoked` };
    }
    const workspace = requireFlag(values, 'workspace');
    return withIdentity(ctx, async (local) => {
      const { identity, workspaces, audit, auditContext } = local;
      const ws = await workspaces.resolve(workspace);
      const user = await identity.users.findByEmail(email);
      if (!user) throw new IdentityError('member_not_found', `${email} is not a member of "${ws.name}"`);
      // Through the key repository, like the admin API: running gateways hear of each revocation
      // (Redis broadcast) at once instead of when their key cache expires.
      const input = { workspaceId: ws.id, userId: user.id };
      const r = await withKeyRepository(local, (keys) =>
        audit.record(
          auditContext,
          (tx) =>
            removeMember(tx, { members: identity.members, keys, invitations: identity.invitations }, input),
          (out) => describeRemoval(input, out),
        ),
      );
      return {
        data: { userId: user.id, removed: true, revokedKeys: r.revoked.length },
        text: `removed ${user.email} from "${ws.name}"; ${r.revoked.length} key(s) revoked`,
      };
    });
  },
};

export const MEMBER_COMMANDS: Command[] = [
  membersListCommand,
  membersAddCommand,
  membersSetRoleCommand,
  membersRemoveCommand,
];
