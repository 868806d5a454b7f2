/**
 * What the audit log records, and which detail keys each action may carry. Details are metadata
 * only (DESIGN.md invariant 1 and 2): names, ids, scopes, counts, codes — never a secret, a raw key,
 * a provider credential, or prompt and answer text. The allowlist is the enforcement: a detail key
 * not listed for its action is dropped before hashing, and a string that looks like a key or a
 * provider secret is replaced, so a careless caller cannot leak through the audit trail.
 */

export const AUDIT_ACTIONS = {
  'workspace.created': ['name'],
  'workspace.deleted': ['name'],
  'workspace.content_logging_enabled': ['name', 'retentionDays'],
  'workspace.content_logging_disabled': ['name'],
  'content.purged': ['deleted', 'before'],
  'key.created': [
    'name',
    'environment',
    'scopes',
    'models',
    'expiresAt',
    'limits',
    'allowIps',
    'allowOrigins',
  ],
  'key.updated': ['changed', 'scopes'],
  'key.revoked': ['name'],
  'key.rotated': ['name', 'graceSeconds'],
  'key.deleted': ['name'],
  'credential.added': ['name', 'provider', 'baseUrl', 'models'],
  'credential.updated': ['name', 'changed'],
  'credential.removed': ['name', 'provider'],
  'alias.set': ['name', 'targets'],
  'alias.removed': ['name'],
  'limits.set': ['scope', 'changed'],
  'guardrails.set': ['scope', 'changed'],
  'guardrails.removed': ['scope', 'changed'],
  'prices.set': ['model', 'changed'],
  'plans.set': ['name', 'changed'],
  'plans.removed': ['name', 'unassignedKeys', 'workspaceUnassigned'],
  'plans.assigned': ['plan', 'scope'],
  'plans.unassigned': ['plan', 'scope'],
  'auth.blocked': ['subject', 'failures', 'windowMs', 'cooldownMs'],
  'budget.threshold': ['scope', 'window', 'percent', 'usedUsd', 'limitUsd'],
  'request.refused': ['code', 'status', 'method', 'route', 'surface'],
  'guardrail.blocked': ['detector', 'where', 'code'],
  'auth.login': ['amr'],
  'auth.login_failed': ['reason'],
  'auth.locked': ['subject', 'failures', 'lockMs'],
  'auth.logout': [],
  'auth.refresh_reused': [],
  'auth.session_revoked': [],
  'user.created': [],
  'user.password_changed': ['revokedSessions'],
  'user.disabled': ['revokedSessions'],
  'user.enabled': [],
  'user.erased': ['memberships', 'revokedKeys', 'sessions'],
  'user.exported': [],
  'mfa.enrollment_started': [],
  'mfa.enabled': ['recoveryCodes'],
  'mfa.disabled': ['by'],
  'mfa.recovery_codes_regenerated': ['recoveryCodes'],
  'mfa.recovery_code_used': ['remaining'],
  'member.invited': ['role'],
  'member.invitation_revoked': ['role'],
  'member.added': ['role', 'invitation'],
  'member.role_changed': ['from', 'to'],
  'member.removed': ['role', 'revokedKeys'],
  'workspace.renamed': ['name', 'previous'],
  'workspace.settings_changed': ['changed', 'mfaRequired'],
  'workspace.restored': ['name'],
  'workspace.purged': ['keys', 'credentials', 'members'],
  'audit.exported': ['filters', 'count', 'sink'],
  'audit.pruned': ['throughSeq', 'deleted', 'before'],
} as const satisfies Record<string, readonly string[]>;

export type AuditAction = keyof typeof AUDIT_ACTIONS;
export type AuditOutcome = 'success' | 'failure' | 'denied';

/** Who did it, from where: the same for every entry a request produces. */
export interface AuditContext {
  /** `key_…`, a user id, `cli`, or `system`. */
  actor?: string | null;
  clientIp?: string | null;
  userAgent?: string | null;
  requestId?: string | null;
}

export interface AuditEvent extends AuditContext {
  action: AuditAction;
  outcome?: AuditOutcome;
  workspaceId?: string | null;
  target?: string | null;
  details?: Readonly<Record<string, unknown>>;
}

const MAX_STRING = 256;
const MAX_ITEMS = 50;
/** Portcullis keys and the common provider secret shapes (OpenAI/Anthropic `sk-…`, bearer-like blobs). */
const SECRET_LOOKING = /pcx_(?:live|test)_|\bsk-[A-Za-z0-9_-]{8,}|\b(?:ghp|xox[abp]|AKIA)[A-Za-z0-9_-]{8,}/;

function cleanString(value: string): string {
  if (SECRET_LOOKING.test(value)) return '[redacted]';
  return value.length > MAX_STRING ? `${value.slice(0, MAX_STRING)}…` : value;
}

function cleanValue(value: unknown, depth: number): unknown {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : Math.round(value);
  if (typeof value === 'string') return cleanString(value);
  if (depth > 2) return undefined;
  if (Array.isArray(value)) return value.slice(0, MAX_ITEMS).map((v) => cleanValue(v, depth + 1) ?? null);
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>).slice(0, MAX_ITEMS)) {
      const cleaned = cleanValue(v, depth + 1);
      if (cleaned !== undefined) out[cleanString(k)] = cleaned;
    }
    return out;
  }
  return undefined;
}

/** The event's details reduced to its action's allowlist, with secret-looking strings replaced. */
export function allowedDetails(
  action: AuditAction,
  details: Readonly<Record<string, unknown>> | undefined,
): Record<string, unknown> {
  const allowed: readonly string[] = AUDIT_ACTIONS[action];
  const out: Record<string, unknown> = {};
  if (!details) return out;
  for (const key of allowed) {
    const cleaned = cleanValue(details[key], 0);
    if (cleaned !== undefined) out[key] = cleaned;
  }
  return out;
}

export function isAuditAction(value: string): value is AuditAction {
  return Object.hasOwn(AUDIT_ACTIONS, value);
}

/** Short free-text fields (user agent, target) are bounded too. */
export function boundedText(value: string | null | undefined, max = MAX_STRING): string | null {
  if (value === null || value === undefined || value === '') return null;
  return cleanString(value.length > max ? value.slice(0, max) : value);
}
