import type { Role } from '../identity/roles.ts';
import type { Scope } from '../keys/types.ts';

/**
 * The role matrix (docs/rbac.md renders the same table; a test keeps them in step): for every
 * admin action, what each role may do — `all`, `own` (only objects the user created: their own
 * keys, their own usage) or nothing — and which scope a management API key needs for it. A key
 * never gets an Owner-only action (`key: null`): a management key acts at most as an Admin, so a
 * leaked key cannot take over owners, delete the workspace, move budgets or turn MFA off.
 */

export type Grant = 'all' | 'own' | 'none';

export interface ActionRule {
  owner: Grant;
  admin: Grant;
  user: Grant;
  /** The scope a management API key needs, or null: users only. */
  key: Scope | null;
  /** What the action is, in words, for docs/rbac.md and for 403 messages. */
  what: string;
}

const OWNER_ONLY = { owner: 'all', admin: 'none', user: 'none', key: null } as const;
const MANAGE = { owner: 'all', admin: 'all', user: 'none' } as const;
const READ_ALL = { owner: 'all', admin: 'all', user: 'all', key: 'admin:read' } as const;

export const ROLE_MATRIX = {
  'workspace:read': { ...READ_ALL, what: 'reading the workspace' },
  'workspace:write': { ...MANAGE, key: 'admin:write', what: 'renaming the workspace' },
  'workspace:delete': { ...OWNER_ONLY, what: 'deleting or restoring the workspace' },
  'workspace:security': { ...OWNER_ONLY, what: "changing the workspace's MFA policy" },
  'members:read': { ...MANAGE, key: 'admin:read', what: 'listing members and invitations' },
  'members:write': { ...MANAGE, key: 'admin:write', what: 'inviting, changing or removing Admins and Users' },
  'owners:write': { ...OWNER_ONLY, what: 'granting, changing or removing the Owner role' },
  'keys:read': { owner: 'all', admin: 'all', user: 'own', key: 'admin:read', what: 'reading API keys' },
  'keys:write': {
    owner: 'all',
    admin: 'all',
    user: 'own',
    key: 'admin:write',
    what: 'creating, changing, rotating or revoking API keys',
  },
  'credentials:read': { ...MANAGE, key: 'admin:read', what: 'reading provider credentials (masked)' },
  'credentials:write': {
    ...MANAGE,
    key: 'admin:write',
    what: 'adding, changing or removing provider credentials',
  },
  'aliases:read': { ...READ_ALL, what: 'reading model aliases' },
  'aliases:write': { ...MANAGE, key: 'admin:write', what: 'changing model aliases' },
  'guardrails:read': { ...READ_ALL, what: 'reading guardrail policies' },
  'guardrails:write': { ...MANAGE, key: 'admin:write', what: 'changing guardrail policies' },
  'limits:read': { ...MANAGE, key: 'admin:read', what: 'reading limits and usage against them' },
  'limits:write': { ...MANAGE, key: 'admin:write', what: 'changing rate and token limits' },
  'budgets:write': { ...OWNER_ONLY, what: "changing the workspace's spend budget" },
  'audit:read': { ...MANAGE, key: 'admin:read', what: 'reading the audit log' },
  'usage:read': {
    owner: 'all',
    admin: 'all',
    user: 'own',
    key: 'admin:read',
    what: 'reading usage and cost',
  },
} as const satisfies Record<string, ActionRule>;

export type AdminAction = keyof typeof ROLE_MATRIX;
export const ADMIN_ACTIONS = Object.keys(ROLE_MATRIX) as AdminAction[];

export function ruleOf(action: AdminAction): ActionRule {
  return ROLE_MATRIX[action];
}

/** What a member of `role` may grant to API keys they create: Users only data-plane scopes. */
export function grantableScopes(
  role: Role,
  all: readonly Scope[],
  dataPlane: readonly Scope[],
): readonly Scope[] {
  return role === 'user' ? dataPlane : all;
}
