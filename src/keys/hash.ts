import { createHmac, createSecretKey, type KeyObject, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../clock.ts';
import { sealRecord } from '../secrets/envelope.ts';
import { SecretNotFoundError } from '../secrets/errors.ts';
import type { MasterKeyRing } from '../secrets/master-key.ts';
import { createVault } from '../secrets/vault.ts';
import type { Store } from '../store/types.ts';
import type { ParsedKey } from './format.ts';

/**
 * API keys are stored only as HMAC-SHA256(pepper, "<environment>:<key id>:<secret>").
 *
 * The pepper is 32 random bytes kept in the vault (envelope-encrypted under the master key), not
 * derived from the master key: rotating the master key re-wraps the pepper like any other secret,
 * so every stored hash stays valid. A stolen database alone cannot be used to test guesses.
 *
 * The environment and key id are bound into the hash so that a hash copied into another key's row,
 * or a live key re-labelled as test, does not verify.
 */

export const PEPPER_SECRET_ID = 'api-key-pepper';
export const PEPPER_PURPOSE = 'api-key-pepper';
export const HASH_BYTES = 32;
const PEPPER_BYTES = 32;

export function hashKeySecret(pepper: KeyObject, key: ParsedKey): Buffer {
  return createHmac('sha256', pepper).update(`${key.environment}:${key.id}:${key.secret}`).digest();
}

/** The stored form of a hash (base64url, as the `api_keys.secret_hash` column documents). */
export function encodeHash(hash: Buffer): string {
  return hash.toString('base64url');
}

export function decodeHash(stored: string): Buffer {
  return Buffer.from(stored, 'base64url');
}

/** Constant-time equality of two hashes; false (not an exception) on a length mismatch. */
export function hashesEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Loads the pepper, creating it on the very first start. Creation is insert-if-absent, then read
 * back: replicas starting together against a fresh database all end up with the same pepper (an
 * upsert would let the last writer replace a pepper another replica already hashed keys with).
 */
export async function loadPepper(opts: {
  store: Store;
  keys: MasterKeyRing;
  clock: Clock;
}): Promise<KeyObject> {
  const vault = createVault(opts);
  let encoded: string;
  try {
    encoded = await vault.get(PEPPER_SECRET_ID, PEPPER_PURPOSE);
  } catch (err) {
    if (!(err instanceof SecretNotFoundError)) throw err;
    await insertPepperIfAbsent(opts);
    encoded = await vault.get(PEPPER_SECRET_ID, PEPPER_PURPOSE);
  }
  const bytes = Buffer.from(encoded, 'base64');
  if (bytes.length !== PEPPER_BYTES)
    throw new Error(`secret ${PEPPER_SECRET_ID} does not hold ${PEPPER_BYTES} bytes`);
  const key = createSecretKey(bytes);
  bytes.fill(0);
  return key;
}

async function insertPepperIfAbsent({
  store,
  keys,
  clock,
}: {
  store: Store;
  keys: MasterKeyRing;
  clock: Clock;
}) {
  const raw = randomBytes(PEPPER_BYTES);
  const plaintext = Buffer.from(raw.toString('base64'), 'utf8');
  raw.fill(0);
  // The same sealing and columns as vault.put, but ON CONFLICT DO NOTHING (see loadPepper).
  const sealed = sealRecord(
    keys,
    { id: PEPPER_SECRET_ID, purpose: PEPPER_PURPOSE, workspaceId: null },
    plaintext,
  );
  plaintext.fill(0);
  const now = clock.now();
  await store.db
    .insertInto('secrets')
    .values({
      id: PEPPER_SECRET_ID,
      purpose: PEPPER_PURPOSE,
      workspace_id: null,
      master_key_version: sealed.masterKeyVersion,
      wrapped_key: sealed.wrappedKey,
      ciphertext: sealed.ciphertext,
      created_at: now,
      updated_at: now,
    })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
}
