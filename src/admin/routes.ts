import type { FastifyRequest } from 'fastify';
import type { AuditLog } from '../audit/log.ts';
import { requestContext } from '../audit/request.ts';
import type { Clock } from '../clock.ts';
import type { Counters } from '../counters/types.ts';
import { createAliasRepository } from '../credentials/aliases.ts';
import type { DataPlane } from '../dataplane/wire.ts';
import { PortcullisError } from '../errors/catalogue.ts';
import type { GatewayFastify } from '../http/types.ts';
import type { IdentityService } from '../identity/service.ts';
import { createKeyRepository } from '../keys/repository.ts';
import type { Store } from '../store/types.ts';
import { createWorkspaceRepository } from '../workspaces/repository.ts';
import { aliasRoutes } from './aliases.ts';
import { auditRoutes } from './audit.ts';
import { type Actor, createAdminAuthenticator, enforce, WORKSPACE_HEADER } from './auth.ts';
import { credentialRoutes } from './credentials.ts';
import { type AdminResourceName, notFound, toAdminError } from './errors.ts';
import { guardrailRoutes } from './guardrails.ts';
import { keyRoutes } from './keys.ts';
import { limitRoutes } from './limits.ts';
import { memberRoutes } from './members.ts';
import { ADMIN_PREFIX, buildOpenApi } from './openapi.ts';
import { REFERENCE_CSS, REFERENCE_CSS_PATH, REFERENCE_PATH, renderReference } from './reference.ts';
import type { AdminDeps, AdminRoute } from './route.ts';
import { sessionRoutes } from './session.ts';
import { workspaceRoutes } from './workspace.ts';

/**
 * The admin API (control plane) under /admin/api/v1, and its OpenAPI document at
 * /admin/api/openapi.json. Order per request: authenticate (before the body is even parsed, so an
 * anonymous caller learns nothing from validation errors) → function-level `can` check of the
 * route's action → schema validation (unknown fields refused) → handler, which checks the object
 * it touches → response serialised through the route's schema (only declared fields leave).
 */

export const OPENAPI_PATH = '/admin/api/openapi.json';

export interface AdminApiOptions {
  dataPlane: Pick<
    DataPlane,
    'authenticator' | 'clientIp' | 'credentials' | 'pepper' | 'router' | 'limits' | 'policies'
  >;
  audit: AuditLog;
  store: Store;
  counters: Pick<Counters, 'publish'>;
  clock: Clock;
  logger: { warn(obj: object, msg?: string): void };
  identity: IdentityService;
  workspaces: { retentionDays: number; creation: 'owners' | 'anyone' };
}

/** Builds the admin API's dependencies on the data plane's own pieces (one cache, one authenticator). */
export function createAdminApi(opts: AdminApiOptions): AdminDeps {
  const { dataPlane, store, counters, clock, logger, identity } = opts;
  const workspaces = createWorkspaceRepository({ store, clock });
  return {
    audit: opts.audit,
    identity,
    workspaceRetentionDays: opts.workspaces.retentionDays,
    workspaceCreation: opts.workspaces.creation,
    store,
    auditContext: (request) =>
      requestContext(
        request,
        dataPlane.clientIp({ socketAddress: request.raw.socket.remoteAddress, headers: request.headers }),
      ),
    authenticate: createAdminAuthenticator({
      authenticator: dataPlane.authenticator,
      clientIp: dataPlane.clientIp,
      identity,
      workspaces,
    }),
    workspaces,
    credentials: dataPlane.credentials,
    aliases: createAliasRepository({
      store,
      clock,
      onChange: (workspaceId) => dataPlane.router.invalidate(workspaceId),
    }),
    keys: createKeyRepository({ store, clock, pepper: dataPlane.pepper, counters, logger }),
    limits: dataPlane.limits,
    guardrails: dataPlane.policies,
  };
}

