/**
 * Errors of the secrets layer. Messages name ids, versions and paths, never key material or
 * plaintext (security invariant 2 in DESIGN.md), so they are safe to log and to show an operator.
 */

export type MasterKeyErrorCode =
  /** The configured value is not base64 of 32 bytes or a valid "vN:<b64>,..." list. */
  | 'MASTER_KEY_INVALID'
  /** No key is configured and one may not be generated (PostgreSQL, or encrypted data exists). */
  | 'MASTER_KEY_MISSING'
  /** A configured version does not match the check value the database holds for it. */
  | 'MASTER_KEY_MISMATCH'
  /** Secrets are wrapped with a version that is not configured. */
  | 'MASTER_KEY_VERSION_MISSING'
  /** The local key file is unsafe to use (loose permissions, not a regular file). */
  | 'MASTER_KEY_FILE_UNSAFE';

export class MasterKeyError extends Error {
  readonly code: MasterKeyErrorCode;

  constructor(code: MasterKeyErrorCode, message: string) {
    super(message);
    this.name = 'MasterKeyError';
    this.code = code;
  }
}

/** A record failed authentication (wrong key, tampered or swapped columns) or its key version is absent. */
export class SecretDecryptError extends Error {
  readonly code = 'SECRET_DECRYPT_FAILED';
  readonly secretId: string;

  constructor(secretId: string, reason = 'wrong master key or tampered record') {
    super(`secret ${secretId} cannot be decrypted: ${reason}`);
    this.name = 'SecretDecryptError';
    this.secretId = secretId;
  }
}

export class SecretNotFoundError extends Error {
  readonly code = 'SECRET_NOT_FOUND';
  readonly secretId: string;

  constructor(secretId: string) {
    super(`secret ${secretId} does not exist`);
    this.name = 'SecretNotFoundError';
    this.secretId = secretId;
  }
}
