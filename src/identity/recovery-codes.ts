import { randomInt } from 'node:crypto';
import { hashPassword, verifyPassword } from './password.ts';

/**
 * One-time recovery codes for a user who lost their authenticator.
 *
 * A code is two groups of five characters from Crockford's base32 alphabet
 * (https://www.crockford.com/base32.html, lower case): no i, l, o or u, so nothing reads as
 * another character. 10 characters × 5 bits = 50 bits each; with argon2id storage and login rate
 * limits that is far beyond guessing. Input is read the way Crockford specifies: case-insensitive,
 * dashes and spaces ignored, i/l read as 1 and o as 0.
 *
 * Stored as argon2id (DESIGN.md), through the password functions.
 */

export const RECOVERY_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const GROUP = 5;
const GROUPS = 2;
const CODE_CHARS = GROUP * GROUPS;
export const RECOVERY_CODE_BITS = CODE_CHARS * Math.log2(RECOVERY_ALPHABET.length);
const CANONICAL = new RegExp(`^[${RECOVERY_ALPHABET}]{${GROUP}}-[${RECOVERY_ALPHABET}]{${GROUP}}$`);

function newCode(): string {
  let raw = '';
  // randomInt is uniform (rejection sampling), unlike randomBytes % 32 tricks on other alphabets.
  for (let i = 0; i < CODE_CHARS; i++) raw += RECOVERY_ALPHABET[randomInt(RECOVERY_ALPHABET.length)];
  return `${raw.slice(0, GROUP)}-${raw.slice(GROUP)}`;
}

/** `n` distinct codes like "7hq2m-x9c4d". Shown to the user once; store only their hashes. */
export function newRecoveryCodes(n = 10): string[] {
  if (!Number.isSafeInteger(n) || n < 1 || n > 100)
    throw new RangeError('recovery code count must be 1..100');
  const codes = new Set<string>();
  while (codes.size < n) codes.add(newCode());
  return [...codes];
}

// Crockford decoding: visually confusable letters map to the digit they resemble.
const CONFUSABLE: Record<string, string> = { i: '1', l: '1', o: '0' };

/**
 * The canonical "xxxxx-xxxxx" form of what a user typed, so " 7HQ2M X9C4D", "7hq2mx9c4d" and
 * "7hq2m–x9c4d" are one code. Input that cannot be a code comes back compacted (lower case,
 * no separators) and will not match any code.
 */
export function normalizeRecoveryCode(input: string): string {
  const compact = input
    .normalize('NFKC')
    .toLowerCase()
    // Whitespace, ASCII hyphen and the Unicode dashes (U+2010..U+2015, U+2212 minus) people paste.
    .replace(/[\s\-\u2010-\u2015\u2212]+/g, '')
    .replace(/[ilo]/g, (c) => CONFUSABLE[c] ?? c);
  if (compact.length !== CODE_CHARS) return compact;
  const grouped = `${compact.slice(0, GROUP)}-${compact.slice(GROUP)}`;
  return CANONICAL.test(grouped) ? grouped : compact;
}

/** True when `input` has the shape of a recovery code (after normalisation). */
export function isRecoveryCodeShaped(input: string): boolean {
  return CANONICAL.test(normalizeRecoveryCode(input));
}

export function hashRecoveryCode(code: string): Promise<string> {
  const normalized = normalizeRecoveryCode(code);
  if (!CANONICAL.test(normalized)) return Promise.reject(new TypeError('not a recovery code'));
  return hashPassword(normalized);
}

/**
 * True when `input` is the code behind `hash`. Input that is not shaped like a code is refused
 * without running argon2id: the caller may compare against up to ten hashes per attempt, and
 * junk should not cost ten hashes.
 */
export async function verifyRecoveryCode(hash: string, input: string): Promise<boolean> {
  if (typeof input !== 'string' || input.length > 64) return false;
  const normalized = normalizeRecoveryCode(input);
  if (!CANONICAL.test(normalized)) return false;
  return verifyPassword(hash, normalized);
}

/**
 * The index in `hashes` of the code `input` matches, or -1. Convenience for the login flow, which
 * then deletes (or marks used) that one hash: each recovery code works once.
 */
export async function findRecoveryCode(hashes: readonly string[], input: string): Promise<number> {
  if (typeof input !== 'string' || input.length > 64 || !isRecoveryCodeShaped(input)) return -1;
  for (let i = 0; i < hashes.length; i++) {
    const hash = hashes[i];
    if (hash !== undefined && (await verifyRecoveryCode(hash, input))) return i;
  }
  return -1;
}
