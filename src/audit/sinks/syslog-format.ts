import type { AuditEntry } from '../chain.ts';

/**
 * One audit entry as one RFC 5424 syslog message:
 *
 *   <PRI>1 TIMESTAMP HOSTNAME portcullis - MSGID - MSG
 *
 * - PRI = facility · 8 + severity (§6.2.1). Facility 10, `authpriv` ("security/authorization
 *   messages"): collectors file it apart from general logs, readable by root only on most
 *   systems (rsyslog's default `authpriv.* /var/log/secure`), which suits an audit trail.
 * - Severity from the outcome: success → 6 informational; failure → 5 notice; denied (401/403/429,
 *   lockouts) → 4 warning, the refusals a SIEM should alert on.
 * - TIMESTAMP is the entry's own time (RFC 3339, UTC, milliseconds), not the time of export.
 * - PROCID and STRUCTURED-DATA are the NILVALUE `-`: everything is in MSG, and an SD-ID of our
 *   own would need a registered enterprise number (§7.2.2).
 * - MSGID is the action; §6.2.7 allows at most 32 printable ASCII characters, so a longer action
 *   is cut there (MSG still holds it whole).
 * - MSG is the entry as JSON, exactly as `audit export` prints it except that non-ASCII characters
 *   are written as \u escapes: still the same JSON value, and plain ASCII, so no BOM question
 *   (§6.4) arises and no collector can mangle a multi-byte character. JSON never contains a raw
 *   newline, so the message is one line even for receivers that split on LF.
 */

export const FACILITY_AUTHPRIV = 10;
export const APP_NAME = 'portcullis';

const SEVERITY: Readonly<Record<string, number>> = { success: 6, failure: 5, denied: 4 };

/** PRINTUSASCII (%d33-126, §6) only, at most `max` characters; NILVALUE when nothing is left. */
function printable(value: string, max: number): string {
  const cleaned = value.replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return cleaned === '' ? '-' : cleaned;
}

export function severityOf(outcome: string): number {
  return SEVERITY[outcome] ?? 5;
}

/** JSON.stringify with every non-ASCII UTF-16 unit escaped (RFC 8259 §7). */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

export function formatSyslogMessage(entry: AuditEntry, hostname: string): string {
  const pri = FACILITY_AUTHPRIV * 8 + severityOf(entry.outcome);
  const when = new Date(entry.time);
  const timestamp = Number.isNaN(when.getTime()) ? '-' : when.toISOString();
  return `<${pri}>1 ${timestamp} ${printable(hostname, 255)} ${APP_NAME} - ${printable(entry.action, 32)} - ${asciiJson(entry)}`;
}

/** RFC 6587 §3.4.1 octet counting (also RFC 5425 §4.3 for TLS): `MSG-LEN SP SYSLOG-MSG`. */
export function octetCounted(message: string): Buffer {
  const body = Buffer.from(message, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} `, 'ascii'), body]);
}
