import { readFile } from 'node:fs/promises';
import { changedFields, credentialEvent } from '../audit/describe.ts';
import { createAliasRepository } from '../credentials/aliases.ts';
import {
  type Credential,
  type CredentialRepository,
  createCredentialRepository,
} from '../credentials/repository.ts';
import { type CredentialOptions, PROVIDERS } from '../credentials/validate.ts';
import { createEgress } from '../egress/egress.ts';
import type { Command, CommandContext } from './context.ts';
import { type Local, withLocal } from './local.ts';
import { listFlag, optionalFlag, requireFlag, table, UsageError } from './usage.ts';

/** Opens the local store with the credential and alias repositories, egress-checked like the server. */
export async function withCredentials<T>(
  ctx: CommandContext,
  fn: (
    local: Local & { credentials: CredentialRepository; aliases: ReturnType<typeof createAliasRepository> },
  ) => Promise<T>,
): Promise<T> {
  return withLocal(ctx, async (local) => {
    const egress = createEgress({ allow: local.config.egress.allow, logger: local.logger });
    try {
      const credentials = createCredentialRepository({
        store: local.store,
        vault: local.vault,
        clock: local.clock,
        egress,
        egressAllow: local.config.egress.allow,
        logger: local.logger,
        secretCacheMs: 0,
      });
      const aliases = createAliasRepository({ store: local.store, clock: local.clock });
      return await fn({ ...local, credentials, aliases });
    } finally {
      await egress.close();
    }
  });
}

const SECRET_SOURCES = `The secret is read only from a file (--secret-file F, e.g. /run/secrets/openai or a file
  made with \`umask 077; cat > F\`) or from an environment variable (--secret-env VAR), never from a
  flag value: that would land in the shell history and in \`ps\` output for every user to read.`;

