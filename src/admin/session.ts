import { Type as T } from '@sinclair/typebox';
import { exportSubject } from '../identity/subject.ts';
import type { UserActor } from './auth.ts';
import { notFound } from './errors.ts';
import {
  Accepted,
  AcceptInvitationBody,
  ConfirmMfaBody,
  EnrollMfaBody,
  LoginBody,
  Me,
  MfaEnrollment,
  PasswordChangeBody,
  ReauthBody,
  RecoveryCodes,
  RefreshBody,
  SessionOut,
  SessionParams,
  SubjectExportOut,
  TokensOut,
} from './identity-schemas.ts';
import { type AdminDeps, type AdminRoute, route } from './route.ts';
import { listOf } from './schemas.ts';

/**
 * Logging in and staying logged in: login, refresh (rotating), logout, own sessions, password
 * change, MFA enrolment and recovery codes, and accepting an invitation. The three routes without
 * credentials (login, refresh, accept) answer alike for every kind of wrong input and are
 * throttled per account and per client IP (src/identity/lockout.ts).
 */
export function sessionRoutes(deps: AdminDeps): AdminRoute[] {
  const { identity } = deps;
  const asUser = (actor: unknown): UserActor => actor as UserActor;
  const tokensOut = (r: Awaited<ReturnType<typeof identity.login>>) => ({
    tokenType: 'Bearer' as const,
    ...r,
  });

  return [
    route({
      method: 'POST',
      path: '/auth/login',
      auth: 'public',
      action: null,
      tag: 'auth',
      summary: 'Log in with email and password (and an MFA code when MFA is on)',
      description:
        'Every failure is 401 invalid_credentials, whether the email is unknown, the password wrong, or the code missing or wrong. ' +
        'Repeated failures per account and per client IP wait progressively longer, then lock (429 too_many_login_failures).',
      body: LoginBody,
      status: 200,
      response: TokensOut,
      async handler({ body, context }) {
        return tokensOut(await identity.login(body, context));
      },
    }),
    route({
      method: 'POST',
      path: '/auth/refresh',
      auth: 'public',
      action: null,
      tag: 'auth',
      summary: 'Exchange a refresh token for a new access token and a new refresh token',
      description:
        'Each refresh token works once. Presenting one again revokes its whole session (401 refresh_token_reused).',
      body: RefreshBody,
      status: 200,
      response: TokensOut,
      async handler({ body, context }) {
        return tokensOut(await identity.refresh(body.refreshToken, context));
      },
    }),
    route({
      method: 'POST',
      path: '/auth/invitations/accept',
      auth: 'public',
      action: null,
      tag: 'auth',
      summary: 'Accept an invitation: create the account, or join with an existing one (its password)',
      body: AcceptInvitationBody,
      status: 200,
      response: Accepted,
      async handler({ body, context }) {
        const r = await identity.acceptInvitation(body, context);
        return { user: r.user, workspace: { id: r.workspaceId, role: r.role } };
      },
    }),
    route({
      method: 'POST',
      path: '/auth/logout',
      auth: 'user',
      action: null,
      tag: 'auth',
      summary: 'End this session (its access and refresh tokens stop working at once)',
      bodyOptional: true,
      body: T.Object({}, { additionalProperties: false }),
      status: 200,
      response: T.Object({ loggedOut: T.Literal(true) }),
      async handler({ actor, context }) {
        const me = asUser(actor);
        await identity.logout(me.user, me.sessionId, context);
        return { loggedOut: true as const };
      },
    }),
    route({
      method: 'GET',
      path: '/auth/me',
      auth: 'user',
      action: null,
      tag: 'auth',
      summary: 'Who am I: the user, this session and my workspaces with my role in each',
      status: 200,
      response: Me,
      async handler({ actor }) {
        const me = asUser(actor);
        const session = await identity.sessions.findActive(me.sessionId);
        const memberships = await identity.members.membershipsOf(me.id);
        return {
          user: { ...toUserOut(me) },
          session: { id: me.sessionId, amr: session?.amr ?? [], expiresAt: session?.expiresAt ?? 0 },
          workspaces: memberships.map((m) => ({ id: m.workspaceId, name: m.workspaceName, role: m.role })),
        };
      },
    }),
    route({
      method: 'GET',
      path: '/auth/me/export',
      auth: 'user',
      action: null,
      tag: 'auth',
      summary: 'Everything Portcullis holds about me, as JSON (data-subject access request; audited)',
      status: 200,
      response: SubjectExportOut,
      async handler({ actor, context }) {
        const data = await exportSubject({ store: deps.store, identity }, actor.id);
        await deps.audit.record(
          context,
          async () => undefined,
          () => ({ action: 'user.exported', target: actor.id }),
        );
        return data;
      },
    }),
    route({
      method: 'GET',
      path: '/auth/sessions',
      auth: 'user',
      action: null,
      tag: 'auth',
      summary: 'My live sessions',
      status: 200,
      response: listOf(SessionOut),
      async handler({ actor }) {
        const me = asUser(actor);
        const sessions = await identity.sessions.listActive(me.id);
        return { data: sessions.map((s) => ({ ...s, current: s.id === me.sessionId })) };
      },
    }),
    route({
      method: 'DELETE',
      path: '/auth/sessions/:id',
      auth: 'user',
      action: null,
      tag: 'auth',
      summary: 'Revoke one of my sessions',
      params: SessionParams,
      status: 200,
      response: T.Object({ id: T.String(), revoked: T.Literal(true) }),
      async handler({ actor, params, context }) {
        const me = asUser(actor);
        if (!(await identity.revokeSession(me.user, params.id, context)))
          throw notFound('session', params.id);
        return { id: params.id, revoked: true as const };
      },
    }),
    route({
      method: 'POST',
      path: '/auth/password',
      auth: 'user',
      action: null,
      tag: 'auth',
      summary: 'Change my password (every other session is revoked)',
      body: PasswordChangeBody,
      status: 200,
      response: T.Object({ revokedSessions: T.Integer() }),
      async handler({ actor, body, context }) {
        const me = asUser(actor);
        return identity.changePassword(me.user, me.sessionId, body, context);
      },
    }),
    route({
      method: 'POST',
      path: '/auth/mfa/enroll',
      auth: 'user',
      action: null,
      tag: 'auth',
      summary:
        'Start TOTP enrolment (needs the password): returns the otpauth URI and a QR code; confirm with a first code',
      body: EnrollMfaBody,
      status: 200,
      response: MfaEnrollment,
      async handler({ actor, body, context }) {
        const me = asUser(actor);
        const r = await identity.enrollMfa(me.user, body.password, context);
        return { secret: r.secret, otpauthUri: r.uri, qrSvg: r.qrSvg };
      },
    }),
    route({
      method: 'POST',
      path: '/auth/mfa/confirm',
      auth: 'user',
      action: null,
      tag: 'auth',
      summary: 'Confirm enrolment with a first code: MFA is on; returns ten recovery codes, once',
      body: ConfirmMfaBody,
      status: 200,
      response: RecoveryCodes,
      async handler({ actor, body, context }) {
        return identity.confirmMfa(asUser(actor).user, body.code, context);
      },
    }),
    route({
      method: 'POST',
      path: '/auth/mfa/disable',
      auth: 'user',
      action: null,
      tag: 'auth',
      summary: 'Turn MFA off (needs the password and a code)',
      body: ReauthBody,
      status: 200,
      response: T.Object({ mfaEnabled: T.Literal(false) }),
      async handler({ actor, body, context }) {
        await identity.disableMfa(asUser(actor).user, body, context);
        return { mfaEnabled: false as const };
      },
    }),
    route({
      method: 'POST',
      path: '/auth/mfa/recovery-codes',
      auth: 'user',
      action: null,
      tag: 'auth',
      summary: 'Replace my recovery codes (needs the password and a code); the old ones stop working',
      body: ReauthBody,
      status: 200,
      response: RecoveryCodes,
      async handler({ actor, body, context }) {
        return identity.regenerateRecoveryCodes(asUser(actor).user, body, context);
      },
    }),
  ];
}

function toUserOut(me: UserActor) {
  return {
    id: me.user.id,
    email: me.user.email,
    name: me.user.name,
    mfaEnabled: me.user.mfa_enabled_at !== null,
    createdAt: Number(me.user.created_at),
  };
}
