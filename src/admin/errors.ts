import { CredentialError } from '../credentials/errors.ts';
import { PortcullisError } from '../errors/catalogue.ts';
import { IdentityError } from '../identity/errors.ts';
import { KeyError } from '../keys/errors.ts';
import { WorkspaceError } from '../workspaces/repository.ts';

/**
 * The repositories speak in their own error codes (shared with the CLI); the admin API answers in
 * the catalogue's. Messages of repository errors name fields and ids, never secrets, so 4xx
 * messages pass them on. Anything else is rethrown untouched for the app's error handler (5xx).
 */

export type AdminResourceName =
  | 'workspace'
  | 'provider credential'
  | 'model alias'
  | 'API key'
  | 'member'
  | 'invitation'
  | 'session';

/**
 * The one "not found" of the admin API, used both for objects that do not exist and for objects
 * of another workspace: the body is the same, so a probe learns nothing.
 */
export function notFound(resource: AdminResourceName, id: string): PortcullisError {
  return new PortcullisError('resource_not_found', { vars: { resource, id: id.slice(0, 80) } });
}

const detail = (message: string): string => message.replace(/\.$/, '');

function invalid(message: string, field: string | undefined): PortcullisError {
  return new PortcullisError('invalid_request', { vars: { detail: detail(message) }, param: field ?? null });
}

function conflict(message: string): PortcullisError {
  return new PortcullisError('resource_conflict', { vars: { detail: detail(message) } });
}

/** Maps a repository error; `subject` is what the route was looking up, for its 404. */
export function toAdminError(err: unknown, subject?: { resource: AdminResourceName; id: string }): unknown {
  if (err instanceof CredentialError) {
    switch (err.code) {
      case 'invalid_credential':
      case 'invalid_alias':
      case 'base_url_refused':
        return invalid(err.message, err.field);
      case 'credential_exists':
      case 'credential_in_use':
        return conflict(err.message);
      case 'credential_not_found':
        // A credential named inside a body (an alias target) is a bad field, not a missing object.
        if (err.field !== undefined) return invalid(err.message, err.field);
        return notFound('provider credential', subject?.id ?? '');
      case 'alias_not_found':
        return notFound('model alias', subject?.id ?? '');
      case 'workspace_not_found':
        return notFound('workspace', subject?.id ?? '');
    }
  }
  if (err instanceof KeyError) {
    switch (err.code) {
      case 'invalid_key_input':
        return invalid(err.message, err.field);
      case 'key_not_active':
        return conflict(err.message);
      case 'key_not_found':
        return notFound('API key', subject?.id ?? '');
    }
  }
  if (err instanceof IdentityError) {
    switch (err.code) {
      case 'invalid_user_input':
        return invalid(err.message, err.field);
      case 'weak_password':
        return new PortcullisError('weak_password', {
          vars: { rule: err.rule ?? 'policy', detail: detail(err.message) },
          param: err.field ?? 'password',
        });
      case 'last_owner':
        return new PortcullisError('last_owner', { vars: { detail: detail(err.message) } });
      case 'invalid_invitation':
        return new PortcullisError('invalid_invitation');
      case 'user_exists':
      case 'member_exists':
      case 'mfa_conflict':
        return conflict(err.message);
      case 'member_not_found':
      case 'user_not_found':
        return notFound('member', subject?.id ?? '');
      case 'session_not_found':
        return notFound('session', subject?.id ?? '');
    }
  }
  if (err instanceof WorkspaceError) {
    switch (err.code) {
      case 'invalid_workspace_name':
        return invalid(err.message, 'name');
      case 'workspace_exists':
        return conflict(err.message);
      case 'workspace_not_found':
        return notFound('workspace', subject?.id ?? '');
    }
  }
  return err;
}
