/**
 * Errors of the credentials and aliases control plane. Messages are written for the operator who
 * made the change: they name the field, the rule and the fix, and never contain a secret (nor a
 * full base URL, whose path could carry one; only its host).
 */
export type CredentialErrorCode =
  /** A field failed validation; `field` names it. */
  | 'invalid_credential'
  /** The base URL's address is refused by the egress policy (SSRF guard). */
  | 'base_url_refused'
  | 'credential_not_found'
  | 'credential_exists'
  /** The credential is a target of a model alias; change the alias first. */
  | 'credential_in_use'
  | 'invalid_alias'
  | 'alias_not_found'
  | 'workspace_not_found';

export class CredentialError extends Error {
  readonly code: CredentialErrorCode;
  /** The input field at fault (`baseUrl`, `models[2]`, `targets[0].credential` …), when there is one. */
  readonly field: string | undefined;

  constructor(code: CredentialErrorCode, message: string, field?: string) {
    super(message);
    this.name = 'CredentialError';
    this.code = code;
    this.field = field;
  }
}
