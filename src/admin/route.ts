import type { Static, TSchema } from '@sinclair/typebox';
import type { AliasRepository } from '../credentials/aliases.ts';
import type { CredentialRepository } from '../credentials/repository.ts';
import type { KeyRepository } from '../keys/repository.ts';
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
  action: AdminAction;
  /** OpenAPI tag: the resource. */
  tag: string;
  summary: string;
  description?: string;
  params?: P;
  body?: B;
  /** The body may be left out entirely (then it is `{}`). */
  bodyOptional?: boolean;
  /** Success status and the schema the response is serialised through. */
  status: 200 | 201;
  response: TSchema;
  handler(ctx: { actor: Actor; params: StaticOr<P>; body: StaticOr<B> }): Promise<unknown>;
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
  workspaces: WorkspaceRepository;
  credentials: CredentialRepository;
  aliases: AliasRepository;
  keys: KeyRepository;
}
