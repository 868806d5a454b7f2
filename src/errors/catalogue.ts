/**
 * Every error Portcullis answers with, in one place: a stable code clients can switch on, the HTTP
 * status, the OpenAI error `type`, and a message template. `{name}` placeholders are filled from
 * the error's variables. docs/errors.md lists the same table for users; a test keeps them in step.
 *
 * Rules: 4xx messages say exactly what was wrong and how to fix it; 5xx messages are generic and
 * carry the request id, because the details are in the server log, never on the wire.
 */

export interface ErrorDefinition {
  status: number;
  /** The OpenAI envelope's `type` field, which the SDKs map to their error classes. */
  type:
    | 'invalid_request_error'
    | 'authentication_error'
    | 'permission_error'
    | 'not_found_error'
    | 'rate_limit_error'
    | 'server_error';
  message: string;
}

export const ERROR_CATALOGUE = {
  // Request shape (connect stage)
  invalid_json: {
    status: 400,
    type: 'invalid_request_error',
    message: 'The request body is not valid JSON: {detail}.',
  },
  invalid_request: {
    status: 400,
    type: 'invalid_request_error',
    message: 'Invalid request: {detail}.',
  },
  payload_too_large: {
    status: 413,
    type: 'invalid_request_error',
    message: 'The request body is larger than the {limit}-byte limit.',
  },
  unsupported_media_type: {
    status: 415,
    type: 'invalid_request_error',
    message: 'Unsupported content type "{contentType}"; send application/json.',
  },
  not_found: {
    status: 404,
    type: 'not_found_error',
    message: 'Unknown route: {method} {path}.',
  },
  request_timeout: {
    status: 408,
    type: 'invalid_request_error',
    message: 'The request was not received in time.',
  },
  // Authentication and authorization (pipeline stages 2-3)
  missing_api_key: {
    status: 401,
    type: 'authentication_error',
    message: 'No API key: send it as "Authorization: Bearer <key>" or in the x-api-key header.',
  },
  invalid_api_key: {
    status: 401,
    type: 'authentication_error',
    message: 'Invalid API key.',
  },
  metrics_unauthorized: {
    status: 401,
    type: 'authentication_error',
    message: 'Scraping /metrics needs "Authorization: Bearer <metrics.token>".',
  },
  api_key_expired: {
    status: 401,
    type: 'authentication_error',
    message: 'This API key expired at {expiredAt}; ask a workspace admin for a new one.',
  },
  api_key_revoked: {
    status: 401,
    type: 'authentication_error',
    message: 'This API key has been revoked.',
  },
  api_key_in_query: {
    status: 400,
    type: 'invalid_request_error',
    message:
      'API keys are never accepted in the URL (they leak into logs and histories); send it as "Authorization: Bearer <key>". Treat this key as exposed and rotate it.',
  },
  ip_not_allowed: {
    status: 403,
    type: 'permission_error',
    message: 'This API key may not be used from {ip}.',
  },
  origin_not_allowed: {
    status: 403,
    type: 'permission_error',
    message: 'This API key may not be used from the origin {origin}.',
  },
  insufficient_scope: {
    status: 403,
    type: 'permission_error',
    message: 'This API key lacks the "{scope}" scope needed for {what}.',
  },
  model_not_allowed: {
    status: 403,
    type: 'permission_error',
    message: 'This API key may not use the model "{model}".',
  },
  grant_exceeds_own: {
    status: 403,
    type: 'permission_error',
    message: 'A key can only grant what it holds itself: {detail}.',
  },
  too_many_auth_failures: {
    status: 429,
    type: 'rate_limit_error',
    message: 'Too many failed authentications from this source; retry after {retryAfter} seconds.',
  },
  // Limits and budgets (pipeline stage 4); see docs/limits.md
  rate_limited: {
    status: 429,
    type: 'rate_limit_error',
    message: 'The {scope} limit of {limit} requests per minute is reached; retry after {retryAfter} seconds.',
  },
  tokens_limited: {
    status: 429,
    type: 'rate_limit_error',
    message:
      'The {scope} limit of {limit} tokens per minute has no room for this request ({requested} tokens: input estimate plus max_tokens); retry after {retryAfter} seconds.',
  },
  concurrency_limited: {
    status: 429,
    type: 'rate_limit_error',
    message: 'The {scope} limit of {limit} requests in flight at once is reached; retry when one finishes.',
  },
  budget_exceeded: {
    status: 429,
    type: 'rate_limit_error',
    message: '{scope} {window} budget {state}; resets {reset}.',
  },
  request_exceeds_limit: {
    status: 400,
    type: 'invalid_request_error',
    message: 'This request can never fit: {detail}. Lower max_tokens or shorten the prompt.',
  },
  price_unknown: {
    status: 403,
    type: 'permission_error',
    message:
      'No price is known for the model "{model}" ({provider}), and a spend budget applies; a workspace admin must set one with `portcullis prices set`.',
  },
  limits_unavailable: {
    status: 503,
    type: 'server_error',
    message:
      'Portcullis cannot reach its limit counters, so it refuses the request rather than skip the limit check. Retry shortly (request id {requestId}).',
  },
  // Guardrails (pipeline stages 5 and 7)
  guardrail_blocked: {
    status: 400,
    type: 'invalid_request_error',
    message: "The {where} was blocked by the workspace's {detector} guardrail ({category}).",
  },
  // The provider's answer, not the request, is at fault (RFC 9110 §15.6.3: an invalid response
  // from an inbound server is a 502). The detail names a JSON Pointer and a keyword of the
  // client's own schema, never answer text, so it is sent even though this is a 5xx.
  output_schema_violation: {
    status: 502,
    type: 'server_error',
    message: 'The answer does not match the requested {format}: {detail} (request id {requestId}).',
  },
  input_limit_exceeded: {
    status: 400,
    type: 'invalid_request_error',
    message: 'The request exceeds the input limit {limit}: {value} is more than the {max} allowed.',
  },
  hosted_tool_not_allowed: {
    status: 400,
    type: 'invalid_request_error',
    message:
      'The provider-hosted tool "{tool}" is not allowed for this key; an administrator can allow it with `portcullis guardrails set --allow-hosted-tools`.',
  },
  beta_flag_not_allowed: {
    status: 400,
    type: 'invalid_request_error',
    message:
      'The anthropic-beta flag "{flag}" is not allowed for this key; an administrator can allow it with `portcullis guardrails set --allow-beta-flags`.',
  },
  // Routing and upstream (pipeline stage 6)
  model_not_found: {
    status: 404,
    type: 'invalid_request_error',
    message: 'The model "{model}" does not exist in this workspace, or no provider credential serves it.',
  },
  unsupported_parameter: {
    status: 400,
    type: 'invalid_request_error',
    message: 'The parameter "{param}" is not supported for {target}: {detail}.',
  },
  unsupported_endpoint: {
    status: 400,
    type: 'invalid_request_error',
    message: '{endpoint} is not available for the model "{model}" ({provider} target): {detail}.',
  },
  upstream_invalid_request: {
    status: 400,
    type: 'invalid_request_error',
    message: 'The provider refused the request: {detail}',
  },
  upstream_rate_limited: {
    status: 429,
    type: 'rate_limit_error',
    message: 'The provider is rate limiting this workspace; retry after {retryAfter} seconds.',
  },
  upstream_timeout: {
    status: 504,
    type: 'server_error',
    message: 'The provider did not answer within {timeoutMs} ms (request id {requestId}).',
  },
  upstream_error: {
    status: 502,
    type: 'server_error',
    message: 'The provider failed ({detail}) after {attempts} attempt(s) (request id {requestId}).',
  },
  upstream_invalid_response: {
    status: 502,
    type: 'server_error',
    message: 'The provider sent a response Portcullis could not parse (request id {requestId}).',
  },
  upstream_auth_failed: {
    status: 502,
    type: 'server_error',
    message:
      'The provider rejected the workspace credential "{credential}"; a workspace admin must update it (request id {requestId}).',
  },
  upstream_unavailable: {
    status: 503,
    type: 'server_error',
    message:
      'Every provider target for "{model}" is failing right now; retry shortly (request id {requestId}).',
  },
  egress_denied: {
    status: 502,
    type: 'server_error',
    message:
      'The provider address for "{credential}" is refused by the egress policy ({reason}); an operator must allow it (request id {requestId}).',
  },
  // Admin API (control plane); see docs/admin-api.md
  resource_not_found: {
    status: 404,
    type: 'not_found_error',
    message: 'No {resource} "{id}" in this workspace.',
  },
  resource_conflict: {
    status: 409,
    type: 'invalid_request_error',
    message: 'Conflict: {detail}.',
  },
  // Identity: users, sessions, MFA, roles (control plane); see docs/identity.md and docs/rbac.md
  invalid_credentials: {
    status: 401,
    type: 'authentication_error',
    message: 'The email, password or MFA code is not right.',
  },
  invalid_access_token: {
    status: 401,
    type: 'authentication_error',
    message: 'The access token is invalid, expired or its session was ended; refresh it or log in again.',
  },
  invalid_refresh_token: {
    status: 401,
    type: 'authentication_error',
    message: 'The refresh token is invalid, expired or revoked; log in again.',
  },
  refresh_token_reused: {
    status: 401,
    type: 'authentication_error',
    message:
      'This refresh token was already used once, so it may have been stolen: its whole session is now revoked. Log in again.',
  },
  too_many_login_failures: {
    status: 429,
    type: 'rate_limit_error',
    message:
      'Too many failed logins for this account or from this address; retry after {retryAfter} seconds.',
  },
  weak_password: {
    status: 400,
    type: 'invalid_request_error',
    message: 'The password is refused ({rule}): {detail}.',
  },
  role_forbidden: {
    status: 403,
    type: 'permission_error',
    message: 'Your role in this workspace ({role}) does not allow {what}.',
  },
  user_session_required: {
    status: 403,
    type: 'permission_error',
    message: '{what} needs a logged-in user (an access token); an API key cannot do it.',
  },
  mfa_enrollment_required: {
    status: 403,
    type: 'permission_error',
    message:
      'This workspace requires multi-factor authentication: enrol first (POST /admin/api/v1/auth/mfa/enroll, then /auth/mfa/confirm).',
  },
  workspace_required: {
    status: 400,
    type: 'invalid_request_error',
    message:
      'You are a member of {count} workspaces: name one in the x-portcullis-workspace header (id or name).',
  },
  last_owner: {
    status: 409,
    type: 'invalid_request_error',
    message: 'A workspace always keeps at least one Owner: {detail}.',
  },
  invalid_invitation: {
    status: 400,
    type: 'invalid_request_error',
    message: 'The invitation is invalid, expired, revoked or already used.',
  },
  // Availability (fail closed)
  service_unavailable: {
    status: 503,
    type: 'server_error',
    message:
      'Portcullis cannot reach its {dependency} right now, so it refuses the request rather than skip a check. Retry shortly (request id {requestId}).',
  },
  shutting_down: {
    status: 503,
    type: 'server_error',
    message: 'Portcullis is shutting down; retry on another instance.',
  },
  internal_error: {
    status: 500,
    type: 'server_error',
    message: 'Internal error (request id {requestId}). The details are in the server log.',
  },
} as const satisfies Record<string, ErrorDefinition>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export type ErrorVars = Readonly<Record<string, string | number>>;

export function formatMessage(template: string, vars: ErrorVars): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => {
    const value = vars[name];
    return value === undefined ? whole : String(value);
  });
}

/** An error with a catalogue code. Throw it anywhere in the pipeline; the one error handler answers it. */
export class PortcullisError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly type: ErrorDefinition['type'];
  /** The request parameter at fault (OpenAI's `param`), e.g. `messages[2].content`. */
  readonly param: string | null;
  readonly vars: ErrorVars;
  /** Extra response headers (retry-after, www-authenticate …). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    code: ErrorCode,
    options: {
      vars?: ErrorVars;
      param?: string | null;
      headers?: Record<string, string>;
      cause?: unknown;
    } = {},
  ) {
    const def: ErrorDefinition = ERROR_CATALOGUE[code];
    super(formatMessage(def.message, options.vars ?? {}), { cause: options.cause });
    this.name = 'PortcullisError';
    this.code = code;
    this.status = def.status;
    this.type = def.type;
    this.param = options.param ?? null;
    this.vars = options.vars ?? {};
    this.headers = options.headers ?? {};
  }
}
