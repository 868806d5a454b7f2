import { aliasEvent } from '../audit/describe.ts';
import { enforce } from './auth.ts';
import { notFound } from './errors.ts';
import { type AdminDeps, type AdminRoute, route } from './route.ts';
import { Alias, AliasParams, listOf, PutAliasBody } from './schemas.ts';

/** Model aliases of the caller's workspace: one public model name → ordered provider targets. */
export function aliasRoutes(deps: AdminDeps): AdminRoute[] {
  const { aliases } = deps;
  return [
    route({
      method: 'GET',
      path: '/aliases',
      action: 'aliases:read',
      tag: 'aliases',
      summary: 'List model aliases',
      status: 200,
      response: listOf(Alias),
      async handler({ actor }) {
        return { data: await aliases.list(actor.workspaceId) };
      },
    }),
    route({
      method: 'PUT',
      path: '/aliases/:name',
      action: 'aliases:write',
      tag: 'aliases',
      summary: 'Create or replace a model alias',
      description:
        'Every target names a credential of this workspace that serves the target model; the order is the fallback order.',
      params: AliasParams,
      body: PutAliasBody,
      status: 200,
      response: Alias,
      async handler({ actor, params, body, context }) {
        // Writes go to the caller's workspace only; the repository checks every target there.
        enforce(actor, 'aliases:write', { workspaceId: actor.workspaceId }, () =>
          notFound('model alias', params.name),
        );
        return deps.audit.record(
          context,
          (tx) => aliases.inTx(tx).set(actor.workspaceId, params.name, body.targets),
          (alias) => aliasEvent('alias.set', alias),
        );
      },
    }),
    route({
      method: 'DELETE',
      path: '/aliases/:name',
      action: 'aliases:write',
      tag: 'aliases',
      summary: 'Remove a model alias',
      params: AliasParams,
      status: 200,
      response: Alias,
      async handler({ actor, params, context }) {
        const alias = await aliases.find(actor.workspaceId, params.name);
        if (!alias) throw notFound('model alias', params.name);
        enforce(actor, 'aliases:write', { workspaceId: alias.workspaceId }, () =>
          notFound('model alias', params.name),
        );
        return deps.audit.record(
          context,
          (tx) => aliases.inTx(tx).remove(actor.workspaceId, params.name),
          (alias) => aliasEvent('alias.removed', alias),
        );
      },
    }),
  ];
}
