/**
 * Errors of the identity repositories and services, in their own codes (shared by the CLI); the
 * admin API maps them to the catalogue (src/admin/errors.ts). Messages name fields and ids, never
 * a password, token, code or hash.
 */
export type IdentityErrorCode =
  | 'invalid_user_input'
  | 'user_exists'
  | 'user_not_found'
  | 'member_not_found'
  | 'member_exists'
  | 'last_owner'
  | 'weak_password'
  | 'mfa_conflict'
  | 'invalid_invitation'
  | 'session_not_found';

export class IdentityError extends Error {
  readonly code: IdentityErrorCode;
  /** The request field the error is about, when there is one. */
  readonly field: string | undefined;
  /** For weak_password: the rule that failed. */
  readonly rule: string | undefined;
  constructor(code: IdentityErrorCode, message: string, opts: { field?: string; rule?: string } = {}) {
    super(message);
    this.name = 'IdentityError';
    this.code = code;
    this.field = opts.field;
    this.rule = opts.rule;
  }
}
