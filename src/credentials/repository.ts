import type { Kysely } from 'kysely';
import type { Clock } from '../clock.ts';
import type { Egress } from '../egress/egress.ts';
import { SecretDecryptError } from '../secrets/errors.ts';
import { maskSecret } from '../secrets/mask.ts';
import type { Vault } from '../secrets/vault.ts';
import type { Database, ProviderCredentialRow } from '../store/schema.ts';
import { type AfterCommit, immediately, type Tx } from '../store/tx.ts';
import type { Store } from '../store/types.ts';
import { modelMatcher } from '../util/glob.ts';
import { newId } from '../util/ids.ts';
import { CredentialError } from './errors.ts';
import {
  type BaseUrlCheck,
  type CredentialOptions,
  egressAllowList,
  type Provider,
  validateBaseUrl,
  validateCredentialName,
  validateModels,
  validateOptions,
  validateProvider,
  validateSecret,
} from './validate.ts';

/**
 * Provider credentials: the accounts a workspace calls providers with. The secret is sealed in the
 * vault (purpose `provider-credential`, bound to the workspace); the row holds metadata and the
 * masked form only. Nothing this repository returns, except `resolveSecret`, contains the secret.
 */

export const CREDENTIAL_SECRET_PURPOSE = 'provider-credential';

export interface Credential {
  id: string;
  workspaceId: string;
  name: string;
  provider: Provider;
  /** The effective base URL (the provider default when none was given), without trailing slash. */
  baseUrl: string;
  /** Model globs this credential serves. */
  models: string[];
  options: CredentialOptions;
  /** Display form of the secret, e.g. `sk-proj-abc…xyz9`. */
  masked: string;
  createdAt: number;
  updatedAt: number;
}

export interface AddCredential {
  workspaceId: string;
  name: string;
  provider: string;
  baseUrl?: string;
  /** Defaults per provider for openai and anthropic; required for the others. */
  models?: readonly string[];
  secret: string;
  options?: CredentialOptions;
}

export interface UpdateCredential {
  models?: readonly string[];
  baseUrl?: string;
  /** Rotates the secret in place: same credential id, new ciphertext and masked form. */
  secret?: string;
  /** Replaces the options (Azure api-version and deployments, listed models). */
  options?: CredentialOptions;
}

export interface CredentialRepository {
  add(input: AddCredential): Promise<Credential>;
  /** Every live credential of the workspace, in creation order. */
  list(workspaceId: string): Promise<Credential[]>;
  find(workspaceId: string, idOrName: string): Promise<Credential | undefined>;
  /** Like find, but throws `credential_not_found`. */
  show(workspaceId: string, idOrName: string): Promise<Credential>;
  update(workspaceId: string, idOrName: string, changes: UpdateCredential): Promise<Credential>;
  /** Soft-deletes the row (its name becomes free) and deletes the secret from the vault. */
  remove(workspaceId: string, idOrName: string): Promise<Credential>;
  /**
   * The plaintext secret, for the proxy only. Scoped by workspace: another workspace's credential
   * id is `credential_not_found`. Kept in memory at most `secretCacheMs`; never logged.
   */
  resolveSecret(credentialId: string, workspaceId: string): Promise<string>;
  /** Credentials whose globs match `model`, in creation order (the fallback order). */
  findForModel(workspaceId: string, model: string): Promise<Credential[]>;
  /**
   * The same repository working inside `tx` (src/store/tx.ts): the row and its vault secret commit
   * together with the change's audit entry; caches are invalidated only after the commit.
   */
  inTx(tx: Tx): CredentialRepository;
}

export interface CredentialRepositoryOptions {
  store: Store;
  vault: Vault;
  clock: Clock;
  /** The egress guard: base URLs are checked at creation. */
  egress: Pick<Egress, 'checkUrl'>;
  /** `config.egress.allow`: also decides which hosts may use plain http. */
  egressAllow: readonly string[];
  logger: { warn(obj: Record<string, unknown>, msg: string): void };
  /** How long a decrypted secret stays in memory for reuse; 0 disables the cache. Default 30 s. */
  secretCacheMs?: number;
  /** Called after every change, e.g. to invalidate a route cache. */
  onChange?: (workspaceId: string) => void;
}

const DEFAULT_SECRET_CACHE_MS = 30_000;
const MAX_CACHED_SECRETS = 10_000;

type SecretCache = Map<string, { workspaceId: string; secret: string; expiresAt: number }>;

