import { changedFields, credentialEvent } from '../audit/describe.ts';
import type { Credential } from '../credentials/repository.ts';
import { enforce } from './auth.ts';
import { notFound } from './errors.ts';
import { type AdminDeps, type AdminRoute, route } from './route.ts';
import {
  CreateCredentialBody,
  CredentialParams,
  Credential as CredentialSchema,
  listOf,
  UpdateCredentialBody,
} from './schemas.ts';

/**
 * Provider credentials of the caller's workspace. The secret is write-only: it goes into the vault
 * and only the masked form comes back (the response schema has no field that could carry it).
 * Every lookup is confined to the caller's workspace by the repository, and `enforce` states the
 * rule again for the object actually touched.
 */
export function credentialRoutes(deps: AdminDeps): AdminRoute[] {
  const { credentials } = deps;
  const missing = (idOrName: string) => () => notFound('provider credential', idOrName);
  const guard = (
    actor: Parameters<typeof enforce>[0],
    action: 'credentials:read' | 'credentials:write',
    c: Credential,
    idOrName: string,
  ) => enforce(actor, action, { workspaceId: c.workspaceId }, missing(idOrName));

  return [
    route({
      method: 'GET',
      path: '/credentials',
      action: 'credentials:read',
      tag: 'credentials',
      summary: 'List provider credentials',
      status: 200,
      response: listOf(CredentialSchema),
      async handler({ actor }) {
        return { data: await credentials.list(actor.workspaceId) };
      },
    }),
    route({
      method: 'POST',
      path: '/credentials',
      action: 'credentials:write',
      tag: 'credentials',
      summary: 'Add a provider credential',
      description:
        'The base URL is checked against the egress policy now (a private or metadata address is refused). ' +
        'The secret is sealed with envelope encryption and never returned.',
      body: CreateCredentialBody,
      status: 201,
      response: CredentialSchema,
      async handler({ actor, body, context }) {
        return deps.audit.record(
          context,
          (tx) => credentials.inTx(tx).add({ ...body, workspaceId: actor.workspaceId }),
          (added) => credentialEvent('credential.added', added),
        );
      },
    }),
    route({
      method: 'GET',
      path: '/credentials/:idOrName',
      action: 'credentials:read',
      tag: 'credentials',
      summary: 'Show a provider credential (masked)',
      params: CredentialParams,
      status: 200,
      response: CredentialSchema,
      async handler({ actor, params }) {
        const c = await credentials.show(actor.workspaceId, params.idOrName);
        guard(actor, 'credentials:read', c, params.idOrName);
        return c;
      },
    }),
    route({
      method: 'PATCH',
      path: '/credentials/:idOrName',
      action: 'credentials:write',
      tag: 'credentials',
      summary: 'Change models, base URL or options, or rotate the secret',
      params: CredentialParams,
      body: UpdateCredentialBody,
      status: 200,
      response: CredentialSchema,
      async handler({ actor, params, body, context }) {
        guard(
          actor,
          'credentials:write',
          await credentials.show(actor.workspaceId, params.idOrName),
          params.idOrName,
        );
        return deps.audit.record(
          context,
          (tx) => credentials.inTx(tx).update(actor.workspaceId, params.idOrName, body),
          (updated) => credentialEvent('credential.updated', updated, changedFields(body)),
        );
      },
    }),
    route({
      method: 'DELETE',
      path: '/credentials/:idOrName',
      action: 'credentials:write',
      tag: 'credentials',
      summary: 'Remove a provider credential',
      description: 'Refused (409) while a model alias targets it. The secret is deleted from the vault.',
      params: CredentialParams,
      status: 200,
      response: CredentialSchema,
      async handler({ actor, params, context }) {
        guard(
          actor,
          'credentials:write',
          await credentials.show(actor.workspaceId, params.idOrName),
          params.idOrName,
        );
        return deps.audit.record(
          context,
          (tx) => credentials.inTx(tx).remove(actor.workspaceId, params.idOrName),
          (removed) => credentialEvent('credential.removed', removed),
        );
      },
    }),
  ];
}
