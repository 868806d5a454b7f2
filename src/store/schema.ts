import type { Insertable, Selectable, Updateable } from 'kysely';

/**
 * Table types for every table the migrations create. One interface per table, named for the table,
 * added here in the same change as the migration that creates it.
 *
 * Conventions (identical in SQLite and PostgreSQL, so one query works on both):
 * - ids are text (UUIDs or prefixed ids such as `wsp_…`), never auto-increment integers;
 * - timestamps are integer milliseconds since the epoch (`number`): INTEGER in SQLite, BIGINT in
 *   PostgreSQL, which the pool parses back to a JS number;
 * - booleans are integers 0/1 (`Bool` below) in both dialects: SQLite has no boolean type, and one
 *   representation means a filter like `where('revoked', '=', 1)` means the same everywhere;
 * - JSON is stored as text (`JSON.stringify` on the way in, `JSON.parse` on the way out);
 * - binary values (keys, ciphertexts) are stored as base64 text.
 */
export interface Database {
  meta: MetaTable;
  secrets: SecretsTable;
  workspaces: WorkspacesTable;
  api_keys: ApiKeysTable;
  provider_credentials: ProviderCredentialsTable;
  model_aliases: ModelAliasesTable;
  model_prices: ModelPricesTable;
  audit_log: AuditLogTable;
  audit_checkpoints: AuditCheckpointsTable;
  usage_records: UsageRecordsTable;
  content_log: ContentLogTable;
  users: UsersTable;
  workspace_members: WorkspaceMembersTable;
  invitations: InvitationsTable;
  sessions: SessionsTable;
  refresh_tokens: RefreshTokensTable;
  recovery_codes: RecoveryCodesTable;
}

/** 0 = false, 1 = true. */
export type Bool = 0 | 1;

/** Small settings the gateway needs before anything else, e.g. the master-key check value. */
export interface MetaTable {
  key: string;
  value: string;
  updated_at: number;
}

/** Envelope-encrypted records (see src/secrets): a data key wrapped by a master key version. */
export interface SecretsTable {
  id: string;
  /** What the secret is for, e.g. `provider-credential`; lets rotation and audits find them. */
  purpose: string;
  workspace_id: string | null;
  master_key_version: number;
  /** base64 */
  wrapped_key: string;
  /** base64 */
  ciphertext: string;
  created_at: number;
  updated_at: number;
}

export type MetaRow = Selectable<MetaTable>;
export type NewMeta = Insertable<MetaTable>;
export type SecretRow = Selectable<SecretsTable>;
export type NewSecret = Insertable<SecretsTable>;
export type SecretUpdate = Updateable<SecretsTable>;

/** A tenant. Every other resource belongs to exactly one workspace. */
export interface WorkspacesTable {
  /** `wsp_…` */
  id: string;
  name: string;
  /** JSON object of workspace settings. */
  settings: string;
  created_at: number;
  updated_at: number;
  deleted_at: number | null;
}

/**
 * A Portcullis API key. Only a keyed hash of its secret is stored (src/keys); `masked` is the
 * display form. List attributes are JSON arrays.
 */
export interface ApiKeysTable {
  /** The key's public id, also embedded in the key itself. */
  id: string;
  workspace_id: string;
  name: string;
  /** `live` or `test`: the key's prefix (`pcx_live_` / `pcx_test_`). */
  environment: string;
  created_by: string | null;
  /** base64url HMAC-SHA256 of the secret under a key derived from the master key. */
  secret_hash: string;
  /** After a rotation, the old secret's hash, accepted until `previous_valid_until`. */
  previous_secret_hash: string | null;
  previous_valid_until: number | null;
  masked: string;
  scopes: string;
  models: string;
  allow_ips: string;
  allow_origins: string;
  /** JSON object of limit and budget fields (rpm, tpm, budget …), enforced by src/limits. */
  limits: string;
  tags: string;
  expires_at: number | null;
  revoked_at: number | null;
  deleted_at: number | null;
  last_used_at: number | null;
  last_used_ip: string | null;
  created_at: number;
  updated_at: number;
}

/** A provider account a workspace calls through. The secret is in `secrets` (envelope-encrypted). */
export interface ProviderCredentialsTable {
  /** `crd_…` */
  id: string;
  workspace_id: string;
  name: string;
  /** `openai` | `anthropic` | `azure-openai` | `openai-compatible` */
  provider: string;
  base_url: string | null;
  /** JSON array of model globs this credential serves. */
  models: string;
  /** JSON object of provider options (e.g. Azure api-version). */
  options: string;
  secret_id: string;
  masked: string;
  created_at: number;
  updated_at: number;
  deleted_at: number | null;
}

/** A public model name mapped to an ordered list of targets (fallback order). */
export interface ModelAliasesTable {
  id: string;
  workspace_id: string;
  name: string;
  /** JSON array of { credential: name, model: upstream model }. */
  targets: string;
  created_at: number;
  updated_at: number;
}

/** A workspace's own price for a model (src/limits), in integer micro-dollars per million tokens. */
export interface ModelPricesTable {
  id: string;
  workspace_id: string;
  /** The model name as the provider knows it (or the public name a client sends). */
  model: string;
  input_micros_per_mtok: number;
  output_micros_per_mtok: number;
  created_at: number;
  updated_at: number;
}