export function adminRoutes(deps: AdminDeps): AdminRoute[] {
  return [
    ...sessionRoutes(deps),
    ...workspaceRoutes(deps),
    ...memberRoutes(deps),
    ...credentialRoutes(deps),
    ...aliasRoutes(deps),
    ...keyRoutes(deps),
    ...auditRoutes(deps),
    ...limitRoutes(deps),
    ...guardrailRoutes(deps),
  ];
}

const RESOURCE_NAMES: Record<string, AdminResourceName> = {
  workspace: 'workspace',
  credentials: 'provider credential',
  aliases: 'model alias',
  keys: 'API key',
  audit: 'workspace',
  usage: 'workspace',
  limits: 'workspace',
  guardrails: 'workspace',
  auth: 'session',
  members: 'member',
};

export function registerAdminApi(fastify: GatewayFastify, deps: AdminDeps): void {
  const routes = adminRoutes(deps);
  const actors = new WeakMap<FastifyRequest, Actor>();
  let document: string | undefined;

  // Public: they describe the API and hold no data.
  fastify.get(OPENAPI_PATH, async (_request, reply) => {
    document ??= JSON.stringify(buildOpenApi(routes));
    return reply.type('application/json; charset=utf-8').send(document);
  });
  let reference: string | undefined;
  fastify.get(REFERENCE_PATH, async (_request, reply) => {
    reference ??= renderReference(buildOpenApi(routes));
    return reply.type('text/html; charset=utf-8').send(reference);
  });
  fastify.get(REFERENCE_CSS_PATH, async (_request, reply) =>
    reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(REFERENCE_CSS),
  );

  for (const spec of routes) {
    fastify.route({
      method: spec.method,
      url: ADMIN_PREFIX + spec.path,
      schema: {
        ...(spec.params ? { params: spec.params } : {}),
        ...(spec.query ? { querystring: spec.query } : {}),
        ...(spec.body ? { body: spec.body } : {}),
        response: { [spec.status]: spec.response },
      },
      onRequest: async (request) => {
        if (spec.auth === 'public') return;
        const actor = await deps.authenticate(request);
        request.caller = { keyId: actor.id, workspaceId: actor.workspaceId };
        if (spec.auth === 'user') {
          if (actor.kind !== 'user') {
            throw new PortcullisError('user_session_required', { vars: { what: spec.summary } });
          }
        } else {
          if (actor.kind === 'user' && actor.role === null && request.workspaceAmbiguous !== undefined) {
            throw new PortcullisError('workspace_required', { vars: { count: request.workspaceAmbiguous } });
          }
          // Function level: may this actor perform this kind of action at all, in its workspace?
          if (spec.action === null) throw new Error(`admin route ${spec.path} has no action`);
          // Not a member of the named workspace: the same answer whatever was named, member of
          // another tenant's or nonexistent (so the header cannot probe names or ids).
          enforce(actor, spec.action, { workspaceId: actor.workspaceId }, () =>
            notFound('workspace', actor.workspaceId || `named in ${WORKSPACE_HEADER}`),
          );
        }
        actors.set(request, actor);
      },
      preValidation: async (request) => {
        if (spec.bodyOptional && request.body === undefined) request.body = {};
      },
      handler: async (request, reply) => {
        const actor = actors.get(request);
        if (!actor && spec.auth !== 'public')
          throw new Error('admin route reached without an authenticated actor');
        const params = (request.params ?? {}) as Record<string, string>;
        try {
          const result = await spec.handler({
            actor: actor as Actor,
            params: params as never,
            body: request.body as never,
            query: (request.query ?? {}) as Record<string, unknown>,
            context: deps.auditContext(request),
          });
          return reply.code(spec.status).send(result);
        } catch (err) {
          const id = params.id ?? params.idOrName ?? params.name ?? params.userId ?? '';
          throw toAdminError(err, { resource: RESOURCE_NAMES[spec.tag] ?? 'workspace', id });
        }
      },
    });
  }
}
