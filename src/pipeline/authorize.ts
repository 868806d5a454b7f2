import ipaddr from 'ipaddr.js';
import { PortcullisError } from '../errors/catalogue.ts';
import type { KeyPrincipal, Scope } from '../keys/types.ts';
import { modelMatcher } from '../util/glob.ts';

/**
 * Pipeline stage 3: what a verified key may do. The key's state (revoked, expired, deleted
 * workspace) was settled by verification; this checks, in order, the network (IP allowlist), the
 * browser origin, the endpoint (scope) and the model, and throws the catalogue error for the first
 * that fails. Pure and synchronous: everything it needs is on the cached principal.
 */

export interface AuthorizeRequest {
  /** The scope the endpoint needs, e.g. `chat` for /v1/chat/completions. */
  scope: Scope;
  /** The model the request names, when it names one. */
  model?: string;
  /** From src/pipeline/client-ip.ts, never from a raw header. */
  clientIp: string;
  /** The Origin request header, when the client sent one (browsers do). */
  origin?: string;
  /** Names the endpoint in the insufficient_scope message; defaults to the scope's endpoint. */
  what?: string;
}

const SCOPE_WHAT: Record<Scope, string> = {
  chat: 'POST /v1/chat/completions',
  embeddings: 'POST /v1/embeddings',
  responses: 'POST /v1/responses',
  messages: 'POST /v1/messages',
  'models:read': 'GET /v1/models',
  'admin:read': 'reading through the admin API',
  'admin:write': 'changes through the admin API',
};

export function authorize(principal: KeyPrincipal, request: AuthorizeRequest): void {
  if (!ipAllowed(principal, request.clientIp)) {
    throw new PortcullisError('ip_not_allowed', { vars: { ip: request.clientIp } });
  }
  if (!originAllowed(principal, request.origin)) {
    throw new PortcullisError('origin_not_allowed', { vars: { origin: request.origin ?? 'null' } });
  }
  if (!principal.scopes.includes(request.scope)) {
    throw new PortcullisError('insufficient_scope', {
      vars: { scope: request.scope, what: request.what ?? SCOPE_WHAT[request.scope] },
    });
  }
  if (request.model !== undefined && !modelAllowed(principal, request.model)) {
    throw new PortcullisError('model_not_allowed', { vars: { model: request.model }, param: 'model' });
  }
}

export function modelAllowed(principal: KeyPrincipal, model: string): boolean {
  return modelMatcher(principal.models)(model);
}

/** For GET /v1/models: only the models this key may use are listed. */
export function allowedModels<T extends { id: string }>(principal: KeyPrincipal, models: readonly T[]): T[] {
  const matches = modelMatcher(principal.models);
  return models.filter((m) => matches(m.id));
}

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

// Parsed allowlists, keyed by the principal's (frozen, cached) array: parsed once per cache load,
// not per request, and collected with the principal.
const parsedRanges = new WeakMap<readonly string[], Range[]>();

function rangesOf(allowIps: readonly string[]): Range[] {
  let ranges = parsedRanges.get(allowIps);
  if (ranges === undefined) {
    ranges = allowIps.map((cidr) => ipaddr.parseCIDR(cidr));
    parsedRanges.set(allowIps, ranges);
  }
  return ranges;
}

/** An empty allowlist allows every address. The client IP is already normalised (IPv4-mapped → IPv4). */
export function ipAllowed(principal: KeyPrincipal, clientIp: string): boolean {
  if (principal.allowIps.length === 0) return true;
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    addr = ipaddr.process(clientIp);
  } catch {
    return false;
  }
  return rangesOf(principal.allowIps).some(
    ([net, bits]) => net.kind() === addr.kind() && addr.match(net, bits),
  );
}

/**
 * Origins matter only to browsers, which always send Origin on cross-origin calls. A key with an
 * origin allowlist refuses any other origin (including the opaque "null"); a request without an
 * Origin header is not a browser's cross-origin call and is allowed (a server could forge the
 * header anyway: use allowIps to restrict servers). A key without an allowlist is for
 * server-side use: its calls get no CORS headers (see cors.ts), so browsers cannot read them.
 */
export function originAllowed(principal: KeyPrincipal, origin: string | undefined): boolean {
  if (origin === undefined || principal.allowOrigins.length === 0) return true;
  return principal.allowOrigins.includes(origin.toLowerCase());
}
