import type { ModelAlias } from '../credentials/aliases.ts';
import type { Credential } from '../credentials/repository.ts';
import type { ApiKeyRecord } from '../keys/types.ts';
import type { Workspace } from '../workspaces/repository.ts';
import type { AuditAction } from './events.ts';
import type { Described } from './log.ts';

/**
 * The audit entries control-plane changes produce, shared by the admin API and the CLI so both
 * surfaces record the same thing. Details are metadata (names, scopes, which fields changed) — the
 * allowlist in events.ts drops anything else.
 */

export function keyEvent(
  action: Extract<AuditAction, `key.${string}`>,
  record: ApiKeyRecord,
  extra: Record<string, unknown> = {},
): Described {
  return {
    action,
    workspaceId: record.workspaceId,
    target: record.id,
    details: {
      name: record.name,
      ...(action === 'key.created'
        ? {
            environment: record.environment,
            scopes: record.scopes,
            models: record.models,
            expiresAt: record.expiresAt,
            limits: record.limits,
            allowIps: record.allowIps,
            allowOrigins: record.allowOrigins,
          }
        : {}),
      ...extra,
    },
  };
}

export function credentialEvent(
  action: Extract<AuditAction, `credential.${string}`>,
  credential: Credential,
  changed?: readonly string[],
): Described {
  return {
    action,
    workspaceId: credential.workspaceId,
    target: credential.id,
    details: {
      name: credential.name,
      provider: credential.provider,
      ...(action === 'credential.added' ? { baseUrl: credential.baseUrl, models: credential.models } : {}),
      // Which fields changed, never their values: `secret` in this list means the secret was rotated.
      ...(changed ? { changed } : {}),
    },
  };
}

export function aliasEvent(action: Extract<AuditAction, `alias.${string}`>, alias: ModelAlias): Described {
  return {
    action,
    workspaceId: alias.workspaceId,
    target: alias.name,
    details: {
      name: alias.name,
      ...(action === 'alias.set' ? { targets: alias.targets.map((t) => `${t.credential}:${t.model}`) } : {}),
    },
  };
}

export function workspaceEvent(
  action: Extract<AuditAction, `workspace.${string}`>,
  workspace: Workspace,
): Described {
  return { action, workspaceId: workspace.id, target: workspace.id, details: { name: workspace.name } };
}

/** Field names present in a patch (values are not audited). */
export function changedFields(patch: object): string[] {
  return Object.entries(patch)
    .filter(([, v]) => v !== undefined)
    .map(([k]) => k)
    .sort();
}
