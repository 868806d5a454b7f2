import { argon2, randomBytes, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';

/**
 * Password hashing (argon2id, RFC 9106) and the password policy (NIST SP 800-63B §5.1.1.2).
 *
 * Stored form: a PHC string (https://github.com/P-H-C/phc-string-format/blob/master/phc-sf-spec.md),
 *   $argon2id$v=19$m=19456,t=2,p=1$<salt, base64 without padding>$<tag, base64 without padding>
 * the same encoding the reference implementation and libsodium emit, so hashes are portable. The
 * parameters travel with each hash: raising ARGON2_PARAMS later leaves old hashes verifiable, and
 * `needsRehash` tells the caller to re-hash on the next successful login.
 */

export type Argon2Params = {
  /** Memory in KiB. */
  readonly memory: number;
  /** Passes (time cost). */
  readonly passes: number;
  /** Lanes. */
  readonly parallelism: number;
};

/** OWASP Password Storage Cheat Sheet, argon2id option "m=19456 (19 MiB), t=2, p=1". */
export const ARGON2_PARAMS: Argon2Params = Object.freeze({ memory: 19456, passes: 2, parallelism: 1 });
const SALT_BYTES = 16;
const TAG_BYTES = 32;

/**
 * What a stored hash may ask for. A row someone tampered with must not make one login cost
 * gigabytes or minutes: the ceiling is RFC 9106's second recommended option (64 MiB, t=3, p=4)
 * with headroom on passes. Salt and tag lengths follow RFC 9106 §3.1 (salt ≥ 8 bytes, tag ≥ 4;
 * we demand 16 so a truncated tag cannot be brute-forced).
 */
export const ARGON2_LIMITS = Object.freeze({
  maxMemory: 65536,
  maxPasses: 10,
  maxParallelism: 8,
  minSaltBytes: 8,
  maxSaltBytes: 64,
  minTagBytes: 16,
  maxTagBytes: 64,
});

export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 256;
/** An email local part shorter than this is too generic to forbid ("bob" in "bobsleigh..."). */
const EMAIL_LOCAL_MIN_LENGTH = 4;

type ParsedHash = { params: Argon2Params; salt: Buffer; tag: Buffer };

/** NIST SP 800-63B §5.1.1.2: normalise (NFKC) before hashing, so "é" typed as one or two code points is one password. */
function passwordBytes(password: string): Buffer {
  return Buffer.from(password.normalize('NFKC'), 'utf8');
}

function deriveArgon2id(
  message: Buffer,
  salt: Buffer,
  params: Argon2Params,
  tagLength: number,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // Runs on the libuv thread pool, so a login does not block the event loop for ~50 ms.
    argon2(
      'argon2id',
      {
        message,
        nonce: salt,
        memory: params.memory,
        passes: params.passes,
        parallelism: params.parallelism,
        tagLength,
      },
      (err, key) => (err ? reject(err) : resolve(key)),
    );
  });
}

/** PHC "B64": standard alphabet, no padding. */
function encodeB64(bytes: Buffer): string {
  return bytes.toString('base64').replace(/=+$/, '');
}

/** Strict inverse of encodeB64: Buffer.from(…, 'base64') alone skips junk and accepts base64url. */
function decodeB64(text: string): Buffer | null {
  if (!/^[A-Za-z0-9+/]+$/.test(text)) return null;
  const bytes = Buffer.from(text, 'base64');
  return encodeB64(bytes) === text ? bytes : null;
}

export function encodePhc(params: Argon2Params, salt: Buffer, tag: Buffer): string {
  const { memory, passes, parallelism } = params;
  return `$argon2id$v=19$m=${memory},t=${passes},p=${parallelism}$${encodeB64(salt)}$${encodeB64(tag)}`;
}

// Decimal without leading zeros (PHC spec); at most 8 digits so Number() is exact.
const DECIMAL = '(0|[1-9][0-9]{0,7})';
const PHC_ARGON2ID = new RegExp(
  `^\\$argon2id\\$v=19\\$m=${DECIMAL},t=${DECIMAL},p=${DECIMAL}\\$([A-Za-z0-9+/]+)\\$([A-Za-z0-9+/]+)$`,
);

/**
 * Parses an argon2id PHC string and checks every value against ARGON2_LIMITS; null when anything
 * is off. Only version 19 (0x13, the version Node implements) and only argon2id are accepted.
 */
export function parsePhc(phc: string): ParsedHash | null {
  if (typeof phc !== 'string' || phc.length > 400) return null;
  const m = PHC_ARGON2ID.exec(phc);
  if (!m) return null;
  const [, mem, passes, lanes, saltText, tagText] = m;
  const params = { memory: Number(mem), passes: Number(passes), parallelism: Number(lanes) };
  const L = ARGON2_LIMITS;
  if (params.parallelism < 1 || params.parallelism > L.maxParallelism) return null;
  if (params.passes < 1 || params.passes > L.maxPasses) return null;
  // RFC 9106 §3.1: at least 8 blocks per lane.
  if (params.memory < 8 * params.parallelism || params.memory > L.maxMemory) return null;
  const salt = decodeB64(saltText ?? '');
  const tag = decodeB64(tagText ?? '');
  if (!salt || salt.length < L.minSaltBytes || salt.length > L.maxSaltBytes) return null;
  if (!tag || tag.length < L.minTagBytes || tag.length > L.maxTagBytes) return null;
  return { params, salt, tag };
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const tag = await deriveArgon2id(passwordBytes(password), salt, ARGON2_PARAMS, TAG_BYTES);
  return encodePhc(ARGON2_PARAMS, salt, tag);
}

