import { createHmac, type KeyObject } from 'node:crypto';
import { sql } from 'kysely';
import type { AuditContext, AuditEvent } from '../audit/events.ts';
import type { AuditLog, Described } from '../audit/log.ts';
import type { Clock } from '../clock.ts';
import { PortcullisError } from '../errors/catalogue.ts';
import type { Vault } from '../secrets/vault.ts';
import type { Store } from '../store/types.ts';
import type { Workspace, WorkspaceRepository } from '../workspaces/repository.ts';
import type { AccessTokens } from './access-tokens.ts';
import { IdentityError } from './errors.ts';
import { createInvitationRepository, type Invitation, type InvitationRepository } from './invitations.ts';
import type { LoginThrottle } from './lockout.ts';
import { createMemberRepository, type MemberRepository } from './members.ts';
import { mayInvite } from './membership.ts';
import { burnPasswordTime, checkPasswordPolicy, hashPassword, verifyPassword } from './password.ts';
import {
  hashRecoveryCode,
  isRecoveryCodeShaped,
  newRecoveryCodes,
  normalizeRecoveryCode,
  verifyRecoveryCode,
} from './recovery-codes.ts';
import type { Role } from './roles.ts';
import { createSessionStore, type Session, type SessionStore } from './sessions.ts';
import { newTotpSecret, totpQrSvg, totpUri, verifyTotp } from './totp.ts';
import { createUserRepository, toUser, type User, type UserRecord, type UserRepository } from './users.ts';

/**
 * Identity: logins, sessions, passwords, MFA, invitations and bootstrap, for the admin API and
 * the CLI alike. Control-plane changes (a user created, a password changed, MFA turned on or off,
 * a member joining) commit together with their audit entry (`audit.record`); authentication events
 * (logins, failures, refresh reuse, locks) go through `note`, the buffered durable writer.
 *
 * Answers never tell which part of a login was wrong: an unknown email, a wrong password and a
 * missing or wrong MFA code all get `invalid_credentials`, and an unknown email spends the same
 * argon2id time as a known one.
 */

export const TOTP_ISSUER = 'Portcullis';
/** Per schema, like the audit chain's lock (src/audit/log.ts), so test schemas do not serialise each other. */
const BOOTSTRAP_LOCK = sql`select pg_advisory_xact_lock(hashtext(current_schema() || '.portcullis.bootstrap'))`;
const MFA_SECRET_PURPOSE = 'totp-seed';

export interface LoginResult {
  accessToken: string;
  accessTokenExpiresAt: number;
  refreshToken: string;
  sessionId: string;
  user: User;
}

export interface Authenticated {
  user: UserRecord;
  session: Session;
  amr: string[];
}

export interface IdentityDeps {
  store: Store;
  clock: Clock;
  vault: Vault;
  pepper: KeyObject;
  audit: AuditLog;
  tokens: AccessTokens;
  throttle: LoginThrottle;
  workspaces: WorkspaceRepository;
  sessionTtlMs: number;
  /** Authentication events (buffered, durable). */
  note(event: AuditEvent): void;
}

