import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { isValidModelGlob } from '../util/glob.ts';
import { invalidInput } from './errors.ts';
import { BUDGET_WINDOWS, type BudgetWindow, type KeyLimits, SCOPES, type Scope } from './types.ts';

/**
 * Input checks for key attributes. Each returns the normalised value (what is stored and compared)
 * or throws a KeyError naming the field. Values from users may be echoed in messages: none of these
 * fields is secret.
 */

const MAX_LIST = 100;
/** Control characters (C0, DEL, C1): names show up in terminals and logs. */
const hasControl = (s: string): boolean =>
  [...s].some((c) => {
    const n = c.charCodeAt(0);
    return n < 0x20 || (n >= 0x7f && n < 0xa0);
  });

export function validateName(name: unknown): string {
  if (typeof name !== 'string') throw invalidInput('name', 'must be a string');
  const trimmed = name.trim();
  if (trimmed.length < 1 || trimmed.length > 100 || hasControl(trimmed)) {
    throw invalidInput('name', 'must be 1-100 printable characters');
  }
  return trimmed;
}

function list(field: string, value: unknown, max = MAX_LIST): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw invalidInput(field, 'must be a list of strings');
  }
  if (value.length > max) throw invalidInput(field, `at most ${max} entries`);
  return value as string[];
}

export function validateScopes(value: unknown): Scope[] {
  const given = list('scopes', value);
  if (given.length === 0) throw invalidInput('scopes', 'a key needs at least one scope');
  for (const s of given) {
    if (!(SCOPES as readonly string[]).includes(s)) {
      throw invalidInput('scopes', `unknown scope "${s}"; known: ${SCOPES.join(', ')}`);
    }
  }
  // Canonical order, no duplicates: two keys with the same rights look the same.
  return SCOPES.filter((s) => given.includes(s));
}

export function validateModels(value: unknown): string[] {
  const given = list('models', value);
  if (given.length === 0) throw invalidInput('models', 'a key needs at least one model glob ("*" for all)');
  for (const g of given) {
    if (!isValidModelGlob(g)) throw invalidInput('models', `"${g}" is not a valid model glob`);
  }
  return [...new Set(given)];
}

/**
 * IPv4 and IPv6 CIDRs, or single addresses (stored as /32 or /128). Stored as the network address,
 * so `10.1.2.3/8` is shown as `10.0.0.0/8`. IPv4-mapped IPv6 ranges become IPv4 ranges, because
 * client addresses are compared in their IPv4 form.
 */
export function normalizeCidrs(value: unknown): string[] {
  const out = list('allowIps', value).map((entry) => normalizeCidr(entry.trim()));
  return [...new Set(out)];
}

export function normalizeCidr(entry: string): string {
  const [addr = '', bits, ...rest] = entry.split('/');
  // node:net's isIP is strict (no "127.1" or hex forms that ipaddr.js would also accept).
  if (rest.length > 0 || isIP(addr) === 0 || (bits !== undefined && !/^\d{1,3}$/.test(bits))) {
    throw invalidInput(
      'allowIps',
      `"${entry}" is not an IP address or CIDR (e.g. 203.0.113.0/24, 2001:db8::/32)`,
    );
  }
  let ip = ipaddr.parse(addr);
  let prefix = bits === undefined ? (ip.kind() === 'ipv4' ? 32 : 128) : Number(bits);
  if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress() && prefix >= 96) {
    ip = (ip as ipaddr.IPv6).toIPv4Address();
    prefix -= 96;
  }
  const max = ip.kind() === 'ipv4' ? 32 : 128;
  if (prefix > max) throw invalidInput('allowIps', `"${entry}": the prefix length must be 0-${max}`);
  const cidr = `${ip.toString()}/${prefix}`;
  const network =
    ip.kind() === 'ipv4'
      ? ipaddr.IPv4.networkAddressFromCIDR(cidr)
      : ipaddr.IPv6.networkAddressFromCIDR(cidr);
  return `${network.toString()}/${prefix}`;
}

/**
 * Browser origins as `scheme://host[:port]` (RFC 6454 serialisation: lower-case, default port
 * omitted, IDNs in punycode), exactly what browsers send in the Origin header. http and https only,
 * no wildcards: an allowlist entry names one site.
 */