/** Reads the secret from --secret-file or --secret-env; exactly one of them. */
async function readSecret(ctx: CommandContext, values: Record<string, unknown>, required: boolean) {
  if (values.secret !== undefined) {
    throw new UsageError(
      '--secret is not accepted: a secret on the command line is visible in shell history and `ps`; ' +
        'use --secret-file FILE or --secret-env VAR (and treat that secret as exposed)',
    );
  }
  const file = optionalFlag(values, 'secret-file');
  const envName = optionalFlag(values, 'secret-env');
  if (file !== undefined && envName !== undefined)
    throw new UsageError('give either --secret-file or --secret-env, not both');
  if (file === undefined && envName === undefined) {
    if (required)
      throw new UsageError('the provider secret is required: --secret-file FILE or --secret-env VAR');
    return undefined;
  }
  if (file !== undefined) {
    try {
      return await readFile(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
      throw new Error(`cannot read the secret file ${file} (${code})`);
    }
  }
  const name = envName ?? '';
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
    throw new UsageError(`--secret-env takes a variable name, e.g. OPENAI_API_KEY`);
  const value = ctx.env[name];
  if (value === undefined || value.trim() === '')
    throw new Error(`the environment variable ${name} is not set or empty`);
  return value;
}

function azureOptions(values: Record<string, unknown>): CredentialOptions | undefined {
  const apiVersion = optionalFlag(values, 'azure-api-version');
  const pairs = listFlag(values, 'azure-deployment');
  const listed = listFlag(values, 'listed');
  if (apiVersion === undefined && pairs === undefined && listed === undefined) return undefined;
  const options: CredentialOptions = {};
  if (apiVersion !== undefined) options.apiVersion = apiVersion;
  if (listed !== undefined) options.listed = listed;
  if (pairs !== undefined) {
    options.deployments = {};
    for (const pair of pairs) {
      const eq = pair.indexOf('=');
      if (eq <= 0 || eq === pair.length - 1)
        throw new UsageError(`--azure-deployment takes MODEL=DEPLOYMENT, got "${pair}"`);
      options.deployments[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  }
  return options;
}

function describe(c: Credential): string {
  const extra = [
    c.options.apiVersion ? `api-version ${c.options.apiVersion}` : '',
    c.options.listed?.length ? `listed: ${c.options.listed.join(', ')}` : '',
  ].filter((s) => s !== '');
  return [
    `${c.name} (${c.id})`,
    `  provider  ${c.provider}`,
    `  base URL  ${c.baseUrl}`,
    `  models    ${c.models.join(', ')}`,
    `  secret    ${c.masked}`,
    ...extra.map((e) => `  ${e}`),
  ].join('\n');
}

const SECRET_OPTIONS = {
  'secret-file': { type: 'string' },
  'secret-env': { type: 'string' },
  // Declared only to refuse it with an explanation.
  secret: { type: 'string' },
} as const;

export const credentialsAddCommand: Command = {
  name: ['credentials', 'add'],
  summary: 'Add a provider credential to a workspace (the secret is encrypted; only a masked form is shown).',
  usage: `portcullis credentials add --workspace W --name N --provider ${PROVIDERS.join('|')}
        [--base-url URL] (--secret-file F | --secret-env VAR) [--models 'gpt-4o*,o3*']
        [--listed gpt-4o,gpt-4o-mini] [--azure-api-version V] [--azure-deployment MODEL=DEPLOYMENT ...]
        [--config FILE] [--json]

  --base-url   required for azure-openai (https://RESOURCE.openai.azure.com) and openai-compatible;
               defaults to https://api.openai.com/v1 and https://api.anthropic.com. https only, unless
               the host is in PORTCULLIS_EGRESS_ALLOW; private and metadata addresses are refused
               unless allowlisted there.
  --models     globs of the models this credential serves (default for openai: gpt-*, o[0-9]*, chatgpt-*,
               text-embedding-*, omni-moderation-*; for anthropic: claude-*; required for the others).
  --listed     concrete model names to show in GET /v1/models (globs cannot be listed).
  ${SECRET_SOURCES}`,
  options: {
    workspace: { type: 'string', short: 'w' },
    name: { type: 'string' },
    provider: { type: 'string' },
    'base-url': { type: 'string' },
    models: { type: 'string', multiple: true },
    listed: { type: 'string', multiple: true },
    'azure-api-version': { type: 'string' },
    'azure-deployment': { type: 'string', multiple: true },
    ...SECRET_OPTIONS,
  },
  async run(ctx, values) {
    const workspace = requireFlag(values, 'workspace');
    const name = requireFlag(values, 'name');
    const provider = requireFlag(values, 'provider');
    const options = azureOptions(values);
    const secret = await readSecret(ctx, values, true);
    return withCredentials(ctx, async ({ workspaces, credentials, audit, auditContext }) => {
      const ws = await workspaces.resolve(workspace);
      const created = await audit.record(
        auditContext,
        (tx) =>
          credentials.inTx(tx).add({
            workspaceId: ws.id,
            name,
            provider,
            baseUrl: optionalFlag(values, 'base-url'),
            models: listFlag(values, 'models'),
            secret: secret ?? '',
            options,
          }),
        (added) => credentialEvent('credential.added', added),
      );
      return { data: created, text: `added credential to workspace "${ws.name}":\n${describe(created)}` };
    });
  },
};

export const credentialsUpdateCommand: Command = {
  name: ['credentials', 'update'],
  summary: 'Change a credential: rotate its secret, its models or its base URL.',
  usage: `portcullis credentials update --workspace W --name N [--secret-file F | --secret-env VAR]
        [--models GLOBS] [--base-url URL] [--listed NAMES] [--azure-api-version V]
        [--azure-deployment MODEL=DEPLOYMENT ...] [--config FILE] [--json]

  ${SECRET_SOURCES}`,
  options: {
    workspace: { type: 'string', short: 'w' },
    name: { type: 'string' },
    'base-url': { type: 'string' },
    models: { type: 'string', multiple: true },
    listed: { type: 'string', multiple: true },
    'azure-api-version': { type: 'string' },
    'azure-deployment': { type: 'string', multiple: true },
    ...SECRET_OPTIONS,
  },
  async run(ctx, values) {
    const workspace = requireFlag(values, 'workspace');
    const name = requireFlag(values, 'name');
    const secret = await readSecret(ctx, values, false);
    const options = azureOptions(values);
    return withCredentials(ctx, async ({ workspaces, credentials, audit, auditContext }) => {
      const ws = await workspaces.resolve(workspace);
      const current = await credentials.show(ws.id, name);
      const changes = {
        baseUrl: optionalFlag(values, 'base-url'),
        models: listFlag(values, 'models'),
        secret,
        options: options === undefined ? undefined : { ...current.options, ...options },
      };
      const updated = await audit.record(
        auditContext,
        (tx) => credentials.inTx(tx).update(ws.id, name, changes),
        (changed) => credentialEvent('credential.updated', changed, changedFields(changes)),
      );
      return { data: updated, text: `updated credential:\n${describe(updated)}` };
    });
  },
};

export const credentialsListCommand: Command = {
  name: ['credentials', 'list'],
  summary: "List a workspace's provider credentials (masked secrets only).",
  usage: 'portcullis credentials list --workspace W [--config FILE] [--json]',
  options: { workspace: { type: 'string', short: 'w' } },
  async run(ctx, values) {
    const workspace = requireFlag(values, 'workspace');
    return withCredentials(ctx, async ({ workspaces, credentials }) => {
      const ws = await workspaces.resolve(workspace);
      const all = await credentials.list(ws.id);
      const text =
        all.length === 0
          ? `workspace "${ws.name}" has no provider credentials; add one with: portcullis credentials add --help`
          : table(
              ['NAME', 'PROVIDER', 'MODELS', 'SECRET', 'BASE URL'],
              all.map((c) => [c.name, c.provider, c.models.join(','), c.masked, c.baseUrl]),
            );
      return { data: all, text };
    });
  },
};

export const credentialsShowCommand: Command = {
  name: ['credentials', 'show'],
  summary: 'Show one provider credential (masked secret only).',
  usage: 'portcullis credentials show --workspace W --name N [--config FILE] [--json]',
  options: { workspace: { type: 'string', short: 'w' }, name: { type: 'string' } },
  async run(ctx, values) {
    const workspace = requireFlag(values, 'workspace');
    const name = requireFlag(values, 'name');
    return withCredentials(ctx, async ({ workspaces, credentials }) => {
      const ws = await workspaces.resolve(workspace);
      const c = await credentials.show(ws.id, name);
      return { data: c, text: describe(c) };
    });
  },
};

export const credentialsRemoveCommand: Command = {
  name: ['credentials', 'remove'],
  summary: 'Remove a provider credential and destroy its encrypted secret.',
  usage: 'portcullis credentials remove --workspace W --name N [--config FILE] [--json]',
  options: { workspace: { type: 'string', short: 'w' }, name: { type: 'string' } },
  async run(ctx, values) {
    const workspace = requireFlag(values, 'workspace');
    const name = requireFlag(values, 'name');
    return withCredentials(ctx, async ({ workspaces, credentials, audit, auditContext }) => {
      const ws = await workspaces.resolve(workspace);
      const removed = await audit.record(
        auditContext,
        (tx) => credentials.inTx(tx).remove(ws.id, name),
        (gone) => credentialEvent('credential.removed', gone),
      );
      return {
        data: { removed: true, id: removed.id, name: removed.name },
        text: `removed credential "${removed.name}" (${removed.id}) from workspace "${ws.name}"`,
      };
    });
  },
};

export const CREDENTIAL_COMMANDS: Command[] = [
  credentialsAddCommand,
  credentialsUpdateCommand,
  credentialsListCommand,
  credentialsShowCommand,
  credentialsRemoveCommand,
];
