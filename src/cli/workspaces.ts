import { workspaceEvent } from '../audit/describe.ts';
import type { Described } from '../audit/log.ts';
import { IdentityError } from '../identity/errors.ts';
import { purgeDeletedWorkspaces } from '../workspaces/purge.ts';
import type { Command } from './context.ts';
import { withIdentity } from './identity.ts';
import { withLocal } from './local.ts';
import { isRemote, openRemote, REMOTE_OPTIONS, REMOTE_USAGE } from './remote.ts';
import { optionalFlag, requireFlag, table, UsageError } from './usage.ts';

/**
 * Workspaces: locally on the store (the operator), or with --url through the admin API as the
 * token's user (who creates becomes Owner; delete and restore need the Owner role there).
 */

export const workspacesCreateCommand: Command = {
  name: ['workspaces', 'create'],
  summary: 'Create a workspace (a tenant: its keys, credentials and policies are its own).',
  usage: `portcullis workspaces create --name NAME [--owner EMAIL] [--config FILE] [--json]\n  ${REMOTE_USAGE}`,
  options: { ...REMOTE_OPTIONS, name: { type: 'string' }, owner: { type: 'string' } },
  async run(ctx, values) {
    const name = requireFlag(values, 'name');
    if (isRemote(values)) {
      const ws = (await (await openRemote(ctx, values)).call('POST', '/workspaces', { name })) as {
        id: string;
      };
      return { data: ws, text: `created workspace "${name}" (${ws.id}); you are its Owner` };
    }
    const ownerEmail = optionalFlag(values, 'owner');
    return withIdentity(ctx, async ({ workspaces, identity, audit, auditContext }) => {
      const owner = ownerEmail === undefined ? undefined : await identity.users.findByEmail(ownerEmail);
      if (ownerEmail !== undefined && !owner) {
        throw new IdentityError(
          'user_not_found',
          `no user "${ownerEmail}" (create it with: portcullis users create)`,
        );
      }
      const ws = await audit.record(
        auditContext,
        async (tx) => {
          const created = await workspaces.inTx(tx).create(name);
          if (owner) await identity.members.inTx(tx).add(created.id, owner.id, 'owner');
          return created;
        },
        (created): Described[] => [
          workspaceEvent('workspace.created', created),
          ...(owner
            ? [
                {
                  action: 'member.added' as const,
                  workspaceId: created.id,
                  target: owner.id,
                  details: { role: 'owner' },
                },
              ]
            : []),
        ],
      );
      return {
        data: ws,
        text: `created workspace "${ws.name}" (${ws.id})${owner ? ` owned by ${owner.email}` : ''}`,
      };
    });
  },
};

export const workspacesListCommand: Command = {
  name: ['workspaces', 'list'],
  summary: 'List workspaces (with --url: the ones you belong to, with your role).',
  usage: `portcullis workspaces list [--config FILE] [--json]\n  ${REMOTE_USAGE}`,
  options: { ...REMOTE_OPTIONS },
  async run(ctx, values) {
    if (isRemote(values)) {
      const { data } = (await (await openRemote(ctx, values)).call('GET', '/workspaces')) as {
        data: { id: string; name: string; role: string }[];
      };
      return {
        data,
        text:
          data.length === 0
            ? 'you belong to no workspace'
            : table(
                ['ID', 'NAME', 'ROLE'],
                data.map((w) => [w.id, w.name, w.role]),
              ),
      };
    }
    return withLocal(ctx, async ({ workspaces }) => {
      const all = await workspaces.list();
      const text =
        all.length === 0
          ? 'no workspaces yet; create one with: portcullis workspaces create --name NAME'
          : table(
              ['ID', 'NAME', 'CREATED'],
              all.map((w) => [w.id, w.name, new Date(w.createdAt).toISOString()]),
            );
      return { data: all, text };
    });
  },
};

function oneWorkspace(positionals: string[]): string {
  const [target, ...rest] = positionals;
  if (target === undefined || rest.length > 0) throw new UsageError('give exactly one workspace name or id');
  return target;
}