export type WorkspaceRow = Selectable<WorkspacesTable>;
export type ApiKeyRow = Selectable<ApiKeysTable>;
export type ProviderCredentialRow = Selectable<ProviderCredentialsTable>;
export type ModelAliasRow = Selectable<ModelAliasesTable>;

/** One audit entry (src/audit): hash-chained, append-only. `details` is JSON metadata, never secrets or prompt text. */
export interface AuditLogTable {
  seq: number;
  time: number;
  /** `key_…`, a user id, `cli`, or `system`. */
  actor: string | null;
  workspace_id: string | null;
  action: string;
  target: string | null;
  client_ip: string | null;
  user_agent: string | null;
  /** `success` | `failure` | `denied` */
  outcome: string;
  request_id: string | null;
  details: string;
  /** hex SHA-256 of the previous entry (64 zeros for the first). */
  prev_hash: string;
  /** hex SHA-256 over prev_hash and the canonical entry (src/audit/chain.ts). */
  hash: string;
}

/** An Ed25519 signature over a chain position (src/audit/checkpoints.ts). */
export interface AuditCheckpointsTable {
  seq: number;
  hash: string;
  time: number;
  key_id: string;
  /** base64 */
  signature: string;
}

/** One proxied call (src/usage): metadata only. */
export interface UsageRecordsTable {
  id: string;
  time: number;
  workspace_id: string;
  key_id: string;
  request_id: string | null;
  endpoint: string;
  model: string;
  provider: string | null;
  target: string | null;
  stream: Bool;
  status: number;
  input_tokens: number | null;
  output_tokens: number | null;
  cost_micros: number | null;
  latency_ms: number;
  upstream_ms: number | null;
}

export type AuditLogRow = Selectable<AuditLogTable>;
export type AuditCheckpointRow = Selectable<AuditCheckpointsTable>;
export type UsageRecordRow = Selectable<UsageRecordsTable>;

/**
 * Prompt and answer text of one call, for workspaces that opted in to content logging (src/content):
 * PII- and secret-redacted before it is written, deleted once `expires_at` has passed.
 */
export interface ContentLogTable {
  id: string;
  time: number;
  expires_at: number;
  workspace_id: string;
  key_id: string;
  request_id: string | null;
  endpoint: string;
  model: string;
  /** The HTTP status the client got. */
  status: number;
  prompt: string;
  answer: string;
}

/** A person who can log in to the control plane (src/identity). Email is stored lower-cased. */
export interface UsersTable {
  /** `usr_…` */
  id: string;
  email: string;
  name: string;
  /** argon2id PHC string. */
  password_hash: string;
  password_changed_at: number;
  /** Vault id of the envelope-encrypted TOTP seed; set at enrolment, kept only while enrolled. */
  mfa_secret_id: string | null;
  /** When the first code confirmed the enrolment; null = MFA off (or enrolment not confirmed). */
  mfa_enabled_at: number | null;
  /** The last accepted TOTP time step: a code of this step or earlier is a replay (RFC 6238 §5.2). */
  mfa_last_step: number;
  disabled_at: number | null;
  created_at: number;
  updated_at: number;
}

/** A user's role in a workspace: `owner`, `admin` or `user` (docs/rbac.md). */
export interface WorkspaceMembersTable {
  workspace_id: string;
  user_id: string;
  role: string;
  created_at: number;
  updated_at: number;
}

/** An invitation to join a workspace; the token is shown once and stored as a keyed hash. */
export interface InvitationsTable {
  /** `inv_…` */
  id: string;
  workspace_id: string;
  email: string;
  role: string;
  token_hash: string;
  invited_by: string;
  created_at: number;
  expires_at: number;
  accepted_at: number | null;
  revoked_at: number | null;
}

/** One login. Its refresh tokens form a family: reuse of a rotated one revokes the session. */
export interface SessionsTable {
  /** `ses_…` */
  id: string;
  user_id: string;
  /** JSON array of authentication methods (RFC 8176): `pwd`, `otp`. */
  amr: string;
  client_ip: string | null;
  user_agent: string | null;
  created_at: number;
  last_used_at: number;
  expires_at: number;
  revoked_at: number | null;
  revoked_reason: string | null;
  /** The user's `password_changed_at` this session was opened (or last re-proved) with; null before 0007. */
  password_at: number | null;
}

export interface RefreshTokensTable {
  /** HMAC-SHA256 (pepper) of the token, base64url. */
  token_hash: string;
  session_id: string;
  created_at: number;
  /** Set when the token was exchanged; presenting it again is reuse. */
  used_at: number | null;
}

export interface RecoveryCodesTable {
  id: string;
  user_id: string;
  /** argon2id PHC string. */
  code_hash: string;
  /**
   * HMAC-SHA256 (pepper) of the user id and the normalised code, base64url: finds the one row a
   * typed code can be, so a login verifies one argon2id hash, not ten (equal timing either way).
   */
  lookup: string;
  created_at: number;
  used_at: number | null;
}