export function normalizeOrigins(value: unknown): string[] {
  return [...new Set(list('allowOrigins', value).map((o) => normalizeOrigin(o.trim())))];
}

export function normalizeOrigin(entry: string): string {
  const bad = () =>
    invalidInput('allowOrigins', `"${entry}" is not an origin like https://app.example.com[:port]`);
  let url: URL;
  try {
    url = new URL(entry);
  } catch {
    throw bad();
  }
  if (
    (url.protocol !== 'https:' && url.protocol !== 'http:') ||
    url.username !== '' ||
    url.password !== '' ||
    url.pathname !== '/' ||
    url.search !== '' ||
    url.hash !== '' ||
    /[/?#]./.test(entry.replace(/^[a-z]+:\/\//i, '')) ||
    url.hostname.includes('*')
  ) {
    throw bad();
  }
  return url.origin;
}

const TAG = /^[A-Za-z0-9][A-Za-z0-9._:/=@-]{0,63}$/;

export function validateTags(value: unknown): string[] {
  const given = list('tags', value, 50);
  for (const t of given) {
    if (!TAG.test(t)) throw invalidInput('tags', `"${t}" must be 1-64 letters, digits or . _ : / = @ -`);
  }
  return [...new Set(given)];
}

const LIMIT_INTS = ['rpm', 'tpm', 'concurrency'] as const;
const MAX_INT_LIMIT = 1_000_000_000;

export function validateLimits(value: unknown): KeyLimits {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidInput('limits', 'must be an object');
  }
  const input = value as Record<string, unknown>;
  const out: KeyLimits = {};
  for (const field of Object.keys(input)) {
    if (
      !(LIMIT_INTS as readonly string[]).includes(field) &&
      field !== 'budgetUsd' &&
      field !== 'budgetWindow'
    ) {
      throw invalidInput(
        `limits.${field}`,
        'unknown limit (known: rpm, tpm, concurrency, budgetUsd, budgetWindow)',
      );
    }
  }
  for (const field of LIMIT_INTS) {
    const v = input[field];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1 || v > MAX_INT_LIMIT) {
      throw invalidInput(`limits.${field}`, `must be a whole number from 1 to ${MAX_INT_LIMIT}`);
    }
    out[field] = v;
  }
  const budget = input.budgetUsd;
  if (budget !== undefined && budget !== null) {
    if (typeof budget !== 'number' || !Number.isFinite(budget) || budget <= 0 || budget > 1e9) {
      throw invalidInput('limits.budgetUsd', 'must be a positive number of US dollars');
    }
    out.budgetUsd = budget;
    const window = input.budgetWindow ?? 'month';
    if (!(BUDGET_WINDOWS as readonly unknown[]).includes(window)) {
      throw invalidInput('limits.budgetWindow', `must be one of ${BUDGET_WINDOWS.join(', ')}`);
    }
    out.budgetWindow = window as BudgetWindow;
  } else if (input.budgetWindow !== undefined && input.budgetWindow !== null) {
    throw invalidInput('limits.budgetWindow', 'only meaningful with limits.budgetUsd');
  }
  return out;
}

/** Expiry as epoch milliseconds, in the future; null = never expires. */
export function validateExpiry(value: unknown, now: number): number | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw invalidInput('expiresAt', 'must be a time in epoch milliseconds');
  }
  if (value <= now) throw invalidInput('expiresAt', 'must be in the future');
  return value;
}

const DURATION = /^(\d{1,6})(s|m|h|d|w)$/;
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `90s`, `15m`, `24h`, `30d`, `2w` → milliseconds; undefined when not a duration. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  if (!m || m[1] === undefined || m[2] === undefined) return undefined;
  const ms = Number(m[1]) * (UNIT_MS[m[2]] ?? 0);
  return ms > 0 ? ms : undefined;
}

/** `--expires 30d` or an ISO 8601 time (`2026-01-31T00:00:00Z`) → epoch ms. */
export function parseExpiry(text: string, now: number): number {
  const duration = parseDuration(text);
  if (duration !== undefined) return now + duration;
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const at = Date.parse(text);
    if (Number.isFinite(at)) return at;
  }
  throw invalidInput('expires', `"${text}" is neither a duration (30d, 12h, 2w) nor an ISO 8601 time`);
}
