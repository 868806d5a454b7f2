import type { TSchema } from '@sinclair/typebox';
import type { AdminRoute } from './route.ts';
import { ErrorEnvelope } from './schemas.ts';

/**
 * The OpenAPI 3.1 document (https://spec.openapis.org/oas/v3.1.0), generated from the same route
 * list and TypeBox schemas Fastify validates and serialises with, so it cannot drift from the
 * server. OpenAPI 3.1 schemas are JSON Schema 2020-12, which TypeBox schemas already are.
 */

export const ADMIN_PREFIX = '/admin/api/v1';
const API_VERSION = '1.0.0';

const ERROR_RESPONSES: Record<string, string> = {
  '400': 'Invalid request: a field is missing, malformed or unknown (`invalid_request`, `param` names it).',
  '401': 'No credentials, or an invalid, expired or revoked key or access token (`invalid_access_token`).',
  '403':
    'The role (`role_forbidden`) or key scope (`insufficient_scope`) does not allow it, an Owner-only action was tried with a key (`user_session_required`), the workspace requires MFA (`mfa_enrollment_required`), or a refused IP or origin.',
  '404': 'No such object in the caller’s workspace (objects of other workspaces answer the same).',
  '409': 'The change conflicts with the current state (`resource_conflict`).',
  '429': 'Too many failed authentications or logins from this source or for this account; see `retry-after`.',
  '503': 'A dependency (store, counters) is unreachable; Portcullis fails closed.',
};

/** A plain JSON copy: TypeBox's symbol keys dropped. */
function plain(schema: TSchema): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(schema)) as Record<string, unknown>;
  delete copy.$id;
  return copy;
}

function errorCodesFor(route: AdminRoute): string[] {
  const codes = ['401', '403', '429', '503'];
  if (route.body || route.params || route.query) codes.push('400');
  if (route.params) codes.push('404');
  if (route.method !== 'GET') codes.push('409');
  return codes.sort();
}

export function buildOpenApi(routes: readonly AdminRoute[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = ADMIN_PREFIX + route.path.replace(/:([A-Za-z]+)/g, '{$1}');
    const props = (route.params ? plain(route.params).properties : undefined) as
      | Record<string, Record<string, unknown>>
      | undefined;
    const parameters: Record<string, unknown>[] = Object.entries(props ?? {}).map(([name, schema]) => ({
      name,
      in: 'path',
      required: true,
      description: schema.description,
      schema,
    }));
    const query = route.query ? plain(route.query) : undefined;
    const required = new Set((query?.required as string[] | undefined) ?? []);
    for (const [name, schema] of Object.entries(
      (query?.properties ?? {}) as Record<string, Record<string, unknown>>,
    )) {
      parameters.push({
        name,
        in: 'query',
        required: required.has(name),
        description: schema.description,
        schema,
      });
    }
    const responses: Record<string, unknown> = {
      [String(route.status)]: {
        description: route.summary,
        content: { 'application/json': { schema: plain(route.response) } },
      },
    };
    for (const code of errorCodesFor(route)) {
      responses[code] = { $ref: `#/components/responses/Error${code}` };
    }
    const operation: Record<string, unknown> = {
      operationId: operationId(route),
      tags: [route.tag],
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      'x-portcullis-action': route.action,
      ...(route.auth === 'public' ? { security: [] } : {}),
      ...(route.auth === 'user' ? { security: [{ bearerAccessToken: [] }] } : {}),
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(route.body
        ? {
            requestBody: {
              required: !route.bodyOptional,
              content: { 'application/json': { schema: plain(route.body) } },
            },
          }
        : {}),
      responses,
    };
    paths[path] ??= {};
    paths[path][route.method.toLowerCase()] = operation;
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'Portcullis admin API',
      // The version of this API (the /v1 in its paths), not of the Portcullis release.
      version: API_VERSION,
      description:
        'Manage workspaces, members, provider credentials, model aliases, API keys, guardrails, limits, usage and ' +
        'the audit trail. Authenticate with a user access token (POST /auth/login; name the workspace in ' +
        '`x-portcullis-workspace` when you belong to several) — what you may do is your role (docs/rbac.md) — or ' +
        'with a Portcullis API key holding `admin:read` or `admin:write`, which sees only its own workspace and ' +
        'acts at most as an Admin. Secrets are write-only. Errors use the OpenAI error envelope (docs/errors.md).',
    },
    servers: [{ url: '/' }],
    security: [{ bearerAccessToken: [] }, { bearerApiKey: [] }, { apiKeyHeader: [] }],
    tags: [
      { name: 'auth', description: 'Login, sessions (rotating refresh tokens), password, MFA, invitations.' },
      {
        name: 'workspace',
        description: "Workspaces: the caller's, the user's list, create, delete, restore.",
      },
      { name: 'members', description: 'Members, their roles (Owner / Admin / User), invitations.' },
      { name: 'credentials', description: 'Provider credentials (secrets are write-only).' },
      { name: 'aliases', description: 'Model aliases: a public model name → ordered provider targets.' },
      { name: 'keys', description: 'Portcullis API keys (the raw key is shown once).' },
      { name: 'limits', description: 'Rate, token and concurrency limits and spend budgets, with usage.' },
      { name: 'guardrails', description: 'Guardrail policies, per workspace and per key.' },
      { name: 'audit', description: 'The hash-chained audit trail of the workspace.' },
      { name: 'usage', description: 'Usage and cost aggregates (metadata only).' },
    ],
    paths,
    components: {
      securitySchemes: {
        bearerAccessToken: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description:
            'A user access token from POST /auth/login (EdDSA JWT, at most 15 minutes): `Authorization: Bearer <token>`.',
        },
        bearerApiKey: {
          type: 'http',
          scheme: 'bearer',
          description:
            'A Portcullis API key (`pcx_live_…`) with a management scope: `Authorization: Bearer <key>`.',
        },
        apiKeyHeader: {
          type: 'apiKey',
          in: 'header',
          name: 'x-api-key',
          description: 'The same key in the `x-api-key` header.',
        },
      },
      schemas: { ErrorEnvelope: plain(ErrorEnvelope) },
      responses: Object.fromEntries(
        Object.entries(ERROR_RESPONSES).map(([code, description]) => [
          `Error${code}`,
          {
            description,
            content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorEnvelope' } } },
          },
        ]),
      ),
    },
  };
}

/** `GET /keys/:id` → `getKeysId`, `POST /keys/:id/rotate` → `postKeysIdRotate`: unique per route. */
function operationId(route: AdminRoute): string {
  return route.method.toLowerCase() + route.path.replace(/[/:]+(\w)/g, (_m, c: string) => c.toUpperCase());
}