export interface IdentityService {
  readonly users: UserRepository;
  readonly members: MemberRepository;
  readonly invitations: InvitationRepository;
  readonly sessions: SessionStore;
  login(input: { email: string; password: string; code?: string }, ctx: AuditContext): Promise<LoginResult>;
  refresh(refreshToken: string, ctx: AuditContext): Promise<LoginResult>;
  /** The user and live session behind an access token; throws invalid_access_token otherwise. */
  authenticate(accessToken: string): Promise<Authenticated>;
  logout(user: UserRecord, sessionId: string, ctx: AuditContext): Promise<void>;
  revokeSession(user: UserRecord, sessionId: string, ctx: AuditContext): Promise<boolean>;
  changePassword(
    user: UserRecord,
    keepSessionId: string | undefined,
    input: { currentPassword: string; newPassword: string },
    ctx: AuditContext,
  ): Promise<{ revokedSessions: number }>;
  /** Sets the password without the current one (the local CLI, for an operator). Ends every session. */
  resetPassword(userId: string, newPassword: string, ctx: AuditContext): Promise<{ revokedSessions: number }>;
  /** Needs the password again: a stolen access token alone must not attach an attacker's authenticator. */
  enrollMfa(
    user: UserRecord,
    password: string,
    ctx: AuditContext,
  ): Promise<{ secret: string; uri: string; qrSvg: string }>;
  confirmMfa(user: UserRecord, code: string, ctx: AuditContext): Promise<{ recoveryCodes: string[] }>;
  disableMfa(user: UserRecord, input: { password: string; code: string }, ctx: AuditContext): Promise<void>;
  regenerateRecoveryCodes(
    user: UserRecord,
    input: { password: string; code: string },
    ctx: AuditContext,
  ): Promise<{ recoveryCodes: string[] }>;
  /** A new user with a policy-checked password (no membership). */
  createUser(input: { email: string; password: string; name?: string }, ctx: AuditContext): Promise<User>;
  /** The first Owner and workspace; refused once any user exists. */
  bootstrap(
    input: { email: string; password: string; name?: string; workspace: string },
    ctx: AuditContext,
  ): Promise<{ user: User; workspace: Workspace }>;
  invite(
    input: { workspaceId: string; email: string; role: Role },
    ctx: AuditContext & { actor: string },
  ): Promise<{ token: string; invitation: Invitation }>;
  acceptInvitation(
    input: { token: string; password: string; code?: string; name?: string },
    ctx: AuditContext,
  ): Promise<{ user: User; workspaceId: string; role: Role }>;
}

function policyOrThrow(password: string, email: string, name?: string): void {
  const verdict = checkPasswordPolicy(password, { email, ...(name === undefined ? {} : { name }) });
  if (!verdict.ok)
    throw new IdentityError('weak_password', verdict.message, { field: 'password', rule: verdict.rule });
}

const invalidCredentials = () => new PortcullisError('invalid_credentials');
const invalidAccess = () =>
  new PortcullisError('invalid_access_token', {
    headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
  });

