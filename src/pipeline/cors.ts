import type { Clock } from '../clock.ts';
import type { KeyPrincipal } from '../keys/types.ts';
import type { Store } from '../store/types.ts';
import { originAllowed } from './authorize.ts';

/**
 * CORS (WHATWG Fetch standard, "CORS protocol") driven by each key's origin allowlist.
 *
 * Actual requests: `corsHeadersFor(principal, origin)` after authentication. A key without an
 * allowlist gets no CORS headers at all, so a browser page can never read its responses.
 *
 * Preflights (OPTIONS) carry no credentials, so the key is not known yet. `createPreflight`
 * answers them for an origin that at least one active key allows (the union of all allowlists,
 * cached for a few seconds); the real request is then checked against its own key's list and
 * refused with origin_not_allowed (without CORS headers) if that key does not allow the origin.
 */

const EXPOSED = 'x-request-id, retry-after, x-ratelimit-limit-requests, x-ratelimit-remaining-requests';
const ALLOWED_HEADERS =
  'authorization, x-api-key, content-type, x-request-id, openai-organization, openai-project, ' +
  'anthropic-version, anthropic-beta, x-stainless-arch, x-stainless-lang, x-stainless-os, ' +
  'x-stainless-package-version, x-stainless-retry-count, x-stainless-runtime, x-stainless-runtime-version, ' +
  'x-stainless-timeout, anthropic-dangerous-direct-browser-access';

const HEADER_LIST = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+(?:\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+){0,49}$/;

/** Headers to add to a response for this key and Origin; `{}` when none apply. */
export function corsHeadersFor(principal: KeyPrincipal, origin: string | undefined): Record<string, string> {
  if (origin === undefined || principal.allowOrigins.length === 0 || !originAllowed(principal, origin))
    return {};
  return { 'access-control-allow-origin': origin, 'access-control-expose-headers': EXPOSED, vary: 'Origin' };
}

export interface Preflight {
  /**
   * Headers for an OPTIONS request (answer 204 with them); `{}` means "not allowed" (still answer
   * 204, without CORS headers). `requestHeaders` is the Access-Control-Request-Headers value.
   */
  headersFor(origin: string | undefined, requestHeaders?: string): Promise<Record<string, string>>;
  invalidate(): void;
}

export function createPreflight(opts: { store: Store; clock: Clock; ttlMs?: number }): Preflight {
  const ttlMs = opts.ttlMs ?? 5000;
  let known: { at: number; origins: Set<string> } | undefined;
  let loading: Promise<Set<string>> | undefined;

  async function load(): Promise<Set<string>> {
    const rows = await opts.store.db
      .selectFrom('api_keys')
      .select('allow_origins')
      .where('allow_origins', '!=', '[]')
      .where('revoked_at', 'is', null)
      .where('deleted_at', 'is', null)
      .execute();
    const origins = new Set<string>();
    for (const r of rows) for (const o of JSON.parse(r.allow_origins) as string[]) origins.add(o);
    known = { at: opts.clock.now(), origins };
    return origins;
  }

  async function origins(): Promise<Set<string>> {
    if (known && opts.clock.now() - known.at < ttlMs) return known.origins;
    loading ??= load().finally(() => {
      loading = undefined;
    });
    return loading;
  }

  return {
    async headersFor(origin, requestHeaders): Promise<Record<string, string>> {
      if (origin === undefined || !(await origins()).has(origin.toLowerCase())) return {};
      // SDKs add their own headers (x-stainless-*…); echoing a well-formed request list lets them
      // through. Headers grant nothing here: the key decides.
      const echo = requestHeaders !== undefined && HEADER_LIST.test(requestHeaders);
      return {
        'access-control-allow-origin': origin,
        'access-control-allow-methods': 'GET, POST, OPTIONS',
        'access-control-allow-headers': echo ? requestHeaders.toLowerCase() : ALLOWED_HEADERS,
        'access-control-max-age': '600',
        vary: 'Origin',
      };
    },
    invalidate() {
      known = undefined;
    },
  };
}
