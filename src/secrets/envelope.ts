import { createCipheriv, createDecipheriv, type KeyObject, randomBytes } from 'node:crypto';
import { SecretDecryptError } from './errors.ts';
import type { MasterKeyRing } from './master-key.ts';

/**
 * Envelope encryption (NIST SP 800-38D, AES-256-GCM). Each record gets its own random data key;
 * the data key encrypts the plaintext and the master key encrypts ("wraps") the data key. Rotating
 * the master key therefore re-wraps 60-byte keys and never touches a ciphertext.
 *
 * Both blobs carry associated data naming the record (id, purpose, workspace) and the format, so a
 * ciphertext or wrapped key copied into another row, or a row moved to another workspace or
 * purpose, fails authentication instead of decrypting as the wrong secret.
 *
 * Blob encoding, base64: format byte | 12-byte IV | 16-byte tag | ciphertext.
 */

export const FORMAT_VERSION = 1;
const IV_BYTES = 12; // the GCM-recommended IV length (SP 800-38D §8.2)
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + IV_BYTES + TAG_BYTES;
const DATA_KEY_BYTES = 32;
const CIPHER = 'aes-256-gcm';

/** Thrown by openBlob; callers turn it into an error naming their record. */
export class EnvelopeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EnvelopeError';
  }
}

/** Encrypts with a fresh random IV; the format byte is authenticated along with `aad`. */
export function sealBlob(key: KeyObject | Buffer, plaintext: Buffer, aad: Buffer): string {
  const header = Buffer.from([FORMAT_VERSION]);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(CIPHER, key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.concat([header, aad]));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([header, iv, cipher.getAuthTag(), body]).toString('base64');
}

/** Decrypts and authenticates; any mismatch (key, bytes, aad) is one EnvelopeError. */
export function openBlob(key: KeyObject | Buffer, blob: string, aad: Buffer): Buffer {
  const bytes = Buffer.from(blob, 'base64');
  if (bytes.length < HEADER_BYTES) throw new EnvelopeError('blob is too short');
  const format = bytes[0];
  if (format !== FORMAT_VERSION) throw new EnvelopeError(`unknown blob format ${String(format)}`);
  const iv = bytes.subarray(1, 1 + IV_BYTES);
  const tag = bytes.subarray(1 + IV_BYTES, HEADER_BYTES);
  const decipher = createDecipheriv(CIPHER, key, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(Buffer.concat([bytes.subarray(0, 1), aad]));
  decipher.setAuthTag(tag);
  const first = decipher.update(bytes.subarray(HEADER_BYTES));
  try {
    const last = decipher.final();
    return last.length === 0 ? first : Buffer.concat([first, last]);
  } catch {
    // GCM released unauthenticated bytes from update(); wipe them before giving up.
    first.fill(0);
    throw new EnvelopeError('authentication failed');
  }
}

/** What a record's ciphertext and wrapped key are bound to. */
export interface RecordBinding {
  id: string;
  purpose: string;
  workspaceId: string | null;
}

/** The encrypted columns of a `secrets` row. */
export interface SealedRecord {
  masterKeyVersion: number;
  wrappedKey: string;
  ciphertext: string;
}

type Part = 'data-key' | 'ciphertext';

/**
 * JSON of an array: unambiguous however ids or purposes are spelled. The master version is bound
 * into the wrapped key only, so that a re-wrap leaves the ciphertext's AAD, and the ciphertext, as is.
 */
function aad(part: Part, binding: RecordBinding, masterVersion?: number): Buffer {
  const fields: (string | number | null)[] = [
    'portcullis.secret',
    FORMAT_VERSION,
    part,
    binding.id,
    binding.purpose,
    binding.workspaceId,
  ];
  if (masterVersion !== undefined) fields.push(masterVersion);
  return Buffer.from(JSON.stringify(fields), 'utf8');
}

/** Encrypts `plaintext` for one record under a fresh data key wrapped by the current master key. */
export function sealRecord(ring: MasterKeyRing, binding: RecordBinding, plaintext: Buffer): SealedRecord {
  const master = ring.current;
  const dataKey = randomBytes(DATA_KEY_BYTES);
  try {
    return {
      masterKeyVersion: master.version,
      wrappedKey: sealBlob(master.key, dataKey, aad('data-key', binding, master.version)),
      ciphertext: sealBlob(dataKey, plaintext, aad('ciphertext', binding)),
    };
  } finally {
    dataKey.fill(0);
  }
}

/** Decrypts a record. The caller owns the returned Buffer and should zero it when done. */
export function openRecord(ring: MasterKeyRing, binding: RecordBinding, sealed: SealedRecord): Buffer {
  const dataKey = unwrapDataKey(ring, binding, sealed);
  try {
    return openBlob(dataKey, sealed.ciphertext, aad('ciphertext', binding));
  } catch (err) {
    if (err instanceof EnvelopeError) throw new SecretDecryptError(binding.id);
    throw err;
  } finally {
    dataKey.fill(0);
  }
}

/**
 * Re-wraps the record's data key under the current master version; the ciphertext is returned
 * unchanged. The data key is never used here, but unwrapping it authenticates the old wrapping.
 */
export function rewrapRecord(
  ring: MasterKeyRing,
  binding: RecordBinding,
  sealed: SealedRecord,
): SealedRecord {
  const master = ring.current;
  if (sealed.masterKeyVersion === master.version) return sealed;
  const dataKey = unwrapDataKey(ring, binding, sealed);
  try {
    return {
      masterKeyVersion: master.version,
      wrappedKey: sealBlob(master.key, dataKey, aad('data-key', binding, master.version)),
      ciphertext: sealed.ciphertext,
    };
  } finally {
    dataKey.fill(0);
  }
}

function unwrapDataKey(ring: MasterKeyRing, binding: RecordBinding, sealed: SealedRecord): Buffer {
  const master = ring.get(sealed.masterKeyVersion);
  if (!master) {
    throw new SecretDecryptError(
      binding.id,
      `it is wrapped with master key v${sealed.masterKeyVersion}, which is not configured`,
    );
  }
  let dataKey: Buffer;
  try {
    dataKey = openBlob(master.key, sealed.wrappedKey, aad('data-key', binding, master.version));
  } catch (err) {
    if (err instanceof EnvelopeError) throw new SecretDecryptError(binding.id);
    throw err;
  }
  if (dataKey.length !== DATA_KEY_BYTES) {
    dataKey.fill(0);
    throw new SecretDecryptError(binding.id);
  }
  return dataKey;
}
