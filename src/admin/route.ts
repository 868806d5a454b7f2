import type { Static, TSchema } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { AuditContext } from '../audit/events.ts';
import type { AuditLog } from '../audit/log.ts';
import type { AliasRepository } from '../credentials/aliases.ts';
import type { CredentialRepository } from '../credentials/repository.ts';
import type { GuardrailPolicies } from '../guardrails/policy-store.ts';
import type { IdentityService } from '../identity/service.ts';
import type { KeyRepository } from '../keys/repository.ts';
import type { LimitsStage } from '../limits/stage.ts';
import type { Store } from '../store/types.ts';
import type { WorkspaceRepository } from '../workspaces/repository.ts';
import type { Actor, AdminAction, AuthenticateActor } from './auth.ts';

/**
 * One admin route as data: method, path, the action it performs (for `can`), its schemas and its
 * handler. registerAdminApi turns the list into Fastify routes; buildOpenApi into the document.
 */

type StaticOr<S> = S extends TSchema ? Static<S> : undefined;

export interface RouteSpec<P extends TSchema | undefined, B extends TSchema | undefined> {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Relative to /admin/api/v1, Fastify syntax (`/keys/:id`). */
  path: string;
  /**
   * Who may call it: `workspace` (default) — an API key or a user, acting in a workspace, checked
   * against `action`; `user` — a logged-in user only, about themselves (sessions, MFA, their
   * workspaces), no workspace needed; `public` — no credentials (login, refresh, accepting an
   * invitation), which answer the same for every caller and are throttled themselves.
   */
  auth?: 'workspace' | 'user' | 'public';
  /** The action `can` checks before the handler runs; null for `user` and `public` routes. */
  action: AdminAction | null;
  /** OpenAPI tag: the resource. */
  tag: string;
  summary: string;
  description?: string;
  params?: P;
  /** Query string parameters (GET lists: filters and pagination). */
  query?: TSchema;
  body?: B;
  /** The body may be left out entirely (then it is `{}`). */
  bodyOptional?: boolean;
  /** Success status and the schema the response is serialised through. */
  status: 200 | 201;
  response: TSchema;
  handler(ctx: {
    /** The authenticated actor (for `user` routes always a UserActor; absent only on `public` routes). */
    actor: Actor;
    params: StaticOr<P>;
    body: StaticOr<B>;
    /** Validated query string (when the route declares `query`). */
    query: Record<string, unknown>;
    /** Who is acting, from where: for the audit entries of this request's changes. */
    context: AuditContext;
  }): Promise<unknown>;
}

export type AdminRoute = RouteSpec<TSchema | undefined, TSchema | undefined>;

export function route<P extends TSchema | undefined = undefined, B extends TSchema | undefined = undefined>(
  spec: RouteSpec<P, B>,
): AdminRoute {
  return spec as unknown as AdminRoute;
}

/** What the admin routes work with: the same repositories (and caches) as the data plane. */
export interface AdminDeps {
  authenticate: AuthenticateActor;
  /** Users, sessions, MFA, members and invitations (src/identity). */
  identity: IdentityService;
  /** Deleted workspaces stay restorable this many days (config `workspaces.retentionDays`). */
  workspaceRetentionDays: number;
  /** Who may create workspaces over the API (config `workspaces.creation`). */
  workspaceCreation: 'owners' | 'anyone';
  workspaces: WorkspaceRepository;
  credentials: CredentialRepository;
  aliases: AliasRepository;
  keys: KeyRepository;
  /** The audit log: every change commits together with its entry (`audit.record`). */
  audit: AuditLog;
  /** Audit context of a request (actor, client IP through trusted proxies, user agent, request id). */
  auditContext(request: FastifyRequest): AuditContext;
  /** Reads for the audit and usage routes. */
  store: Pick<Store, 'db'>;
  /** The data plane's limit stage: usage views, and forgetting a workspace's cached limits after a change. */
  limits: Pick<LimitsStage, 'usage' | 'invalidate'>;
  /** The data plane's guardrail policies: forgetting a workspace's cached policy after a change. */
  guardrails: Pick<GuardrailPolicies, 'invalidate'>;
}
