import { enforce } from './auth.ts';
import { notFound } from './errors.ts';
import { type AdminDeps, type AdminRoute, route } from './route.ts';
import { Workspace } from './schemas.ts';

/** The caller's workspace. Creating, renaming and deleting workspaces come with users (issue 5). */
export function workspaceRoutes(deps: AdminDeps): AdminRoute[] {
  return [
    route({
      method: 'GET',
      path: '/workspace',
      action: 'workspace:read',
      tag: 'workspace',
      summary: "The caller's workspace",
      status: 200,
      response: Workspace,
      async handler({ actor }) {
        const ws = await deps.workspaces.find(actor.workspaceId);
        if (!ws) throw notFound('workspace', actor.workspaceId);
        enforce(actor, 'workspace:read', { workspaceId: ws.id }, () => notFound('workspace', ws.id));
        return ws;
      },
    }),
  ];
}
