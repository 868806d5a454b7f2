/**
 * Errors of key management (create, update, rotate…): for the CLI and the admin API, which map
 * them onto their own responses. Messages name fields and ids, never a secret. Errors of key
 * *verification* are catalogue errors (PortcullisError), because they go to data-plane clients.
 */
export type KeyErrorCode = 'key_not_found' | 'invalid_key_input' | 'key_not_active';

export class KeyError extends Error {
  readonly code: KeyErrorCode;
  /** The input field at fault, for invalid_key_input. */
  readonly field: string | undefined;

  constructor(code: KeyErrorCode, message: string, field?: string) {
    super(message);
    this.name = 'KeyError';
    this.code = code;
    this.field = field;
  }
}

export function invalidInput(field: string, message: string): KeyError {
  return new KeyError('invalid_key_input', `${field}: ${message}`, field);
}
