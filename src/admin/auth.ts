import type { FastifyRequest } from 'fastify';
import { PortcullisError } from '../errors/catalogue.ts';
import type { Role } from '../identity/roles.ts';
import { roleTitle } from '../identity/roles.ts';
import type { IdentityService } from '../identity/service.ts';
import type { UserRecord } from '../identity/users.ts';
import { DATA_PLANE_SCOPES, type KeyPrincipal, SCOPES, type Scope } from '../keys/types.ts';
import type { Authenticator } from '../pipeline/authenticate.ts';
import { ipAllowed, originAllowed } from '../pipeline/authorize.ts';
import type { ClientIpResolver } from '../pipeline/client-ip.ts';
import type { WorkspaceRepository } from '../workspaces/repository.ts';
import { type AdminAction, grantableScopes, ruleOf } from './rbac.ts';

/**
 * Who may do what through the admin API, decided in ONE place: `can(actor, action, target)`.
 *
 * Two kinds of actor: a Portcullis API key with a management scope (`admin:read` for reads,
 * `admin:write` for changes, confined to its own workspace, and never more than an Admin), and a
 * user with an access token and a role in the workspace the request names (the matrix in
 * src/admin/rbac.ts, rendered in docs/rbac.md). Every route states its action and the target it
 * acts on, and calls `enforce` before touching anything.
 *
 * Three rules hold for every actor:
 * - Objects of another workspace are invisible: `can` answers `hidden`, which routes turn into the
 *   same 404 a missing object gets, so ids cannot be probed (OWASP API1, BOLA). The same holds
 *   for another member's keys when a User may only touch their own.
 * - No privilege escalation: a write to an API key that carries scopes S (creating it with S,
 *   changing it to S, or rotating it, which hands out a working secret for S) requires the actor to
 *   hold every scope in S itself. So an admin:write key without `chat` cannot mint a `chat` key, a
 *   User cannot mint a management key, and no one can rotate or loosen a key stronger than
 *   themselves. Revoking or deleting only takes rights away.
 * - A workspace that requires MFA refuses every action of a member who has not enrolled.
 */

export interface KeyActor {
  kind: 'api_key';
  /** The key's record id (`key_…`); recorded as `createdBy` of keys it creates. */
  id: string;
  workspaceId: string;
  scopes: readonly Scope[];
  /** The calling key's own restrictions: a key it creates or changes may be no broader. */
  restrictions: KeyRestrictions;
}

/** The parts of a key that bound what it may do, besides its scopes. */
export interface KeyRestrictions {
  models: readonly string[];
  allowIps: readonly string[];
  allowOrigins: readonly string[];
  limits: Readonly<KeyPrincipal['limits']>;
  expiresAt: number | null;
}

/**
 * Why `granted` would be broader than `own`, or undefined when it is not. Conservative and exact:
 * lists must be subsets entry for entry (no glob or CIDR reasoning), every limit and budget the
 * actor has must be present and no higher (same window), and the expiry no later. Closes the path
 * where a restricted management key mints or turns itself into an unrestricted one.
 */
export function broaderThan(
  own: KeyRestrictions,
  granted: KeyRestrictions,
): { field: string; detail: string } | undefined {
  if (!own.models.includes('*')) {
    const extra = granted.models.find((m) => !own.models.includes(m));
    if (extra !== undefined)
      return { field: 'models', detail: `model "${extra}" is not in the calling key's own list` };
  }
  const subset = (field: 'allowIps' | 'allowOrigins', what: string) => {
    if (own[field].length === 0) return undefined;
    if (granted[field].length === 0)
      return {
        field,
        detail: `the calling key is limited to certain ${what}; so must be the keys it grants`,
      };
    const extra = granted[field].find((x) => !own[field].includes(x));
    return extra === undefined
      ? undefined
      : { field, detail: `"${extra}" is not among the calling key's own ${what}` };
  };
  const lists = subset('allowIps', 'addresses') ?? subset('allowOrigins', 'origins');
  if (lists) return lists;
  if (own.expiresAt !== null && (granted.expiresAt === null || granted.expiresAt > own.expiresAt)) {
    return { field: 'expiresAt', detail: 'a key cannot outlive the calling key' };
  }
  for (const limit of ['rpm', 'tpm', 'concurrency', 'budgetUsd'] as const) {
    const mine = own.limits[limit];
    if (mine === undefined) continue;
    const theirs = granted.limits[limit];
    if (theirs === undefined || theirs > mine) {
      return {
        field: `limits.${limit}`,
        detail: `the calling key's own ${limit} is ${mine}; a key it grants cannot have more`,
      };
    }
  }
  if (own.limits.budgetUsd !== undefined && granted.limits.budgetWindow !== own.limits.budgetWindow) {
    return { field: 'limits.budgetWindow', detail: "the budget window must be the calling key's own" };
  }
  return undefined;
}

