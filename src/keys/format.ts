import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { maskSecret } from '../secrets/mask.ts';

/**
 * The Portcullis API key format, modelled on GitHub's token format
 * (https://github.blog/2021-04-05-behind-githubs-new-authentication-token-formats/):
 *
 *   pcx_live_ | key id (12 base62) | secret (43 base62) | checksum (6 base62)
 *
 * - the prefix names the product and the environment, so scanners and people recognise a key;
 * - the key id is public: it names the record (`key_<id>`), so verification is one lookup by id;
 * - 43 base62 characters drawn uniformly carry 43·log2(62) ≈ 256.03 bits of secret;
 * - the checksum is CRC32 (ISO-HDLC, zlib's) of everything before it, in base62: a typo or a
 *   string that merely looks like a key is rejected without touching the store. It is a typo
 *   check, not an authenticator: anyone can compute it.
 *
 * Scanner rule: `\bpcx_(?:live|test)_[0-9A-Za-z]{61}\b` (docs/keys.md).
 */

export type KeyEnvironment = 'live' | 'test';
export const KEY_ENVIRONMENTS: readonly KeyEnvironment[] = ['live', 'test'];

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
export const KEY_ID_CHARS = 12;
export const SECRET_CHARS = 43;
export const CHECKSUM_CHARS = 6;
const PREFIX_CHARS = 'pcx_live_'.length;
export const KEY_LENGTH = PREFIX_CHARS + KEY_ID_CHARS + SECRET_CHARS + CHECKSUM_CHARS;
/** The record id of a key is this prefix plus the key id embedded in the raw key. */
export const KEY_ID_PREFIX = 'key_';

const KEY_SHAPE = /^pcx_(live|test)_([0-9A-Za-z]{12})([0-9A-Za-z]{43})([0-9A-Za-z]{6})$/;
/** Anywhere in a text (a URL, a log line): the rule secret scanners use. */
export const KEY_PATTERN = /\bpcx_(?:live|test)_[0-9A-Za-z]{61}\b/;
const RECORD_ID = /^key_[0-9A-Za-z]{12}$/;

export interface ParsedKey {
  /** The record id, `key_<12 base62>`. */
  id: string;
  environment: KeyEnvironment;
  /** The secret part only (never log it). */
  secret: string;
}

export interface GeneratedKey extends ParsedKey {
  /** The full key, shown to its owner exactly once. */
  raw: string;
}

/** Uniform base62 characters by rejection sampling (248 = 4·62, so no modulo bias). */
function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length + 8)) {
      if (byte < 248) out += ALPHABET[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

function base62Checksum(body: string): string {
  let n = crc32(body);
  let out = '';
  for (let i = 0; i < CHECKSUM_CHARS; i++) {
    out = ALPHABET[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}

export function generateKey(environment: KeyEnvironment, keyId?: string): GeneratedKey {
  if (!KEY_ENVIRONMENTS.includes(environment)) throw new TypeError('environment must be "live" or "test"');
  const idPart = keyId === undefined ? randomBase62(KEY_ID_CHARS) : idPartOf(keyId);
  const secret = randomBase62(SECRET_CHARS);
  const body = `pcx_${environment}_${idPart}${secret}`;
  return { raw: body + base62Checksum(body), id: KEY_ID_PREFIX + idPart, environment, secret };
}

/** For a rotation: the same id, a new secret. */
function idPartOf(keyId: string): string {
  if (!RECORD_ID.test(keyId)) throw new TypeError('not a key id');
  return keyId.slice(KEY_ID_PREFIX.length);
}

/** The parts of a well-formed key with a correct checksum; undefined for anything else. */
export function parseKey(raw: unknown): ParsedKey | undefined {
  if (typeof raw !== 'string' || raw.length !== KEY_LENGTH) return undefined;
  const m = KEY_SHAPE.exec(raw);
  if (!m) return undefined;
  const [, environment, idPart, secret, checksum] = m as unknown as [
    string,
    KeyEnvironment,
    string,
    string,
    string,
  ];
  if (base62Checksum(raw.slice(0, KEY_LENGTH - CHECKSUM_CHARS)) !== checksum) return undefined;
  return { id: KEY_ID_PREFIX + idPart, environment, secret };
}

/** True for a record id (`key_…`), the form users pass to `keys show|revoke|rotate`. */
export function isKeyId(value: string): boolean {
  return RECORD_ID.test(value);
}

/** The display form, e.g. `pcx_live_abc…xyz9`: the prefix, 3 characters of the id, the last 4. */
export function maskKey(raw: string): string {
  return maskSecret(raw);
}
