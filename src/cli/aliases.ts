import { aliasEvent } from '../audit/describe.ts';
import type { AliasTarget, ModelAlias } from '../credentials/aliases.ts';
import type { Command } from './context.ts';
import { withCredentials } from './credentials.ts';
import { listFlag, requireFlag, table, UsageError } from './usage.ts';

const describeTargets = (a: ModelAlias) => a.targets.map((t) => `${t.credential}:${t.model}`).join(' → ');

/** `cred:model` → target; the model may itself contain ':' (e.g. `ft:gpt-4o:acme`), the credential name cannot. */
function parseTarget(value: string): AliasTarget {
  const colon = value.indexOf(':');
  if (colon <= 0 || colon === value.length - 1) {
    throw new UsageError(`--target takes CREDENTIAL:MODEL (e.g. openai-main:gpt-4o), got "${value}"`);
  }
  return { credential: value.slice(0, colon), model: value.slice(colon + 1) };
}

export const aliasesSetCommand: Command = {
  name: ['aliases', 'set'],
  summary: 'Create or replace a model alias: one public name, an ordered list of fallback targets.',
  usage: `portcullis aliases set --workspace W --name NAME --target CREDENTIAL:MODEL [--target CREDENTIAL:MODEL ...]
        [--config FILE] [--json]

  Targets are tried in the order given: the second only when the first fails (connection error,
  429 or 5xx before the first byte, open circuit). Each credential must exist in the workspace and
  serve the model (see its --models globs).
  Example: portcullis aliases set -w acme --name smart --target openai-main:gpt-4o --target claude:claude-sonnet-4-5`,
  options: {
    workspace: { type: 'string', short: 'w' },
    name: { type: 'string' },
    target: { type: 'string', multiple: true },
  },
  async run(ctx, values) {
    const workspace = requireFlag(values, 'workspace');
    const name = requireFlag(values, 'name');
    const targets = (listFlag(values, 'target') ?? []).map(parseTarget);
    if (targets.length === 0) throw new UsageError('give at least one --target CREDENTIAL:MODEL');
    return withCredentials(ctx, async ({ workspaces, aliases, audit, auditContext }) => {
      const ws = await workspaces.resolve(workspace);
      const alias = await audit.record(
        auditContext,
        (tx) => aliases.inTx(tx).set(ws.id, name, targets),
        (saved) => aliasEvent('alias.set', saved),
      );
      return {
        data: alias,
        text: `alias "${alias.name}" in workspace "${ws.name}": ${describeTargets(alias)}`,
      };
    });
  },
};

export const aliasesListCommand: Command = {
  name: ['aliases', 'list'],
  summary: "List a workspace's model aliases and their targets in fallback order.",
  usage: 'portcullis aliases list --workspace W [--config FILE] [--json]',
  options: { workspace: { type: 'string', short: 'w' } },
  async run(ctx, values) {
    const workspace = requireFlag(values, 'workspace');
    return withCredentials(ctx, async ({ workspaces, aliases }) => {
      const ws = await workspaces.resolve(workspace);
      const all = await aliases.list(ws.id);
      const text =
        all.length === 0
          ? `workspace "${ws.name}" has no model aliases`
          : table(
              ['NAME', 'TARGETS (in fallback order)'],
              all.map((a) => [a.name, describeTargets(a)]),
            );
      return { data: all, text };
    });
  },
};

export const aliasesRemoveCommand: Command = {
  name: ['aliases', 'remove'],
  summary: 'Remove a model alias.',
  usage: 'portcullis aliases remove --workspace W --name NAME [--config FILE] [--json]',
  options: { workspace: { type: 'string', short: 'w' }, name: { type: 'string' } },
  async run(ctx, values) {
    const workspace = requireFlag(values, 'workspace');
    const name = requireFlag(values, 'name');
    return withCredentials(ctx, async ({ workspaces, aliases, audit, auditContext }) => {
      const ws = await workspaces.resolve(workspace);
      const removed = await audit.record(
        auditContext,
        (tx) => aliases.inTx(tx).remove(ws.id, name),
        (gone) => aliasEvent('alias.removed', gone),
      );
      return {
        data: { removed: true, name: removed.name },
        text: `removed alias "${removed.name}" from workspace "${ws.name}"`,
      };
    });
  },
};

export const ALIAS_COMMANDS: Command[] = [aliasesSetCommand, aliasesListCommand, aliasesRemoveCommand];
