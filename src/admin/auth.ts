import type { FastifyRequest } from 'fastify';
import { PortcullisError } from '../errors/catalogue.ts';
import type { KeyPrincipal, Scope } from '../keys/types.ts';
import type { Authenticator } from '../pipeline/authenticate.ts';
import { ipAllowed, originAllowed } from '../pipeline/authorize.ts';
import type { ClientIpResolver } from '../pipeline/client-ip.ts';

/**
 * Who may do what through the admin API, decided in ONE place: `can(actor, action, target)`.
 *
 * Today the only actor is a Portcullis API key with a management scope: `admin:read` for reads,
 * `admin:write` for changes, confined to the key's own workspace. Issue 5 adds a second actor kind
 * (a user with an access token and a role in the workspace): it adds a `UserActor` to the `Actor`
 * union, a way to authenticate it next to `authenticateKey`, and a branch in `can` that reads the
 * role matrix (docs/rbac.md). Routes do not change: each already states its action and the target
 * it acts on, and calls `enforce` before touching anything.
 *
 * Two rules hold for every actor kind:
 * - Objects of another workspace are invisible: `can` answers `hidden`, which routes turn into the
 *   same 404 a missing object gets, so ids cannot be probed (OWASP API1, BOLA).
 * - No privilege escalation: a write to an API key that carries scopes S (creating it with S,
 *   changing it to S, or rotating it, which hands out a working secret for S) requires the actor to
 *   hold every scope in S itself. So an admin:write key without `chat` cannot mint a `chat` key,
 *   and cannot rotate or loosen a key that is stronger than itself. Revoking or deleting only takes
 *   rights away and needs admin:write alone.
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

/** Issue 5 adds `| UserActor`. */
export type Actor = KeyActor;

export type AdminResource =
  | 'workspace'
  | 'credentials'
  | 'aliases'
  | 'keys'
  | 'audit'
  | 'usage'
  | 'limits'
  | 'guardrails';
export type AdminAction = `${AdminResource}:${'read' | 'write'}`;

/** What an action touches. */
export interface Target {
  workspaceId: string;
  /** For keys: the scopes the key will carry (or carries, when rotating it). */
  grantsScopes?: readonly Scope[];
}

export type Decision =
  | { allowed: true }
  | { allowed: false; reason: 'hidden' }
  | { allowed: false; reason: 'forbidden'; scope: Scope; what: string };

const READ_SCOPE: Scope = 'admin:read';
const WRITE_SCOPE: Scope = 'admin:write';

export function can(actor: Actor, action: AdminAction, target: Target): Decision {
  if (target.workspaceId !== actor.workspaceId) return { allowed: false, reason: 'hidden' };
  const write = action.endsWith(':write');
  const needed = write ? WRITE_SCOPE : READ_SCOPE;
  if (!actor.scopes.includes(needed)) {
    return {
      allowed: false,
      reason: 'forbidden',
      scope: needed,
      what: write ? 'changes through the admin API' : 'reading through the admin API',
    };
  }
  for (const scope of target.grantsScopes ?? []) {
    if (!actor.scopes.includes(scope)) {
      return { allowed: false, reason: 'forbidden', scope, what: 'an API key that carries it' };
    }
  }
  return { allowed: true };
}

/**
 * Throws unless `can` allows. `hidden` becomes whatever the caller's "not found" is, so a foreign
 * object and a missing one answer alike.
 */
export function enforce(actor: Actor, action: AdminAction, target: Target, notFound: () => Error): void {
  const decision = can(actor, action, target);
  if (decision.allowed) return;
  if (decision.reason === 'hidden') throw notFound();
  throw new PortcullisError('insufficient_scope', {
    vars: { scope: decision.scope, what: decision.what },
    param: target.grantsScopes?.includes(decision.scope) ? 'scopes' : null,
  });
}

export interface AdminAuthOptions {
  /** The data plane's authenticator: the same brute-force defence and revocation-aware cache. */
  authenticator: Authenticator;
  clientIp: ClientIpResolver;
}

export type AuthenticateActor = (request: FastifyRequest) => Promise<Actor>;

/**
 * Authenticates an admin API request with a Portcullis API key (Authorization: Bearer or
 * x-api-key), then applies the key's network restrictions (IP and origin allowlists) exactly as
 * the data plane does. What the key may do is left to `can`.
 */
export function createAdminAuthenticator(opts: AdminAuthOptions): AuthenticateActor {
  return async (request) => {
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
