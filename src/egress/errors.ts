/**
 * Why an outbound call was refused. Stable strings: callers map them to the error catalogue and
 * operators grep logs for them.
 * - scheme: not http: or https:
 * - userinfo: credentials embedded in the URL (RFC 3986 §3.2.1 deprecates them; they leak into logs)
 * - invalid_url: not a parseable absolute URL
 * - private_address: loopback, private, link-local, CGNAT, multicast, reserved … and not allowlisted
 * - metadata: a cloud instance-metadata endpoint, refused unless allowlisted exactly
 * - dns_failed: the name did not resolve (refusing is the only safe answer: nothing was checked)
 */
export type EgressDenyReason =
  | 'scheme'
  | 'userinfo'
  | 'invalid_url'
  | 'private_address'
  | 'metadata'
  | 'dns_failed';

/**
 * An outbound destination the egress guard refused. The message names the host only: never the
 * full URL, whose path, query or userinfo may carry credentials.
 */
export class EgressDeniedError extends Error {
  override readonly name = 'EgressDeniedError';
  readonly code = 'egress_denied';
  readonly reason: EgressDenyReason;
  readonly host: string;
  /** The address range that was refused (e.g. 'loopback', 'private'), when an address was involved. */
  readonly range: string | undefined;

  constructor(reason: EgressDenyReason, host: string, range?: string) {
    super(`egress denied (${reason}${range && range !== reason ? `: ${range}` : ''}) for host ${host}`);
    this.reason = reason;
    this.host = host;
    this.range = range;
  }
}

/** A response body grew past the limit the caller set; the body has been destroyed. */
export class ResponseTooLargeError extends Error {
  override readonly name = 'ResponseTooLargeError';
  readonly code = 'response_too_large';
  readonly maxBytes: number;

  constructor(maxBytes: number) {
    super(`response body exceeded ${maxBytes} bytes`);
    this.maxBytes = maxBytes;
  }
}
