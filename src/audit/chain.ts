import { createHash } from 'node:crypto';
import type { AuditLogRow } from '../store/schema.ts';

/**
 * The hash chain (docs/audit.md). Every entry's hash is
 *
 *   hash = hex(SHA-256( prev_hash ‖ "\n" ‖ canonical(entry) ))
 *
 * where `canonical` is JSON with object keys sorted at every level and no whitespace (the
 * approach of RFC 8785, JCS, for the value types an entry holds: strings, safe integers, booleans,
 * null, arrays, objects), and the first entry's prev_hash is 64 zeros. The entry covers its own
 * `seq`, so renumbering, reordering, inserting, deleting or editing a row all break the chain.
 */

export const GENESIS_HASH = '0'.repeat(64);

/** The fields an entry's hash covers, named as in exports and the admin API. */
export interface CanonicalEntry {
  seq: number;
  time: number;
  actor: string | null;
  workspace: string | null;
  action: string;
  target: string | null;
  clientIp: string | null;
  userAgent: string | null;
  outcome: string;
  requestId: string | null;
  details: Record<string, unknown>;
}

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isSafeInteger(value)) {
      throw new TypeError('audit entries hold only safe integers');
    }
    if (value === undefined) return 'null';
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export function entryHash(prevHash: string, entry: CanonicalEntry): string {
  return createHash('sha256')
    .update(`${prevHash}\n${canonicalJson(entry)}`)
    .digest('hex');
}

export function parseDetails(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : { _invalid: text };
  } catch {
    // An edited, unparsable details column must still hash (to a mismatch), not crash verification.
    return { _invalid: text };
  }
}

/** A stored row as the canonical entry its hash covers (optionally as if it had another seq). */
export function canonicalOf(row: AuditLogRow, seq: number = Number(row.seq)): CanonicalEntry {
  return {
    seq,
    time: Number(row.time),
    actor: row.actor,
    workspace: row.workspace_id,
    action: row.action,
    target: row.target,
    clientIp: row.client_ip,
    userAgent: row.user_agent,
    outcome: row.outcome,
    requestId: row.request_id,
    details: parseDetails(row.details),
  };
}

/** The public shape of an entry: exports, `GET /admin/api/v1/audit`. */
export interface AuditEntry extends CanonicalEntry {
  prevHash: string;
  hash: string;
}

export function toEntry(row: AuditLogRow): AuditEntry {
  return { ...canonicalOf(row), prevHash: row.prev_hash, hash: row.hash };
}
