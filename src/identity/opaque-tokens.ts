import { createHmac, type KeyObject, randomBytes } from 'node:crypto';

/**
 * Opaque bearer tokens (refresh tokens, invitation tokens): 256 random bits behind a recognisable
 * prefix, stored only as HMAC-SHA256 under the vault-held pepper, the same way as API keys
 * (src/keys/hash.ts). The kind is bound into the hash, so a refresh token's hash can never match
 * an invitation's. Lookups go by hash (an indexed equality), so no secret is ever compared.
 */
export type OpaqueKind = 'refresh' | 'invite';

const PREFIX: Record<OpaqueKind, string> = { refresh: 'pcr_', invite: 'pci_' };
const SHAPE: Record<OpaqueKind, RegExp> = {
  refresh: /^pcr_[A-Za-z0-9_-]{43}$/,
  invite: /^pci_[A-Za-z0-9_-]{43}$/,
};

export function newOpaqueToken(kind: OpaqueKind): string {
  return PREFIX[kind] + randomBytes(32).toString('base64url');
}

/** The stored form; undefined for anything not shaped like a token of this kind (no lookup then). */
export function hashOpaqueToken(pepper: KeyObject, kind: OpaqueKind, token: string): string | undefined {
  if (!SHAPE[kind].test(token)) return undefined;
  return createHmac('sha256', pepper).update(`${kind}:${token}`).digest('base64url');
}