/** `db`, `after` and `secrets` are for `inTx`: a transaction-bound view sharing this one's cache. */
export function createCredentialRepository(
  opts: CredentialRepositoryOptions,
  db: Kysely<Database> = opts.store.db,
  after: AfterCommit = immediately,
  secrets: SecretCache = new Map(),
): CredentialRepository {
  const { vault, clock, logger } = opts;
  const cacheMs = opts.secretCacheMs ?? DEFAULT_SECRET_CACHE_MS;
  const urlCheck: BaseUrlCheck = {
    egress: opts.egress,
    allow: egressAllowList(opts.egressAllow),
    onUnresolved: (host) =>
      logger.warn(
        { event: 'credential_base_url_unresolved', host },
        `the base URL host ${host} does not resolve from here; accepted, and checked again on every connection`,
      ),
  };
  const changed = (workspaceId: string, credentialId: string): void => {
    secrets.delete(credentialId);
    opts.onChange?.(workspaceId);
  };

  async function requireWorkspace(workspaceId: string): Promise<void> {
    const ws = await db
      .selectFrom('workspaces')
      .select('id')
      .where('id', '=', workspaceId)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    if (!ws) throw new CredentialError('workspace_not_found', `no workspace "${workspaceId}"`);
  }

  async function findRow(workspaceId: string, idOrName: string): Promise<ProviderCredentialRow | undefined> {
    return db
      .selectFrom('provider_credentials')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where(idOrName.startsWith('crd_') ? 'id' : 'name', '=', idOrName)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
  }

  async function requireRow(workspaceId: string, idOrName: string): Promise<ProviderCredentialRow> {
    const row = await findRow(workspaceId, idOrName);
    if (!row) {
      throw new CredentialError(
        'credential_not_found',
        `no provider credential "${idOrName.slice(0, 80)}" in this workspace`,
      );
    }
    return row;
  }

  async function list(workspaceId: string): Promise<Credential[]> {
    const rows = await db
      .selectFrom('provider_credentials')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where('deleted_at', 'is', null)
      .orderBy('created_at')
      .orderBy('name')
      .execute();
    return rows.map(toCredential);
  }

  return {
    async add(input) {
      await requireWorkspace(input.workspaceId);
      const name = validateCredentialName(input.name);
      const provider = validateProvider(input.provider);
      const models = validateModels(provider, input.models);
      const options = validateOptions(provider, models, input.options);
      const secret = validateSecret(input.secret);
      if (await findRow(input.workspaceId, name)) {
        throw new CredentialError('credential_exists', `a credential named "${name}" already exists`, 'name');
      }
      const baseUrl = await validateBaseUrl(provider, input.baseUrl, urlCheck);
      const id = newId('crd');
      const secretId = secretIdFor(id);
      await vault.put({
        id: secretId,
        purpose: CREDENTIAL_SECRET_PURPOSE,
        workspaceId: input.workspaceId,
        plaintext: secret,
      });
      const now = clock.now();
      const row: ProviderCredentialRow = {
        id,
        workspace_id: input.workspaceId,
        name,
        provider,
        base_url: baseUrl,
        models: JSON.stringify(models),
        options: JSON.stringify(options),
        secret_id: secretId,
        masked: maskSecret(secret),
        created_at: now,
        updated_at: now,
        deleted_at: null,
      };
      try {
        await db.insertInto('provider_credentials').values(row).execute();
      } catch (err) {
        // Most likely a concurrent add of the same name (unique index); leave no orphaned secret.
        await vault.delete(secretId);
        if (await findRow(input.workspaceId, name)) {
          throw new CredentialError(
            'credential_exists',
            `a credential named "${name}" already exists`,
            'name',
          );
        }
        throw err;
      }
      await after(() => changed(input.workspaceId, id));
      return toCredential(row);
    },

    list,

    async find(workspaceId, idOrName) {
      const row = await findRow(workspaceId, idOrName);
      return row ? toCredential(row) : undefined;
    },

    async show(workspaceId, idOrName) {
      return toCredential(await requireRow(workspaceId, idOrName));
    },

    async update(workspaceId, idOrName, changes) {
      const row = await requireRow(workspaceId, idOrName);
      const current = toCredential(row);
      const models =
        changes.models === undefined ? current.models : validateModels(current.provider, changes.models);
      const options = validateOptions(
        current.provider,
        models,
        changes.options ??
          (changes.models === undefined ? current.options : keepValid(current.options, models)),
      );
      const secret = changes.secret === undefined ? undefined : validateSecret(changes.secret);
      const baseUrl =
        changes.baseUrl === undefined
          ? current.baseUrl
          : await validateBaseUrl(current.provider, changes.baseUrl, urlCheck);
      // A credential must never be pointed at a new host without its secret being given again:
      // otherwise anyone allowed to edit credentials could send the stored secret to a server of
      // their choosing and read it there, though no response ever shows it.
      if (secret === undefined && origin(baseUrl) !== origin(current.baseUrl)) {
        throw new CredentialError(
          'invalid_credential',
          'moving a credential to another host needs its secret again: send the secret with the new base URL',
          'secret',
        );
      }
      if (secret !== undefined) {
        await vault.put({
          id: row.secret_id,
          purpose: CREDENTIAL_SECRET_PURPOSE,
          workspaceId,
          plaintext: secret,
        });
      }
      const now = clock.now();
      const set = {
        base_url: baseUrl,
        models: JSON.stringify(models),
        options: JSON.stringify(options),
        masked: secret === undefined ? row.masked : maskSecret(secret),
        updated_at: now,
      };
      await db.updateTable('provider_credentials').set(set).where('id', '=', row.id).execute();
      await after(() => changed(workspaceId, row.id));
      return toCredential({ ...row, ...set });
    },

    async remove(workspaceId, idOrName) {
      const row = await requireRow(workspaceId, idOrName);
      const users = await aliasesUsing({ db }, workspaceId, row.name);
      if (users.length > 0) {
        throw new CredentialError(
          'credential_in_use',
          `credential "${row.name}" is a target of the model alias(es) ${users.map((u) => `"${u}"`).join(', ')}; ` +
            'change or remove them first',
        );
      }
      const now = clock.now();
      // The name is freed for reuse; the row stays for the audit trail, without its secret.
      await db
        .updateTable('provider_credentials')
        .set({ deleted_at: now, updated_at: now, name: `${row.id} (deleted)` })
        .where('id', '=', row.id)
        .where('deleted_at', 'is', null)
        .execute();
      await vault.delete(row.secret_id);
      await after(() => changed(workspaceId, row.id));
      return toCredential(row);
    },

    async resolveSecret(credentialId, workspaceId) {
      const now = clock.now();
      const hit = secrets.get(credentialId);
      if (hit && hit.expiresAt > now && hit.workspaceId === workspaceId) return hit.secret;
      const row = await db
        .selectFrom('provider_credentials')
        .select(['secret_id', 'workspace_id'])
        .where('id', '=', credentialId)
        .where('workspace_id', '=', workspaceId)
        .where('deleted_at', 'is', null)
        .executeTakeFirst();
      if (!row)
        throw new CredentialError(
          'credential_not_found',
          `no provider credential "${credentialId}" in this workspace`,
        );
      // The vault binds a ciphertext to its own id; this binds the id to the credential, so a row
      // pointed at another credential's (or tenant's) secret fails instead of using it.
      if (row.secret_id !== secretIdFor(credentialId)) {
        throw new SecretDecryptError(row.secret_id, 'it does not belong to this credential');
      }
      const secret = await vault.get(row.secret_id, CREDENTIAL_SECRET_PURPOSE);
      if (cacheMs > 0) {
        if (secrets.size >= MAX_CACHED_SECRETS) {
          const oldest = secrets.keys().next().value;
          if (oldest !== undefined) secrets.delete(oldest);
        }
        secrets.set(credentialId, { workspaceId, secret, expiresAt: now + cacheMs });
      }
      return secret;
    },

    async findForModel(workspaceId, model) {
      return (await list(workspaceId)).filter((c) => modelMatcher(c.models)(model));
    },

    inTx: (tx) =>
      createCredentialRepository(
        { ...opts, vault: vault.inTx(tx) },
        tx.db,
        (effect) => tx.afterCommit(effect),
        secrets,
      ),
  };
}

