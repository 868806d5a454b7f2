import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { keyIdOf } from '../audit/signer.ts';
import type { Clock } from '../clock.ts';
import { SecretNotFoundError } from '../secrets/errors.ts';
import type { Vault } from '../secrets/vault.ts';
import { newId } from '../util/ids.ts';

/**
 * User access tokens: JWTs (RFC 7519) signed with Ed25519 (EdDSA, RFC 8037) through `jose`, typed
 * `at+jwt` (RFC 9068), for the admin API. Short-lived (at most 15 minutes) and bound to a session:
 * the verifier checks the signature, the algorithm (only EdDSA: `alg: none` and HMAC confusion are
 * refused before any key is used), issuer, audience, type and expiry, and the caller then checks
 * that the session is still live, so logout and revocation take effect at once.
 *
 * The signing key is generated once per deployment and kept in the vault, envelope-encrypted; its
 * own id, not the audit checkpoint key (a token signature must never be usable as anything else).
 */

export const JWT_SECRET_ID = 'jwt-signing-key';
export const JWT_PURPOSE = 'jwt-signing-key';
const ISSUER = 'portcullis';
const AUDIENCE = 'portcullis-admin';
const TYPE = 'at+jwt';

export interface AccessClaims {
  userId: string;
  sessionId: string;
  amr: string[];
  expiresAt: number;
}

export interface AccessTokens {
  issue(input: {
    userId: string;
    sessionId: string;
    amr: string[];
  }): Promise<{ token: string; expiresAt: number }>;
  /** The claims of a valid token, or undefined for anything else (never throws for bad input). */
  verify(token: string): Promise<AccessClaims | undefined>;
}

/** Loads (or creates, once per deployment) the signing key and returns the token service. */
export async function loadAccessTokens(opts: {
  vault: Vault;
  clock: Clock;
  ttlSeconds: number;
}): Promise<AccessTokens> {
  const { vault, clock } = opts;
  let pkcs8: string;
  try {
    pkcs8 = await vault.get(JWT_SECRET_ID, JWT_PURPOSE);
  } catch (err) {
    if (!(err instanceof SecretNotFoundError)) throw err;
    const { privateKey } = generateKeyPairSync('ed25519');
    await vault.putIfAbsent({
      id: JWT_SECRET_ID,
      purpose: JWT_PURPOSE,
      workspaceId: null,
      plaintext: privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64'),
    });
    // Whoever won the race, everyone signs with the key that was stored.
    pkcs8 = await vault.get(JWT_SECRET_ID, JWT_PURPOSE);
  }
  const privateKey = createPrivateKey({ key: Buffer.from(pkcs8, 'base64'), format: 'der', type: 'pkcs8' });
  return accessTokensWith(privateKey, clock, opts.ttlSeconds);
}

/** RFC 9068 tokens are short-lived by design; ours never outlive 15 minutes, whatever is asked. */
export const MAX_ACCESS_TOKEN_TTL_SECONDS = 900;

export function accessTokensWith(privateKey: KeyObject, clock: Clock, requestedTtl: number): AccessTokens {
  const ttlSeconds = Math.min(Math.max(1, Math.floor(requestedTtl)), MAX_ACCESS_TOKEN_TTL_SECONDS);
  const publicKey = createPublicKey(privateKey);
  const kid = keyIdOf(publicKey);
  return {
    async issue({ userId, sessionId, amr }) {
      const nowSeconds = Math.floor(clock.now() / 1000);
      const exp = nowSeconds + ttlSeconds;
      const token = await new SignJWT({ sid: sessionId, amr })
        .setProtectedHeader({ alg: 'EdDSA', typ: TYPE, kid })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setSubject(userId)
        .setIssuedAt(nowSeconds)
        .setExpirationTime(exp)
        .setJti(newId('req'))
        .sign(privateKey);
      return { token, expiresAt: exp * 1000 };
    },
    async verify(token) {
      if (token.length > 4096) return undefined;
      try {
        const { payload, protectedHeader } = await jwtVerify(token, publicKey, {
          algorithms: ['EdDSA'],
          issuer: ISSUER,
          audience: AUDIENCE,
          typ: TYPE,
          requiredClaims: ['exp', 'iat', 'sub', 'sid'],
          currentDate: new Date(clock.now()),
        });
        if (protectedHeader.kid !== kid) return undefined;
        const { sub, sid, amr, exp } = payload;
        if (typeof sub !== 'string' || typeof sid !== 'string' || typeof exp !== 'number') return undefined;
        // A token claiming a lifetime longer than ours was not issued by us (defence in depth).
        if (typeof payload.iat !== 'number' || exp - payload.iat > ttlSeconds) return undefined;
        const methods = Array.isArray(amr) ? amr.filter((m): m is string => typeof m === 'string') : [];
        return { userId: sub, sessionId: sid, amr: methods, expiresAt: exp * 1000 };
      } catch (err) {
        if (err instanceof joseErrors.JOSEError) return undefined;
        throw err;
      }
    },
  };
}
