import type { KeyPrincipal } from '../keys/types.ts';
import { originAllowed } from './authorize.ts';

/**
 * CORS (WHATWG Fetch standard, "CORS protocol") driven by each key's origin allowlist.
 *
 * Actual requests: `corsHeadersFor(principal, origin)` after authentication. A key without an
 * allowlist gets no CORS headers at all, so a browser page can never read its responses.
 *
 * Preflights (OPTIONS) carry no credentials, so the key is not known yet: see createPreflight.
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

const ORIGIN = /^https?:\/\/[A-Za-z0-9.-]+(?::\d{1,5})?$|^https?:\/\/\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/;

/**
 * Preflights carry no key, so they cannot be answered per key. They are answered alike for every
 * well-formed origin: a preflight only lets the browser send the real request, which is then
 * checked against its own key (origin_not_allowed, and no CORS headers, when the key does not
 * allow the origin, so the page cannot read the answer). Answering from the union of all tenants'
 * allowlists instead would let anyone test which origins some tenant allows (found in review).
 */
export function createPreflight(): Preflight {
  return {
    async headersFor(origin, requestHeaders): Promise<Record<string, string>> {
      if (origin === undefined || !ORIGIN.test(origin)) return {};
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
    invalidate() {},
  };
}