export const workspacesRenameCommand: Command = {
  name: ['workspaces', 'rename'],
  summary: 'Rename a workspace.',
  usage: `portcullis workspaces rename WORKSPACE --name NEW [--json]   (with --url: the --workspace one)\n  ${REMOTE_USAGE}`,
  options: { ...REMOTE_OPTIONS, name: { type: 'string' } },
  async run(ctx, values, positionals) {
    const name = requireFlag(values, 'name');
    if (isRemote(values)) {
      const ws = await (await openRemote(ctx, values)).call('PATCH', '/workspace', { name });
      return { data: ws, text: `renamed to "${name}"` };
    }
    const target = oneWorkspace(positionals);
    return withLocal(ctx, async ({ workspaces, audit, auditContext }) => {
      const before = await workspaces.resolve(target);
      const ws = await audit.record(
        auditContext,
        (tx) => workspaces.inTx(tx).rename(before.id, name),
        (after) => ({
          action: 'workspace.renamed',
          workspaceId: after.id,
          target: after.id,
          details: { name: after.name, previous: before.name },
        }),
      );
      return { data: ws, text: `renamed "${before.name}" to "${ws.name}" (${ws.id})` };
    });
  },
};

export const workspacesDeleteCommand: Command = {
  name: ['workspaces', 'delete'],
  summary:
    'Delete a workspace (soft: keys stop at once; restorable for workspaces.retentionDays, then purged).',
  usage: `portcullis workspaces delete WORKSPACE [--config FILE] [--json]   (name or wsp_… id; with --url: the --workspace one)\n  ${REMOTE_USAGE}`,
  options: { ...REMOTE_OPTIONS },
  async run(ctx, values, positionals) {
    if (isRemote(values)) {
      const r = (await (await openRemote(ctx, values)).call('DELETE', '/workspace')) as {
        name: string;
        restorableUntil: number;
      };
      return {
        data: r,
        text: `deleted workspace "${r.name}"; restorable until ${new Date(r.restorableUntil).toISOString()}`,
      };
    }
    const target = oneWorkspace(positionals);
    return withLocal(ctx, async ({ workspaces, audit, auditContext }) => {
      const ws = await workspaces.resolve(target);
      await audit.record(
        auditContext,
        (tx) => workspaces.inTx(tx).softDelete(ws.id),
        () => workspaceEvent('workspace.deleted', ws),
      );
      return { data: { deleted: true, ...ws }, text: `deleted workspace "${ws.name}" (${ws.id})` };
    });
  },
};

export const workspacesRestoreCommand: Command = {
  name: ['workspaces', 'restore'],
  summary: 'Restore a deleted workspace (by its wsp_… id) within the retention period.',
  usage: `portcullis workspaces restore WSP_ID [--json]\n  ${REMOTE_USAGE}`,
  options: { ...REMOTE_OPTIONS },
  async run(ctx, values, positionals) {
    const id = oneWorkspace(positionals);
    if (isRemote(values)) {
      const ws = await (await openRemote(ctx, values)).call(
        'POST',
        `/workspaces/${encodeURIComponent(id)}/restore`,
      );
      return { data: ws, text: `restored ${id}` };
    }
    return withLocal(ctx, async ({ workspaces, audit, auditContext }) => {
      const ws = await audit.record(
        auditContext,
        (tx) => workspaces.inTx(tx).restore(id),
        (restored) => ({
          action: 'workspace.restored',
          workspaceId: restored.id,
          target: restored.id,
          details: { name: restored.name },
        }),
      );
      return { data: ws, text: `restored workspace "${ws.name}" (${ws.id})` };
    });
  },
};

export const workspacesPurgeCommand: Command = {
  name: ['workspaces', 'purge'],
  summary:
    'Purge now the workspaces deleted longer ago than workspaces.retentionDays (the server does it hourly).',
  usage: 'portcullis workspaces purge [--config FILE] [--json]',
  async run(ctx) {
    return withLocal(ctx, async ({ store, audit, auditContext, clock, config }) => {
      const r = await purgeDeletedWorkspaces({
        store,
        audit,
        clock,
        retentionDays: config.workspaces.retentionDays,
        context: auditContext,
      });
      return { data: r, text: `purged ${r.purged.length} workspace(s)` };
    });
  },
};

export const WORKSPACE_COMMANDS: Command[] = [
  workspacesCreateCommand,
  workspacesListCommand,
  workspacesRenameCommand,
  workspacesDeleteCommand,
  workspacesRestoreCommand,
  workspacesPurgeCommand,
];
