/**
 * Telling "the database is unreachable or broken" apart from "this query is wrong", so the HTTP layer
 * can answer 503 and fail closed (DESIGN.md, invariant 4) instead of treating an outage as a bug.
 */

/** Raised by the store itself when it cannot open or reach its database. Never carries a URL or password. */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
}

// Socket-level failures reaching PostgreSQL (Node's system error codes).
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

// PostgreSQL SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html): class 08 is
// "connection exception"; 57P01-57P03 are admin/crash shutdown and "cannot connect now" (starting up);
// 53300 is too_many_connections.
const PG_UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300']);

// node-postgres and pg-pool report lost or timed-out connections with plain Errors and no code.
const PG_MESSAGES = [
  /^Connection terminated/,
  /timeout exceeded when trying to connect/,
  /^Query read timeout$/,
  /Client has encountered a connection error and is not queryable/,
  /^Cannot use a pool after calling end on the pool$/,
  // Kysely, once the store is closed: requests still in flight during shutdown get 503, not 500.
  /^driver has already been destroyed$/,
];

// SQLite primary result codes (https://sqlite.org/rescode.html): BUSY 5, LOCKED 6, NOMEM 7,
// READONLY 8, IOERR 10, CORRUPT 11, FULL 13, CANTOPEN 14, PROTOCOL 15, NOTADB 26. node:sqlite puts
// the extended code in `errcode`; the low byte is the primary code.
const SQLITE_UNAVAILABLE = new Set([5, 6, 7, 8, 10, 11, 13, 14, 15, 26]);

export function isStoreUnavailableError(err: unknown): boolean {
  return check(err, 0);
}

function check(err: unknown, depth: number): boolean {
  if (depth > 5 || typeof err !== 'object' || err === null) return false;
  if (err instanceof StoreUnavailableError) return true;
  const { code, errcode, message, cause } = err as {
    code?: unknown;
    errcode?: unknown;
    message?: unknown;
    cause?: unknown;
  };
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code) || PG_UNAVAILABLE_STATES.has(code) || /^08[0-9A-Z]{3}$/.test(code))
      return true;
    if (
      code === 'ERR_SQLITE_ERROR' &&
      typeof errcode === 'number' &&
      SQLITE_UNAVAILABLE.has(errcode & 0xff)
    ) {
      return true;
    }
    // node:sqlite after close(): in-flight requests during shutdown should get 503, not 500.
    if (code === 'ERR_INVALID_STATE' && message === 'database is not open') return true;
  }
  if (typeof message === 'string' && PG_MESSAGES.some((re) => re.test(message))) return true;
  // Node reports a refused dual-stack connect as an AggregateError of per-address errors.
  if (err instanceof AggregateError && err.errors.some((e) => check(e, depth + 1))) return true;
  return check(cause, depth + 1);
}

/** A short reason for a connection failure, for messages; Node's AggregateError has an empty message. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    if (err.message) return err.message;
    if (typeof code === 'string') return code;
    return err.name;
  }
  return String(err);
}
