import type { EgressDeniedError } from '../../egress/errors.ts';
import type { AuditEntry } from '../chain.ts';

/**
 * Where `portcullis audit export` can send the trail besides stdout: a SIEM's HTTPS ingest
 * endpoint (JSON Lines batches) or a syslog collector (RFC 5424). Both go out through the egress
 * policy (src/egress/): a private or loopback destination needs `egress.allow`.
 */
export type SinkKind = 'https' | 'syslog';

export interface AuditSink {
  readonly kind: SinkKind;
  /** `host:port` only, never the path, query or credentials: for messages and the summary. */
  readonly destination: string;
  /** Entries the destination has taken: acknowledged with a 2xx (HTTPS) or written to the socket (syslog). */
  readonly delivered: number;
  write(entry: AuditEntry): Promise<void>;
  /** Sends whatever is buffered, then closes the connection. */
  end(): Promise<void>;
  /** Drops the connection after a failure; never throws. */
  destroy(): void;
}

/**
 * A sink failed while exporting. `code` is stable for `--json` consumers; the message names the
 * destination's host and the HTTP status or socket error, never a token or the URL's path/query.
 */
export class SinkError extends Error {
  override readonly name = 'SinkError';
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** A `--to` / `--syslog` value the CLI refuses before connecting (it maps this to a usage error). */
export class InvalidSinkTarget extends Error {
  override readonly name = 'InvalidSinkTarget';
}

/** The egress guard's refusal, with the way out for the one case an operator can fix. */
export function egressRefusal(err: EgressDeniedError): SinkError {
  const hint =
    err.reason === 'private_address'
      ? `; a private or loopback sink must be listed in egress.allow (PORTCULLIS_EGRESS_ALLOW=${err.host} or a CIDR)`
      : '';
  return new SinkError('egress_denied', `the audit sink was refused: ${err.message}${hint}`);
}

/** Socket and undici error codes (ECONNREFUSED, UND_ERR_CONNECT_TIMEOUT …); never a message that could quote input. */
export function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Za-z0-9_]{1,40}$/.test(code) ? code : 'connection error';
}
