import { Type as T } from '@sinclair/typebox';
import { ROLES } from '../identity/roles.ts';
import { Millis } from './schemas.ts';

/**
 * Shapes of the identity routes (users, sessions, MFA, workspaces, members). Like schemas.ts:
 * bodies are closed (a `role`, `workspaceId` or `owner` field that is not declared is refused),
 * and responses pass through these shapes, so no hash, seed or token leaves unless declared here —
 * and the only tokens declared are the ones a response exists to hand out, once.
 */

const closed = { additionalProperties: false } as const;
const Email = T.String({ minLength: 3, maxLength: 320, description: 'Email address (case-insensitive).' });
/** Bounded so argon2id never runs on megabytes; the policy (12+) is checked with a clear error. */
const Password = T.String({ minLength: 1, maxLength: 1024, description: 'Password.' });
const Code = T.String({
  minLength: 6,
  maxLength: 32,
  description: 'A 6-digit TOTP code, or one of the recovery codes.',
});
const RoleName = T.Union(
  ROLES.map((r) => T.Literal(r)),
  { description: 'owner, admin or user (docs/rbac.md).' },
);

export const LoginBody = T.Object(
  {
    email: Email,
    password: Password,
    code: T.Optional(Code),
  },
  closed,
);
export const RefreshBody = T.Object(
  { refreshToken: T.String({ minLength: 1, maxLength: 200, description: 'The refresh token (`pcr_…`).' }) },
  closed,
);

export const UserOut = T.Object({
  id: T.String(),
  email: T.String(),
  name: T.String(),
  mfaEnabled: T.Boolean(),
  createdAt: Millis,
});

export const TokensOut = T.Object({
  tokenType: T.Literal('Bearer'),
  accessToken: T.String({ description: 'JWT (EdDSA), at most 15 minutes; send as Authorization: Bearer.' }),
  accessTokenExpiresAt: Millis,
  refreshToken: T.String({ description: 'Opaque, single use: each refresh returns a new one.' }),
  sessionId: T.String(),
  user: UserOut,
});

export const Me = T.Object({
  user: UserOut,
  session: T.Object({ id: T.String(), amr: T.Array(T.String()), expiresAt: Millis }),
  workspaces: T.Array(T.Object({ id: T.String(), name: T.String(), role: T.String() })),
});

export const SessionOut = T.Object({
  id: T.String(),
  current: T.Boolean(),
  amr: T.Array(T.String()),
  clientIp: T.Union([T.String(), T.Null()]),
  userAgent: T.Union([T.String(), T.Null()]),
  createdAt: Millis,
  lastUsedAt: Millis,
  expiresAt: Millis,
});
export const SessionParams = T.Object({ id: T.String({ pattern: '^ses_[A-Za-z0-9_-]{22}$' }) }, closed);

export const PasswordChangeBody = T.Object({ currentPassword: Password, newPassword: Password }, closed);
export const ConfirmMfaBody = T.Object({ code: Code }, closed);
export const EnrollMfaBody = T.Object({ password: Password }, closed);
export const ReauthBody = T.Object({ password: Password, code: Code }, closed);
export const MfaEnrollment = T.Object({
  secret: T.String({ description: 'Base32 TOTP seed, for authenticators that cannot scan.' }),
  otpauthUri: T.String(),
  qrSvg: T.String({ description: 'The otpauth URI as an SVG QR code.' }),
});
export const RecoveryCodes = T.Object({
  recoveryCodes: T.Array(T.String(), { description: 'Ten one-time codes, shown only in this response.' }),
});

export const AcceptInvitationBody = T.Object(
  {
    token: T.String({ minLength: 1, maxLength: 200, description: 'The invitation token (`pci_…`).' }),
    password: Password,
    code: T.Optional(Code),
    name: T.Optional(T.String({ minLength: 1, maxLength: 100 })),
  },
  closed,
);
export const Accepted = T.Object({
  user: UserOut,
  workspace: T.Object({ id: T.String(), role: T.String() }),
});