/**
 * True only when `password` matches the stored hash. Never throws: a malformed, tampered or
 * out-of-bounds hash is simply "does not match" (the caller logs nothing about the password).
 */
export async function verifyPassword(phc: string, password: string): Promise<boolean> {
  try {
    const parsed = parsePhc(phc);
    if (!parsed) return false;
    const tag = await deriveArgon2id(passwordBytes(password), parsed.salt, parsed.params, parsed.tag.length);
    return tag.length === parsed.tag.length && timingSafeEqual(tag, parsed.tag);
  } catch {
    return false;
  }
}

/** True when a stored hash uses other parameters than the current ones (re-hash after a successful login). */
export function needsRehash(phc: string): boolean {
  const parsed = parsePhc(phc);
  if (!parsed) return true;
  const { params, salt, tag } = parsed;
  return (
    params.memory !== ARGON2_PARAMS.memory ||
    params.passes !== ARGON2_PARAMS.passes ||
    params.parallelism !== ARGON2_PARAMS.parallelism ||
    salt.length !== SALT_BYTES ||
    tag.length !== TAG_BYTES
  );
}

/**
 * A well-formed hash at the current parameters that no password matches in practice (its tag is
 * all zero bytes). Verifying against it costs exactly what verifying a real current hash costs.
 */
const DUMMY_HASH = encodePhc(ARGON2_PARAMS, Buffer.alloc(SALT_BYTES, 0x5a), Buffer.alloc(TAG_BYTES, 0));

/**
 * One verification's worth of work for a login whose email is unknown, so response time does not
 * reveal which emails have accounts (OWASP Authentication Cheat Sheet, "Authentication and Error
 * Messages").
 */
export async function burnPasswordTime(password: string): Promise<void> {
  await verifyPassword(DUMMY_HASH, password);
}

export type PasswordRule = 'too_short' | 'too_long' | 'common' | 'contains_email';
export type PasswordPolicyResult = { ok: true } | { ok: false; rule: PasswordRule; message: string };

// Messages name the rule and never echo the password or the email (DESIGN.md invariant 2).
const MESSAGES: Record<PasswordRule, string> = {
  too_short: `Password is too short: use at least ${PASSWORD_MIN_LENGTH} characters.`,
  too_long: `Password is too long: use at most ${PASSWORD_MAX_LENGTH} characters.`,
  common: 'Password is too common: it appears in a list of frequently used passwords.',
  contains_email: 'Password must not contain the part of your email address before the @.',
};

function refuse(rule: PasswordRule): PasswordPolicyResult {
  return { ok: false, rule, message: MESSAGES[rule] };
}

/**
 * NIST SP 800-63B §5.1.1.2: a length floor, no composition rules, and a check against values
 * known to be commonly used or context-specific. Lengths are Unicode code points after NFKC, so
 * an emoji counts once and a fullwidth "ｐａｓｓ" is the same as "pass".
 *
 * `context.name` is accepted for callers that have it but is not a rule yet: display names are
 * often short or shared ("Admin"), and the rule set is part of the API contract.
 */
export function checkPasswordPolicy(
  password: string,
  context: { email?: string; name?: string } = {},
): PasswordPolicyResult {
  const normalized = password.normalize('NFKC');
  const length = codePointLength(normalized);
  if (length < PASSWORD_MIN_LENGTH) return refuse('too_short');
  if (length > PASSWORD_MAX_LENGTH) return refuse('too_long');
  const folded = normalized.toLowerCase();
  if (commonPasswords().has(folded)) return refuse('common');
  for (const part of emailParts(context.email)) {
    if (folded.includes(part)) return refuse('contains_email');
  }
  return { ok: true };
}

function codePointLength(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/**
 * The local part of the email, and its base without a "+tag" subaddress (RFC 5233), when at
 * least EMAIL_LOCAL_MIN_LENGTH code points long; lower-cased and NFKC like the password.
 */
function emailParts(email: string | undefined): string[] {
  if (!email) return [];
  const at = email.lastIndexOf('@');
  const local = (at === -1 ? email : email.slice(0, at)).normalize('NFKC').toLowerCase();
  const base = local.split('+')[0] ?? '';
  return [...new Set([local, base])].filter((p) => codePointLength(p) >= EMAIL_LOCAL_MIN_LENGTH);
}

let commonSet: Set<string> | undefined;

/**
 * zxcvbn-ts's "passwords-common" dictionary (~49k entries, lower case, maintained with the
 * zxcvbn-ts project). Loaded on first use (~30 ms, a few MB) rather than at import, so processes
 * that never check a password (the data plane, most CLI commands) do not pay for it.
 */
function commonPasswords(): Set<string> {
  if (!commonSet) {
    const require = createRequire(import.meta.url);
    const lists = require('@zxcvbn-ts/language-common') as typeof import('@zxcvbn-ts/language-common');
    commonSet = new Set(lists.dictionary['passwords-common'].map((p) => p.normalize('NFKC').toLowerCase()));
  }
  return commonSet;
}

/** Loads the common-password list now (e.g. at server start) instead of on the first policy check. */
export function preloadCommonPasswords(): void {
  commonPasswords();
}