function secretIdFor(credentialId: string): string {
  return `sec_${credentialId}`;
}

/** When models change, drop `listed` entries they no longer match rather than refuse the update. */
function keepValid(options: CredentialOptions, models: readonly string[]): CredentialOptions {
  if (!options.listed) return options;
  const serves = modelMatcher(models);
  return { ...options, listed: options.listed.filter((m) => serves(m)) };
}

/** Names of the workspace's aliases with a target on `credentialName`. */
export async function aliasesUsing(
  store: Pick<Store, 'db'>,
  workspaceId: string,
  credentialName: string,
): Promise<string[]> {
  const rows = await store.db
    .selectFrom('model_aliases')
    .select(['name', 'targets'])
    .where('workspace_id', '=', workspaceId)
    .orderBy('name')
    .execute();
  return rows
    .filter((r) =>
      parseJson<{ credential: string }[]>(r.targets, []).some((t) => t.credential === credentialName),
    )
    .map((r) => r.name);
}

export function toCredential(row: ProviderCredentialRow): Credential {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    name: row.name,
    provider: row.provider as Provider,
    baseUrl: row.base_url ?? '',
    models: parseJson<string[]>(row.models, []),
    options: parseJson<CredentialOptions>(row.options, {}),
    masked: row.masked,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

export function parseJson<T>(text: string, fallback: T): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

/** scheme://host:port of a URL, for comparing destinations. */
function origin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}