// ---- workspaces ----
export const WorkspaceDetail = T.Object({
  id: T.String(),
  name: T.String(),
  createdAt: Millis,
  mfaRequired: T.Boolean(),
  role: T.Union([T.String(), T.Null()], { description: "The caller's role (null for API keys)." }),
});
export const MyWorkspace = T.Object({ id: T.String(), name: T.String(), role: T.String() });
export const CreateWorkspaceBody = T.Object({ name: T.String({ minLength: 1, maxLength: 63 }) }, closed);
export const UpdateWorkspaceBody = T.Object(
  {
    name: T.Optional(T.String({ minLength: 1, maxLength: 63 })),
    mfaRequired: T.Optional(T.Boolean({ description: 'Owner only: members must enrol in MFA to act here.' })),
  },
  { ...closed, minProperties: 1 },
);
export const DeletedWorkspace = T.Object({
  id: T.String(),
  name: T.String(),
  deleted: T.Literal(true),
  restorableUntil: Millis,
});
export const WorkspaceIdParams = T.Object({ id: T.String({ pattern: '^wsp_[A-Za-z0-9_-]{22}$' }) }, closed);

// ---- members ----
export const MemberOut = T.Object({
  userId: T.String(),
  email: T.String(),
  name: T.String(),
  role: T.String(),
  mfaEnabled: T.Boolean(),
  joinedAt: Millis,
});
export const InviteBody = T.Object({ email: Email, role: RoleName }, closed);
export const InvitationOut = T.Object({
  id: T.String(),
  email: T.String(),
  role: T.String(),
  invitedBy: T.String(),
  createdAt: Millis,
  expiresAt: Millis,
});
export const InvitationCreated = T.Object({
  ...InvitationOut.properties,
  token: T.String({
    description: 'Shown once: the invitee accepts with it (POST /auth/invitations/accept).',
  }),
});
export const InvitationParams = T.Object({ id: T.String({ pattern: '^inv_[A-Za-z0-9_-]{22}$' }) }, closed);
export const MemberParams = T.Object({ userId: T.String({ pattern: '^usr_[A-Za-z0-9_-]{22}$' }) }, closed);
export const ChangeRoleBody = T.Object({ role: RoleName }, closed);
export const MemberRemoved = T.Object({
  userId: T.String(),
  removed: T.Literal(true),
  revokedKeys: T.Integer(),
});

// ---- data-subject export (GDPR Art. 15) ----
const Nullable = <S extends ReturnType<typeof T.String>>(schema: S) => T.Union([schema, T.Null()]);
export const SubjectExportOut = T.Object({
  user: T.Object({
    id: T.String(),
    email: T.String(),
    name: T.String(),
    mfaEnabled: T.Boolean(),
    disabled: T.Boolean(),
    createdAt: Millis,
  }),
  memberships: T.Array(T.Object({ workspaceId: T.String(), workspaceName: T.String(), role: T.String() })),
  sessions: T.Array(
    T.Object({
      id: T.String(),
      clientIp: Nullable(T.String()),
      userAgent: Nullable(T.String()),
      createdAt: Millis,
      lastUsedAt: Millis,
      revokedAt: T.Union([Millis, T.Null()]),
    }),
  ),
  keys: T.Array(
    T.Object({
      id: T.String(),
      workspaceId: T.String(),
      name: T.String(),
      masked: T.String(),
      status: T.String(),
      createdAt: Millis,
    }),
  ),
  usage: T.Array(
    T.Object({
      day: T.String(),
      workspaceId: T.String(),
      requests: T.Integer(),
      inputTokens: T.Integer(),
      outputTokens: T.Integer(),
    }),
  ),
  audit: T.Array(
    T.Object({
      seq: T.Integer(),
      time: Millis,
      action: T.String(),
      workspaceId: Nullable(T.String()),
      target: Nullable(T.String()),
      clientIp: Nullable(T.String()),
      userAgent: Nullable(T.String()),
      outcome: T.String(),
    }),
  ),
});