/**
 * A person acting through a user access token, in one workspace (the one the request names in
 * `x-portcullis-workspace`, or their only one). `role` is null when the request is not about a
 * workspace they belong to (then every workspace action is hidden).
 */
export interface UserActor {
  kind: 'user';
  /** `usr_…`; recorded as `createdBy` of the keys they create (their "own" keys). */
  id: string;
  sessionId: string;
  workspaceId: string;
  role: Role | null;
  /** The workspace requires MFA and this user has not enrolled: nothing is allowed in it. */
  mfaMissing: boolean;
  user: UserRecord;
  /** Users have no key-shaped restrictions of their own; what they grant is bounded by role. */
  restrictions: KeyRestrictions;
}

export type Actor = KeyActor | UserActor;

export type { AdminAction } from './rbac.ts';

/** What an action touches. */
export interface Target {
  workspaceId: string;
  /** For keys: the scopes the key will carry (or carries, when rotating it). */
  grantsScopes?: readonly Scope[];
  /**
   * Who created the object (an API key's `createdBy`), when the action is about one object: a
   * User's `own` grant covers only their own. Absent for collection-level checks.
   */
  ownerId?: string | null;
}

export type Forbidden = {
  allowed: false;
  reason: 'forbidden';
  code: 'insufficient_scope' | 'role_forbidden' | 'user_session_required' | 'mfa_enrollment_required';
  vars: Record<string, string>;
  /** The request field at fault, when there is one (the scopes of a key being granted). */
  param?: string;
};

export type Decision =
  /** `own`: allowed only for the actor's own objects; collection routes filter by it. */
  { allowed: true; own: boolean } | { allowed: false; reason: 'hidden' } | Forbidden;

/** The scopes an actor holds, for the no-escalation rule on keys it grants. */
export function scopesOf(actor: Actor): readonly Scope[] {
  if (actor.kind === 'api_key') return actor.scopes;
  return actor.role === null ? [] : grantableScopes(actor.role, SCOPES, DATA_PLANE_SCOPES);
}

/**
 * THE authorization decision of the control plane (docs/rbac.md). Admin API routes call it for
 * the route's action first (function level), then for the object they touch (object level).
 */
