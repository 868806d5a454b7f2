import { Type as T } from '@sinclair/typebox';
import { workspaceEvent } from '../audit/describe.ts';
import { PortcullisError } from '../errors/catalogue.ts';
import { type Actor, enforce, type UserActor } from './auth.ts';
import { notFound } from './errors.ts';
import {
  CreateWorkspaceBody,
  DeletedWorkspace,
  MyWorkspace,
  UpdateWorkspaceBody,
  WorkspaceDetail,
  WorkspaceIdParams,
} from './identity-schemas.ts';
import { type AdminDeps, type AdminRoute, route } from './route.ts';
import { listOf } from './schemas.ts';

const DAY_MS = 86_400_000;

/**
 * Workspaces: the caller's (read, rename, MFA policy, delete) and, for users, the list of theirs,
 * creating one (its creator is its first Owner) and restoring a deleted one within the retention
 * period. Deleting is soft: keys stop working at once, everything else is kept (and restorable)
 * for `workspaces.retentionDays`, then purged; the audit trail is never purged with it.
 */
export function workspaceRoutes(deps: AdminDeps): AdminRoute[] {
  const { workspaces, audit, identity } = deps;

  async function detail(actor: Actor, id: string) {
    const ws = await workspaces.find(id);
    if (!ws) throw notFound('workspace', id);
    return {
      ...ws,
      mfaRequired: (await workspaces.getSetting(ws.id, 'mfaRequired')) === true,
      role: actor.kind === 'user' ? actor.role : null,
    };
  }

  return [
    route({
      method: 'GET',
      path: '/workspace',
      action: 'workspace:read',
      tag: 'workspace',
      summary: "The caller's workspace",
      status: 200,
      response: WorkspaceDetail,
      async handler({ actor }) {
        enforce(actor, 'workspace:read', { workspaceId: actor.workspaceId }, () =>
          notFound('workspace', actor.workspaceId),
        );
        return detail(actor, actor.workspaceId);
      },
    }),
    route({
      method: 'PATCH',
      path: '/workspace',
      action: 'workspace:write',
      tag: 'workspace',
      summary: 'Rename the workspace, or (Owner) require MFA of its members',
      body: UpdateWorkspaceBody,
      status: 200,
      response: WorkspaceDetail,
      async handler({ actor, body, context }) {
        const workspaceId = actor.workspaceId;
        const hide = () => notFound('workspace', workspaceId);
        if (body.name !== undefined) enforce(actor, 'workspace:write', { workspaceId }, hide);
        if (body.mfaRequired !== undefined) enforce(actor, 'workspace:security', { workspaceId }, hide);
        if (body.mfaRequired === true && actor.kind === 'user' && actor.user.mfa_enabled_at === null) {
          // Requiring MFA without having it would lock the Owner out of their own change.
          throw new PortcullisError('mfa_enrollment_required');
        }
        const before = await workspaces.find(workspaceId);
        if (!before) throw hide();
        await audit.record(
          context,
          async (tx) => {
            const repo = workspaces.inTx(tx);
            if (body.name !== undefined) await repo.rename(workspaceId, body.name);
            if (body.mfaRequired !== undefined)
              await repo.setSetting(workspaceId, 'mfaRequired', body.mfaRequired);
          },
          () => [
            ...(body.name !== undefined && body.name !== before.name
              ? [
                  {
                    action: 'workspace.renamed' as const,
                    workspaceId,
                    target: workspaceId,
                    details: { name: body.name, previous: before.name },
                  },
                ]
              : []),
            ...(body.mfaRequired !== undefined
              ? [
                  {
                    action: 'workspace.settings_changed' as const,
                    workspaceId,
                    target: workspaceId,
                    details: { changed: ['mfaRequired'], mfaRequired: body.mfaRequired },
                  },
                ]
              : []),
          ],
        );
        return detail(actor, workspaceId);
      },
    }),
    route({
      method: 'DELETE',
      path: '/workspace',
      action: 'workspace:delete',
      tag: 'workspace',
      summary: 'Delete the workspace (Owner): keys stop at once; restorable for the retention period',
      status: 200,
      response: DeletedWorkspace,
      async handler({ actor, context }) {
        const ws = await workspaces.find(actor.workspaceId);
        if (!ws) throw notFound('workspace', actor.workspaceId);
        enforce(actor, 'workspace:delete', { workspaceId: ws.id }, () => notFound('workspace', ws.id));
        await audit.record(
          context,
          (tx) => workspaces.inTx(tx).softDelete(ws.id),
          () => workspaceEvent('workspace.deleted', ws),
        );
        deps.limits.invalidate(ws.id);
        return {
          id: ws.id,
          name: ws.name,
          deleted: true as const,
          restorableUntil: Date.now() + deps.workspaceRetentionDays * DAY_MS,
        };
      },
    }),
    route({
      method: 'GET',
      path: '/workspaces',
      auth: 'user',
      action: null,
      tag: 'workspace',
      summary: 'The workspaces I belong to, with my role in each',
      status: 200,
      response: listOf(MyWorkspace),
      async handler({ actor }) {
        const memberships = await identity.members.membershipsOf(actor.id);
        return { data: memberships.map((m) => ({ id: m.workspaceId, name: m.workspaceName, role: m.role })) };
      },
    }),
    route({
      method: 'POST',
      path: '/workspaces',
      auth: 'user',
      action: null,
      tag: 'workspace',
      summary: 'Create a workspace; I become its Owner',
      description:
        'With `workspaces.creation: owners` (the default) only users who already own a workspace may create one.',
      body: CreateWorkspaceBody,
      status: 201,
      response: MyWorkspace,
      async handler({ actor, body, context }) {
        const me = actor as UserActor;
        if (deps.workspaceCreation === 'owners') {
          const owns = (await identity.members.membershipsOf(me.id)).some((m) => m.role === 'owner');
          if (!owns) {
            throw new PortcullisError('role_forbidden', {
              vars: {
                role: 'not an Owner anywhere',
                what: 'creating workspaces (workspaces.creation: owners)',
              },
            });
          }
        }
        const ws = await audit.record(
          context,
          async (tx) => {
            const created = await workspaces.inTx(tx).create(body.name);
            await identity.members.inTx(tx).add(created.id, me.id, 'owner');
            return created;
          },
          (created) => [
            workspaceEvent('workspace.created', created),
            { action: 'member.added', workspaceId: created.id, target: me.id, details: { role: 'owner' } },
          ],
        );
        return { id: ws.id, name: ws.name, role: 'owner' };
      },
    }),
    route({
      method: 'POST',
      path: '/workspaces/:id/restore',
      auth: 'user',
      action: null,
      tag: 'workspace',
      summary: 'Restore a deleted workspace (its Owners, within the retention period)',
      params: WorkspaceIdParams,
      bodyOptional: true,
      body: T.Object({}, { additionalProperties: false }),
      status: 200,
      response: MyWorkspace,
      async handler({ actor, params, context }) {
        const deleted = await workspaces.findDeleted(params.id);
        const member = deleted ? await identity.members.find(params.id, actor.id) : undefined;
        const inTime =
          deleted !== undefined && deleted.deletedAt + deps.workspaceRetentionDays * DAY_MS > Date.now();
        if (!deleted || member?.role !== 'owner' || !inTime) throw notFound('workspace', params.id);
        const ws = await audit.record(
          { ...context, actor: actor.id },
          (tx) => workspaces.inTx(tx).restore(params.id),
          (restored) => ({
            action: 'workspace.restored',
            workspaceId: restored.id,
            target: restored.id,
            details: { name: restored.name },
          }),
        );
        deps.limits.invalidate(ws.id);
        return { id: ws.id, name: ws.name, role: 'owner' };
      },
    }),
  ];
}
