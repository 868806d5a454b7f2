import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';
import type { Clock } from '../clock.ts';
import { SecretNotFoundError } from '../secrets/errors.ts';
import type { Vault } from '../secrets/vault.ts';
import { transact } from '../store/tx.ts';
import type { Store } from '../store/types.ts';
import { canonicalJson } from './chain.ts';

/**
 * The checkpoint signing key: Ed25519 (RFC 8032) from node:crypto, generated once per deployment.
 * The private key lives in the vault (envelope-encrypted under the master key); the public key is
 * also kept in `meta` so `portcullis audit public-key` can export it for offline verification.
 */

export const SIGNING_SECRET_ID = 'audit-signing-key';
export const SIGNING_PURPOSE = 'audit-signing-key';
export const PUBLIC_KEY_META = 'audit.signing_public_key';
/** Domain separation: a checkpoint signature can never be mistaken for a signature over anything else. */
export const CHECKPOINT_DOMAIN = 'portcullis.audit.checkpoint.v1\n';

export interface CheckpointClaim {
  seq: number;
  hash: string;
  time: number;
  keyId: string;
}

/** The exact bytes a checkpoint signature covers. */
export function checkpointMessage(claim: CheckpointClaim): Buffer {
  return Buffer.from(
    CHECKPOINT_DOMAIN +
      canonicalJson({ hash: claim.hash, keyId: claim.keyId, seq: claim.seq, time: claim.time }),
    'utf8',
  );
}

/** First 16 hex characters of SHA-256 over the raw 32-byte public key. */
export function keyIdOf(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' });
  return createHash('sha256')
    .update(Buffer.from(jwk.x ?? '', 'base64url'))
    .digest('hex')
    .slice(0, 16);
}

export interface CheckpointVerifier {
  keyId: string;
  publicKeyPem: string;
  verify(claim: CheckpointClaim, signature: string): boolean;
}

export interface CheckpointSigner extends CheckpointVerifier {
  sign(claim: Omit<CheckpointClaim, 'keyId'>): { keyId: string; signature: string };
}

export function verifierFromPem(pem: string): CheckpointVerifier {
  const publicKey = createPublicKey(pem);
  if (publicKey.asymmetricKeyType !== 'ed25519') throw new TypeError('the audit public key must be Ed25519');
  const keyId = keyIdOf(publicKey);
  return {
    keyId,
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    verify(claim, signature) {
      if (claim.keyId !== keyId) return false;
      try {
        return verify(null, checkpointMessage(claim), publicKey, Buffer.from(signature, 'base64'));
      } catch {
        return false;
      }
    },
  };
}

function signerFrom(privateKey: KeyObject): CheckpointSigner {
  const verifier = verifierFromPem(
    createPublicKey(privateKey).export({ format: 'pem', type: 'spki' }).toString(),
  );
  return {
    ...verifier,
    sign(claim) {
      const full = { ...claim, keyId: verifier.keyId };
      return {
        keyId: verifier.keyId,
        signature: sign(null, checkpointMessage(full), privateKey).toString('base64'),
      };
    },
  };
}

/** The public key recorded in the store, if a signing key exists yet. */
export async function storedVerifier(store: Pick<Store, 'db'>): Promise<CheckpointVerifier | undefined> {
  const row = await store.db
    .selectFrom('meta')
    .select('value')
    .where('key', '=', PUBLIC_KEY_META)
    .executeTakeFirst();
  return row ? verifierFromPem(row.value) : undefined;
}

/**
 * Loads the signing key, creating it on first use. Replicas starting together race safely: the
 * `meta` row is the arbiter (primary key), so a loser's transaction rolls back whole (its vault
 * write included) and it loads the winner's key.
 */
export async function loadCheckpointSigner(deps: {
  store: Store;
  vault: Vault;
  clock: Clock;
}): Promise<CheckpointSigner> {
  const { store, vault, clock } = deps;
  const load = async (): Promise<CheckpointSigner | undefined> => {
    try {
      const pkcs8 = await vault.get(SIGNING_SECRET_ID, SIGNING_PURPOSE);
      return signerFrom(
        createPrivateKey({ key: Buffer.from(pkcs8, 'base64'), format: 'der', type: 'pkcs8' }),
      );
    } catch (err) {
      if (err instanceof SecretNotFoundError) return undefined;
      throw err;
    }
  };
  const existing = await load();
  if (existing) return existing;
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  try {
    await transact(store, async (tx) => {
      await vault.inTx(tx).put({
        id: SIGNING_SECRET_ID,
        purpose: SIGNING_PURPOSE,
        workspaceId: null,
        plaintext: privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64'),
      });
      await tx.db
        .insertInto('meta')
        .values({
          key: PUBLIC_KEY_META,
          value: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
          updated_at: clock.now(),
        })
        .execute();
    });
  } catch (err) {
    const winner = await load();
    if (winner) return winner;
    throw err;
  }
  const created = await load();
  if (!created) throw new Error('the audit signing key could not be stored');
  return created;
}