export function can(actor: Actor, action: AdminAction, target: Target): Decision {
  if (target.workspaceId !== actor.workspaceId) return { allowed: false, reason: 'hidden' };
  const rule = ruleOf(action);
  let own = false;
  if (actor.kind === 'api_key') {
    if (rule.key === null) {
      return {
        allowed: false,
        reason: 'forbidden',
        code: 'user_session_required',
        vars: { what: capitalise(rule.what) },
      };
    }
    if (!actor.scopes.includes(rule.key)) {
      return {
        allowed: false,
        reason: 'forbidden',
        code: 'insufficient_scope',
        vars: { scope: rule.key, what: rule.what },
      };
    }
  } else {
    if (actor.role === null) return { allowed: false, reason: 'hidden' };
    if (actor.mfaMissing)
      return { allowed: false, reason: 'forbidden', code: 'mfa_enrollment_required', vars: {} };
    const grant = rule[actor.role];
    if (grant === 'none') {
      return {
        allowed: false,
        reason: 'forbidden',
        code: 'role_forbidden',
        vars: { role: roleTitle(actor.role), what: rule.what },
      };
    }
    if (grant === 'own') {
      own = true;
      // Another member's object is as invisible as another workspace's.
      if (target.ownerId !== undefined && target.ownerId !== actor.id)
        return { allowed: false, reason: 'hidden' };
    }
  }
  const held = scopesOf(actor);
  for (const scope of target.grantsScopes ?? []) {
    if (held.includes(scope)) continue;
    return actor.kind === 'api_key'
      ? {
          allowed: false,
          reason: 'forbidden',
          code: 'insufficient_scope',
          vars: { scope, what: 'an API key that carries it' },
          param: 'scopes',
        }
      : {
          allowed: false,
          reason: 'forbidden',
          code: 'role_forbidden',
          vars: { role: roleTitle(actor.role ?? 'user'), what: `granting the "${scope}" scope` },
          param: 'scopes',
        };
  }
  return { allowed: true, own };
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** The PortcullisError a refusal becomes. */
export function refusal(decision: Forbidden): PortcullisError {
  return new PortcullisError(decision.code, { vars: decision.vars, param: decision.param ?? null });
}

/**
 * Throws unless `can` allows; returns whether the grant is limited to the actor's own objects.
 * `hidden` becomes whatever the caller's "not found" is, so a foreign object and a missing one
 * answer alike.
 */
export function enforce(
  actor: Actor,
  action: AdminAction,
  target: Target,
  notFound: () => Error,
): { own: boolean } {
  const decision = can(actor, action, target);
  if (decision.allowed) return { own: decision.own };
  if (decision.reason === 'hidden') throw notFound();
  throw refusal(decision);
}

export interface AdminAuthOptions {
  /** The data plane's authenticator: the same brute-force defence and revocation-aware cache. */
  authenticator: Authenticator;
  clientIp: ClientIpResolver;
  identity: Pick<IdentityService, 'authenticate' | 'members'>;
  workspaces: Pick<WorkspaceRepository, 'getSetting'>;
}

/** How the actor is wanted: in a workspace (most routes), or only as a logged-in user. */
export type AuthenticateActor = (request: FastifyRequest) => Promise<Actor>;

/** The header a user names the workspace of a request in (id or name). */
export const WORKSPACE_HEADER = 'x-portcullis-workspace';

const UNRESTRICTED: KeyRestrictions = {
  models: ['*'],
  allowIps: [],
  allowOrigins: [],
  limits: {},
  expiresAt: null,
};

/**
 * Authenticates an admin API request. A Portcullis API key (Authorization: Bearer or x-api-key)
 * goes through the data plane's authenticator and then its network restrictions (IP and origin
 * allowlists), exactly as on the data plane; any other bearer token must be a user access token.
 * What the actor may do is left to `can`.
 */
export function createAdminAuthenticator(opts: AdminAuthOptions): AuthenticateActor {
  return async (request) => {
    const bearer = bearerToken(request.headers.authorization);
    if (bearer !== undefined && !looksLikeApiKey(bearer) && request.headers['x-api-key'] === undefined) {
      return userActor(opts, request, bearer);
    }
    const ip = opts.clientIp({ socketAddress: request.raw.socket.remoteAddress, headers: request.headers });
    const principal = await opts.authenticator.authenticate({
      headers: request.headers,
      url: request.url,
      clientIp: ip,
    });
    const origin = typeof request.headers.origin === 'string' ? request.headers.origin : undefined;
    if (!ipAllowed(principal, ip)) throw new PortcullisError('ip_not_allowed', { vars: { ip } });
    if (!originAllowed(principal, origin)) {
      throw new PortcullisError('origin_not_allowed', { vars: { origin: origin ?? 'null' } });
    }
    return keyActor(principal);
  };
}

function bearerToken(header: string | string[] | undefined): string | undefined {
  if (typeof header !== 'string') return undefined;
  return /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(header)?.[1];
}

/** Our keys' prefix: anything else in `Authorization: Bearer` is taken for an access token. */
function looksLikeApiKey(token: string): boolean {
  return /^pcx_/i.test(token);
}

async function userActor(opts: AdminAuthOptions, request: FastifyRequest, token: string): Promise<UserActor> {
  const { user, session } = await opts.identity.authenticate(token);
  const memberships = await opts.identity.members.membershipsOf(user.id);
  const named = request.headers[WORKSPACE_HEADER];
  let membership: (typeof memberships)[number] | undefined;
  if (typeof named === 'string' && named.length > 0) {
    membership = memberships.find((m) => m.workspaceId === named || m.workspaceName === named);
  } else if (memberships.length === 1) {
    membership = memberships[0];
  } else if (memberships.length > 1) {
    // Only workspace-scoped routes need one; user routes (login state, own workspaces) do not.
    membership = undefined;
    request.workspaceAmbiguous = memberships.length;
  }
  const mfaRequired =
    membership !== undefined &&
    (await opts.workspaces.getSetting(membership.workspaceId, 'mfaRequired')) === true;
  return {
    kind: 'user',
    id: user.id,
    sessionId: session.id,
    // A workspace the user is not a member of is as unknown to them as one that does not exist.
    workspaceId: membership?.workspaceId ?? '',
    role: membership?.role ?? null,
    mfaMissing: mfaRequired && user.mfa_enabled_at === null,
    user,
    restrictions: UNRESTRICTED,
  };
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set when a user with several workspaces named none: the count, for `workspace_required`. */
    workspaceAmbiguous?: number;
  }
}

export function keyActor(principal: KeyPrincipal): KeyActor {
  return {
    kind: 'api_key',
    id: principal.keyId,
    workspaceId: principal.workspaceId,
    scopes: principal.scopes,
    restrictions: {
      models: principal.models,
      allowIps: principal.allowIps,
      allowOrigins: principal.allowOrigins,
      limits: principal.limits,
      expiresAt: principal.expiresAt,
    },
  };
}
