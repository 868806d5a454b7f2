import type { FastifyRequest } from 'fastify';
import { parseKey } from '../keys/format.ts';
import { presentedKey } from '../pipeline/authenticate.ts';
import type { AuditContext, AuditEvent } from './events.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the request authenticated as (set by the data plane's admit and the admin API); null before. */
    caller: { keyId: string; workspaceId: string } | null;
  }
}

/** The audit context of an HTTP request: actor, client IP, user agent, request id. */
export function requestContext(request: FastifyRequest, clientIp: string): AuditContext {
  const ua = request.headers['user-agent'];
  return {
    actor: request.caller?.keyId ?? claimedKeyId(request),
    clientIp,
    userAgent: typeof ua === 'string' ? ua : null,
    requestId: request.id,
  };
}

/** The key id a refused request presented (public: ids are not secrets), when it parses as one of ours. */
function claimedKeyId(request: FastifyRequest): string | null {
  try {
    const raw = presentedKey(request.headers);
    return raw === undefined ? null : (parseKey(raw)?.id ?? null);
  } catch {
    return null;
  }
}

/** `request.refused`: a 4xx on the data plane or the admin API, with the catalogue code that names why. */
export function refusalEvent(
  request: FastifyRequest,
  clientIp: string,
  error: { code: string; status: number },
): AuditEvent {
  const route = request.routeOptions.url;
  return {
    ...requestContext(request, clientIp),
    action: 'request.refused',
    outcome: error.status === 401 || error.status === 403 || error.status === 429 ? 'denied' : 'failure',
    workspaceId: request.caller?.workspaceId ?? null,
    target: route ?? null,
    details: {
      code: error.code,
      status: error.status,
      method: request.method,
      route: route ?? 'unmatched',
      surface: request.url.startsWith('/admin/')
        ? 'admin'
        : request.url.startsWith('/v1/')
          ? 'data'
          : 'other',
    },
  };
}
