import { IdentityError } from './errors.ts';

/**
 * The three roles a member holds in a workspace (docs/rbac.md). What each may do is the matrix in
 * src/admin/rbac.ts; this file only names them.
 */
export const ROLES = ['owner', 'admin', 'user'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** Display form: `Owner`, `Admin`, `User`. */
export function roleTitle(role: Role): string {
  return role[0]?.toUpperCase() + role.slice(1);
}

/** Emails are compared and stored lower-cased and trimmed; RFC 5321 local parts are case-sensitive in theory, never in practice. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** A deliberately loose check (one @, a dot in the domain, no spaces): the real proof is the invitation reaching its owner. */
const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,255}\.[^\s@]{2,63}$/;

export function isEmail(email: string): boolean {
  return email.length <= 320 && EMAIL.test(email);
}

/** The normalised address, or an `invalid_user_input` error naming the `email` field. */
export function requireEmail(input: string): string {
  const email = normalizeEmail(input);
  if (!isEmail(email)) {
    throw new IdentityError('invalid_user_input', 'email must be an address like name@example.com', {
      field: 'email',
    });
  }
  return email;
}