export function createIdentityService(deps: IdentityDeps): IdentityService {
  const { store, clock, vault, audit, tokens, throttle, pepper } = deps;
  const users = createUserRepository({ store, clock });
  const members = createMemberRepository({ store, clock });
  const invitations = createInvitationRepository({ store, clock, pepper });
  const sessions = createSessionStore({ store, clock, pepper });

  const who = (ctx: AuditContext, userId: string): AuditContext => ({ ...ctx, actor: ctx.actor ?? userId });

  async function issue(user: UserRecord, session: Session, refreshToken: string): Promise<LoginResult> {
    const access = await tokens.issue({ userId: user.id, sessionId: session.id, amr: session.amr });
    return {
      accessToken: access.token,
      accessTokenExpiresAt: access.expiresAt,
      refreshToken,
      sessionId: session.id,
      user: toUser(user),
    };
  }

  /**
   * Checks a second factor: a TOTP code (once: its step is recorded, a replay is refused) or an
   * unused recovery code (then used up). False for anything else, without saying which.
   */
  async function secondFactor(
    user: UserRecord,
    code: string | undefined,
    ctx: AuditContext,
  ): Promise<boolean> {
    if (code === undefined || user.mfa_secret_id === null || user.mfa_enabled_at === null) return false;
    const trimmed = code.replace(/\s+/g, '');
    if (/^\d{6}$/.test(trimmed)) {
      const secret = await vault.get(user.mfa_secret_id, MFA_SECRET_PURPOSE);
      const result = verifyTotp({
        secret,
        code: trimmed,
        now: clock.now(),
        lastStep: Number(user.mfa_last_step),
      });
      return result.ok && (await users.useTotpStep(user.id, result.step));
    }
    // One argon2id verification whatever was typed (the keyed lookup finds the only row it can
    // be), so the time does not say whether the password before it was right.
    const found = isRecoveryCodeShaped(code)
      ? await users.findRecoveryCode(user.id, recoveryLookup(user.id, code))
      : undefined;
    if (!found) {
      await spendCodeTime(code);
      return false;
    }
    if (!(await verifyRecoveryCode(found.hash, code)) || !(await users.useRecoveryCode(found.id)))
      return false;
    deps.note({
      ...who(ctx, user.id),
      action: 'mfa.recovery_code_used',
      target: user.id,
      details: { remaining: (await users.unusedRecoveryCodes(user.id)).length },
    });
    return true;
  }

  /** The keyed lookup value of a recovery code (see recovery_codes.lookup). */
  function recoveryLookup(userId: string, code: string): string {
    return createHmac('sha256', pepper)
      .update(`recovery:${userId}:${normalizeRecoveryCode(code)}`)
      .digest('base64url');
  }

  /** The argon2id time a recovery code would cost, spent when none is verified (equal timing). */
  async function spendCodeTime(code: string | undefined): Promise<void> {
    if (code !== undefined && !/^\d{6}$/.test(code.replace(/\s+/g, ''))) await burnPasswordTime(code);
  }

  async function recoveryRows(userId: string, codes: readonly string[]) {
    const hashes = await Promise.all(codes.map((c) => hashRecoveryCode(c)));
    return codes.map((c, i) => ({ hash: hashes[i] ?? '', lookup: recoveryLookup(userId, c) }));
  }

  /** Password (+ code when MFA is on) of a signed-in user, for sensitive changes. */
  async function reauthenticate(
    user: UserRecord,
    password: string,
    code: string | undefined,
    ctx: AuditContext,
  ) {
    const ok = await throttle.attempt(user.email, ctx.clientIp ?? '', async () => {
      const passwordOk = await verifyPassword(user.password_hash, password);
      // As at login: the code is checked (and spent) only after a right password.
      return passwordOk && (user.mfa_enabled_at === null || (await secondFactor(user, code, ctx)));
    });
    if (!ok) throw invalidCredentials();
  }

  const service: IdentityService = {
    users,
    members,
    invitations,
    sessions,

    async login(input, ctx) {
      const clientIp = ctx.clientIp ?? '';
      // Set inside the throttled attempt (a closure assignment TypeScript cannot follow).
      const found: { user?: UserRecord } = {};
      const ok = await throttle.attempt(input.email, clientIp, async () => {
        const user = await users.findByEmail(input.email);
        found.user = user;
        if (!user) {
          await burnPasswordTime(input.password);
          await spendCodeTime(input.code);
          return false;
        }
        const passwordOk = await verifyPassword(user.password_hash, input.password);
        // The code is checked only after a right password, so a guessed password cannot spend codes;
        // the answer is the same either way.
        const mfaOk =
          passwordOk && (user.mfa_enabled_at === null || (await secondFactor(user, input.code, ctx)));
        if (!passwordOk) await spendCodeTime(input.code);
        return passwordOk && mfaOk && user.disabled_at === null;
      });
      const user = found.user;
      if (!user || !ok) {
        deps.note({
          ...ctx,
          actor: user?.id ?? null,
          action: 'auth.login_failed',
          outcome: 'failure',
          target: user?.id ?? null,
          details: { reason: 'invalid_credentials' },
        });
        throw invalidCredentials();
      }
      await throttle.succeed(input.email);
      const amr = user.mfa_enabled_at === null ? ['pwd'] : ['pwd', 'otp'];
      const { session, refreshToken } = await sessions.create({
        userId: user.id,
        amr,
        clientIp: ctx.clientIp ?? null,
        userAgent: ctx.userAgent ?? null,
        ttlMs: deps.sessionTtlMs,
        // The stamp of the record whose hash was verified: if a change committed meanwhile, this
        // session is over at once (authenticate), wherever its row landed.
        passwordAt: Number(user.password_changed_at),
      });
      deps.note({ ...who(ctx, user.id), action: 'auth.login', target: session.id, details: { amr } });
      return issue(user, session, refreshToken);
    },

    async refresh(refreshToken, ctx) {
      const outcome = await sessions.rotate(refreshToken);
      if (!outcome.ok) {
        if (outcome.reason === 'reused') {
          deps.note({
            ...who(ctx, outcome.session.userId),
            action: 'auth.refresh_reused',
            outcome: 'denied',
            target: outcome.session.id,
          });
          throw new PortcullisError('refresh_token_reused');
        }
        throw new PortcullisError('invalid_refresh_token');
      }
      const user = await users.findById(outcome.session.userId);
      if (!user || user.disabled_at !== null) throw new PortcullisError('invalid_refresh_token');
      const stamp = outcome.session.passwordAt;
      if (stamp !== null && stamp !== Number(user.password_changed_at))
        throw new PortcullisError('invalid_refresh_token');
      return issue(user, outcome.session, outcome.refreshToken);
    },

    async authenticate(accessToken) {
      const claims = await tokens.verify(accessToken);
      if (!claims) throw invalidAccess();
      const session = await sessions.findActive(claims.sessionId);
      if (!session || session.userId !== claims.userId) throw invalidAccess();
      const user = await users.findById(claims.userId);
      if (!user || user.disabled_at !== null) throw invalidAccess();
      // A session of another password is over (changePassword revokes them too; this also ends a
      // login that verified the old password while the change was committing). Rows from before
      // migration 0007 carry no stamp: older than the last change means over.
      const changedAt = Number(user.password_changed_at);
      if (session.passwordAt !== null ? session.passwordAt !== changedAt : session.createdAt < changedAt)
        throw invalidAccess();
      return { user, session, amr: claims.amr };
    },

    async logout(user, sessionId, ctx) {
      await sessions.revoke(user.id, sessionId, 'logout');
      deps.note({ ...who(ctx, user.id), action: 'auth.logout', target: sessionId });
    },

    async revokeSession(user, sessionId, ctx) {
      const revoked = await sessions.revoke(user.id, sessionId, 'revoked_by_user');
      if (revoked) deps.note({ ...who(ctx, user.id), action: 'auth.session_revoked', target: sessionId });
      return revoked;
    },

    async changePassword(user, keepSessionId, input, ctx) {
      await reauthenticateWithoutCode(user, input.currentPassword, ctx);
      policyOrThrow(input.newPassword, user.email, user.name);
      const hash = await hashPassword(input.newPassword);
      return audit.record(
        who(ctx, user.id),
        async (tx) => {
          // Only over the password just verified: a reset (or another change) that committed since
          // this request loaded the user wins, and this one is refused like a wrong password.
          const stamp = await users.inTx(tx).setPassword(user.id, hash, Number(user.password_changed_at));
          if (stamp === undefined) throw invalidCredentials();
          const revoked = await revokeAllIn(tx, user.id, 'password_changed', keepSessionId);
          // The kept session has just proved the password: it carries the new stamp and counts
          // from now, or `authenticate` (which ends sessions of an older password) would end it too.
          if (keepSessionId !== undefined) {
            await tx.db
              .updateTable('sessions')
              .set({ created_at: clock.now(), password_at: stamp })
              .where('id', '=', keepSessionId)
              .where('user_id', '=', user.id)
              .where('revoked_at', 'is', null)
              .execute();
          }
          return { revokedSessions: revoked };
        },
        (r) => ({
          action: 'user.password_changed',
          target: user.id,
          details: { revokedSessions: r.revokedSessions },
        }),
      );
    },

    async resetPassword(userId, newPassword, ctx) {
      const user = await users.findById(userId);
      if (!user) throw new IdentityError('user_not_found', `no user "${userId}"`);
      policyOrThrow(newPassword, user.email, user.name);
      const hash = await hashPassword(newPassword);
      return audit.record(
        ctx,
        async (tx) => {
          await users.inTx(tx).setPassword(user.id, hash);
          return { revokedSessions: await revokeAllIn(tx, user.id, 'password_reset') };
        },
        (r) => ({
          action: 'user.password_changed',
          target: user.id,
          details: { revokedSessions: r.revokedSessions },
        }),
      );
    },

    async enrollMfa(user, password, ctx) {
      if (user.mfa_enabled_at !== null) {
        throw new IdentityError(
          'mfa_conflict',
          'MFA is already on; disable it first to enrol a new authenticator',
        );
      }
      await reauthenticateWithoutCode(user, password, ctx);
      const secret = newTotpSecret();
      const secretId = `totp_${user.id}`;
      await audit.record(
        who(ctx, user.id),
        async (tx) => {
          await vault
            .inTx(tx)
            .put({ id: secretId, purpose: MFA_SECRET_PURPOSE, workspaceId: null, plaintext: secret });
          await users.inTx(tx).setPendingMfa(user.id, secretId);
        },
        () => ({ action: 'mfa.enrollment_started', target: user.id }),
      );
      const uri = totpUri({ secret, account: user.email, issuer: TOTP_ISSUER });
      return { secret, uri, qrSvg: await totpQrSvg(uri) };
    },

    async confirmMfa(user, code, ctx) {
      if (user.mfa_enabled_at !== null) throw new IdentityError('mfa_conflict', 'MFA is already on');
      if (user.mfa_secret_id === null) {
        throw new IdentityError('mfa_conflict', 'no enrolment to confirm: start one with /auth/mfa/enroll');
      }
      // Throttled like every other code check: a wrong guess counts, a locked account waits.
      const secretId = user.mfa_secret_id;
      const checked: { step?: number } = {};
      const ok = await throttle.attempt(user.email, ctx.clientIp ?? '', async () => {
        const secret = await vault.get(secretId, MFA_SECRET_PURPOSE);
        const result = verifyTotp({ secret, code: code.replace(/\s+/g, ''), now: clock.now(), lastStep: 0 });
        if (result.ok) checked.step = result.step;
        return result.ok;
      });
      const step = checked.step;
      if (!ok || step === undefined) throw invalidCredentials();
      const codes = newRecoveryCodes(10);
      const rows = await recoveryRows(user.id, codes);
      await audit.record(
        who(ctx, user.id),
        async (tx) => {
          await users.inTx(tx).enableMfa(user.id, step);
          await users.inTx(tx).replaceRecoveryCodes(user.id, rows);
        },
        () => ({ action: 'mfa.enabled', target: user.id, details: { recoveryCodes: codes.length } }),
      );
      return { recoveryCodes: codes };
    },

    async disableMfa(user, input, ctx) {
      if (user.mfa_enabled_at === null) throw new IdentityError('mfa_conflict', 'MFA is not on');
      await reauthenticate(user, input.password, input.code, ctx);
      const secretId = user.mfa_secret_id;
      await audit.record(
        who(ctx, user.id),
        async (tx) => {
          await users.inTx(tx).disableMfa(user.id);
          if (secretId !== null) await vault.inTx(tx).delete(secretId);
        },
        () => ({ action: 'mfa.disabled', target: user.id }),
      );
    },

    async regenerateRecoveryCodes(user, input, ctx) {
      if (user.mfa_enabled_at === null) throw new IdentityError('mfa_conflict', 'MFA is not on');
      await reauthenticate(user, input.password, input.code, ctx);
      const codes = newRecoveryCodes(10);
      const rows = await recoveryRows(user.id, codes);
      await audit.record(
        who(ctx, user.id),
        (tx) => users.inTx(tx).replaceRecoveryCodes(user.id, rows),
        () => ({
          action: 'mfa.recovery_codes_regenerated',
          target: user.id,
          details: { recoveryCodes: codes.length },
        }),
      );
      return { recoveryCodes: codes };
    },

    async createUser(input, ctx) {
      policyOrThrow(input.password, input.email, input.name);
      const hash = await hashPassword(input.password);
      return audit.record(
        ctx,
        (tx) =>
          users
            .inTx(tx)
            .create({ email: input.email, passwordHash: hash, ...(input.name ? { name: input.name } : {}) }),
        (user) => ({ action: 'user.created', target: user.id }),
      );
    },

    async bootstrap(input, ctx) {
      policyOrThrow(input.password, input.email, input.name);
      const hash = await hashPassword(input.password);
      return audit.record(
        ctx,
        async (tx) => {
          // Two `portcullis init` runs against one PostgreSQL must not both see zero users (SQLite
          // transactions are serial already): hold a transaction-scoped lock across count and create.
          if (store.dialect === 'postgres') await BOOTSTRAP_LOCK.execute(tx.db);
          const repo = users.inTx(tx);
          if ((await repo.count()) > 0) {
            throw new IdentityError(
              'user_exists',
              'Portcullis is initialised already: users exist. Log in, or ask an Owner to invite you',
            );
          }
          const user = await repo.create({
            email: input.email,
            passwordHash: hash,
            ...(input.name ? { name: input.name } : {}),
          });
          const wsRepo = deps.workspaces.inTx(tx);
          const existing = await wsRepo.find(input.workspace);
          const workspace = existing ?? (await wsRepo.create(input.workspace));
          await members.inTx(tx).add(workspace.id, user.id, 'owner');
          return { user, workspace, created: !existing };
        },
        ({ user, workspace, created }): Described[] => [
          { action: 'user.created', target: user.id },
          ...(created
            ? [
                {
                  action: 'workspace.created' as const,
                  workspaceId: workspace.id,
                  target: workspace.id,
                  details: { name: workspace.name },
                },
              ]
            : []),
          { action: 'member.added', workspaceId: workspace.id, target: user.id, details: { role: 'owner' } },
        ],
      );
    },

    async invite(input, ctx) {
      const existing = await users.findByEmail(input.email);
      if (existing && (await members.find(input.workspaceId, existing.id))) {
        throw new IdentityError('member_exists', 'this email belongs to a member of the workspace already', {
          field: 'email',
        });
      }
      const { invitation, token } = await audit.record(
        ctx,
        (tx) => invitations.inTx(tx).create({ ...input, invitedBy: ctx.actor }),
        (created) => ({
          action: 'member.invited',
          workspaceId: input.workspaceId,
          target: created.invitation.id,
          details: { role: input.role },
        }),
      );
      return { token, invitation };
    },

    async acceptInvitation(input, ctx) {
      const clientIp = ctx.clientIp ?? '';
      const invitation = await invitations.findPending(input.token);
      if (!invitation) throw new PortcullisError('invalid_invitation');
      const existing = await users.findByEmail(invitation.email);
      let hash: string | undefined;
      if (existing) {
        // Joining with an existing account proves it is theirs exactly as a login does: its
        // password and, when MFA is on, a code — else an invitation would be a way around MFA.
        const ok = await throttle.attempt(invitation.email, clientIp, async () => {
          const passwordOk = await verifyPassword(existing.password_hash, input.password);
          const mfaOk =
            passwordOk &&
            (existing.mfa_enabled_at === null || (await secondFactor(existing, input.code, ctx)));
          return mfaOk && existing.disabled_at === null;
        });
        if (!ok) throw invalidCredentials();
      } else {
        await throttle.check(invitation.email, clientIp);
        policyOrThrow(input.password, invitation.email, input.name);
        hash = await hashPassword(input.password);
      }
      return audit.record(
        ctx,
        async (tx) => {
          if (!(await invitations.inTx(tx).markAccepted(invitation.id)))
            throw new PortcullisError('invalid_invitation');
          // An invitation is its sender's authority, deferred: it holds only while a user who sent
          // it is still a member who could send it, and not disabled (whatever path removed,
          // demoted, erased or disabled them, and however it raced this acceptance).
          if (invitation.invitedBy.startsWith('usr_')) {
            const sender = await members.inTx(tx).find(invitation.workspaceId, invitation.invitedBy);
            const account = await users.inTx(tx).findById(invitation.invitedBy);
            if (
              !sender ||
              !account ||
              account.disabled_at !== null ||
              !mayInvite(sender.role, invitation.role)
            )
              throw new PortcullisError('invalid_invitation');
          }
          const user = existing
            ? toUser(existing)
            : await users.inTx(tx).create({
                email: invitation.email,
                passwordHash: hash ?? '',
                ...(input.name ? { name: input.name } : {}),
              });
          await members.inTx(tx).add(invitation.workspaceId, user.id, invitation.role);
          return { user, workspaceId: invitation.workspaceId, role: invitation.role, created: !existing };
        },
        (r): Described[] => [
          ...(r.created ? [{ action: 'user.created' as const, actor: r.user.id, target: r.user.id }] : []),
          {
            action: 'member.added',
            actor: r.user.id,
            workspaceId: r.workspaceId,
            target: r.user.id,
            details: { role: r.role, invitation: invitation.id },
          },
        ],
      );
    },
  };

  async function reauthenticateWithoutCode(user: UserRecord, password: string, ctx: AuditContext) {
    const ok = await throttle.attempt(user.email, ctx.clientIp ?? '', () =>
      verifyPassword(user.password_hash, password),
    );
    if (!ok) throw invalidCredentials();
  }

  async function revokeAllIn(
    tx: { db: Store['db'] },
    userId: string,
    reason: string,
    keep?: string,
  ): Promise<number> {
    let query = tx.db
      .updateTable('sessions')
      .set({ revoked_at: clock.now(), revoked_reason: reason })
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null);
    if (keep !== undefined) query = query.where('id', '!=', keep);
    const result = await query.executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  return service;
}
