import { workspaceEvent } from '../audit/describe.ts';
import type { Command } from './context.ts';
import { withLocal } from './local.ts';
import { requireFlag, table, UsageError } from './usage.ts';

export const workspacesCreateCommand: Command = {
  name: ['workspaces', 'create'],
  summary: 'Create a workspace (a tenant: its keys, credentials and policies are its own).',
  usage: 'portcullis workspaces create --name NAME [--config FILE] [--json]',
  options: { name: { type: 'string' } },
  async run(ctx, values) {
    const name = requireFlag(values, 'name');
    return withLocal(ctx, async ({ workspaces, audit, auditContext }) => {
      const ws = await audit.record(
        auditContext,
        (tx) => workspaces.inTx(tx).create(name),
        (created) => workspaceEvent('workspace.created', created),
      );
      return { data: ws, text: `created workspace "${ws.name}" (${ws.id})` };
    });
  },
};

export const workspacesListCommand: Command = {
  name: ['workspaces', 'list'],
  summary: 'List workspaces.',
  usage: 'portcullis workspaces list [--config FILE] [--json]',
  async run(ctx) {
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

export const workspacesDeleteCommand: Command = {
  name: ['workspaces', 'delete'],
  summary: 'Delete a workspace (soft: its name is freed, its data kept for the audit trail).',
  usage: 'portcullis workspaces delete WORKSPACE [--config FILE] [--json]   (name or wsp_… id)',
  async run(ctx, _values, positionals) {
    const [target, ...rest] = positionals;
    if (target === undefined || rest.length > 0)
      throw new UsageError('give exactly one workspace name or id');
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

export const WORKSPACE_COMMANDS: Command[] = [
  workspacesCreateCommand,
  workspacesListCommand,
  workspacesDeleteCommand,
];
