import type { Kysely } from 'kysely';
import type { Dialect } from '../types.ts';
import { createTable, millis } from './helpers.ts';

/**
 * Identity and tenancy (issue 5, src/identity): users, their membership and role in workspaces,
 * invitations, login sessions and their refresh tokens, and MFA recovery codes.
 *
 * What is secret is never stored as given: passwords and recovery codes as argon2id (PHC strings),
 * refresh tokens and invitation tokens as HMAC-SHA256 under the vault-held pepper (like API keys),
 * the TOTP seed envelope-encrypted in `secrets` (users.mfa_secret_id points at it).
 */
export async function up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  const ms = millis(dialect);
  await createTable(db, dialect, 'users')
    .addColumn('id', 'text', (c) => c.primaryKey().notNull())
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('password_changed_at', ms, (c) => c.notNull())
    .addColumn('mfa_secret_id', 'text')
    .addColumn('mfa_enabled_at', ms)
    .addColumn('mfa_last_step', ms, (c) => c.notNull().defaultTo(0))
    .addColumn('disabled_at', ms)
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('updated_at', ms, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('users_email_uq').on('users').column('email').unique().execute();

  await createTable(db, dialect, 'workspace_members')
    .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('updated_at', ms, (c) => c.notNull())
    .addPrimaryKeyConstraint('workspace_members_pk', ['workspace_id', 'user_id'])
    .execute();
  await db.schema
    .createIndex('workspace_members_user_idx')
    .on('workspace_members')
    .column('user_id')
    .execute();

  await createTable(db, dialect, 'invitations')
    .addColumn('id', 'text', (c) => c.primaryKey().notNull())
    .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id'))
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull())
    .addColumn('invited_by', 'text', (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('expires_at', ms, (c) => c.notNull())
    .addColumn('accepted_at', ms)
    .addColumn('revoked_at', ms)
    .execute();
  await db.schema
    .createIndex('invitations_token_uq')
    .on('invitations')
    .column('token_hash')
    .unique()
    .execute();
  await db.schema
    .createIndex('invitations_workspace_idx')
    .on('invitations')
    .columns(['workspace_id', 'created_at'])
    .execute();

  // A session is one login: the family its refresh tokens belong to (OAuth 2.0 Security BCP §4.14).
  await createTable(db, dialect, 'sessions')
    .addColumn('id', 'text', (c) => c.primaryKey().notNull())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('amr', 'text', (c) => c.notNull())
    .addColumn('client_ip', 'text')
    .addColumn('user_agent', 'text')
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('last_used_at', ms, (c) => c.notNull())
    .addColumn('expires_at', ms, (c) => c.notNull())
    .addColumn('revoked_at', ms)
    .addColumn('revoked_reason', 'text')
    .execute();
  await db.schema
    .createIndex('sessions_user_idx')
    .on('sessions')
    .columns(['user_id', 'created_at'])
    .execute();

  await createTable(db, dialect, 'refresh_tokens')
    .addColumn('token_hash', 'text', (c) => c.primaryKey().notNull())
    .addColumn('session_id', 'text', (c) => c.notNull().references('sessions.id'))
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('used_at', ms)
    .execute();
  await db.schema
    .createIndex('refresh_tokens_session_idx')
    .on('refresh_tokens')
    .column('session_id')
    .execute();

  await createTable(db, dialect, 'recovery_codes')
    .addColumn('id', 'text', (c) => c.primaryKey().notNull())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('code_hash', 'text', (c) => c.notNull())
    .addColumn('lookup', 'text', (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('used_at', ms)
    .execute();
  await db.schema
    .createIndex('recovery_codes_user_idx')
    .on('recovery_codes')
    .columns(['user_id', 'lookup'])
    .execute();
}
