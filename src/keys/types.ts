import type { KeyEnvironment } from './format.ts';

/** Data-plane scopes: which `/v1/*` endpoints a key may call. */
export const DATA_PLANE_SCOPES = ['chat', 'embeddings', 'responses', 'messages', 'models:read'] as const;
/** Management scopes, for keys used against the admin API. Never granted by default. */
export const MANAGEMENT_SCOPES = ['admin:read', 'admin:write'] as const;
export const SCOPES = [...DATA_PLANE_SCOPES, ...MANAGEMENT_SCOPES] as const;
export type Scope = (typeof SCOPES)[number];

export const BUDGET_WINDOWS = ['day', 'week', 'month', 'total'] as const;
export type BudgetWindow = (typeof BUDGET_WINDOWS)[number];

/** The limit and budget fields src/limits enforces. Every field is optional: absent = no limit at key level. */
export interface KeyLimits {
  /** Requests per minute. */
  rpm?: number;
  /** Tokens (input + output) per minute. */
  tpm?: number;
  /** Requests in flight at once. */
  concurrency?: number;
  /** Spend cap in US dollars over `budgetWindow`. */
  budgetUsd?: number;
  budgetWindow?: BudgetWindow;
}

/** Who is calling, as the pipeline sees it once a key is verified. Immutable and shared: never mutate. */
export interface KeyPrincipal {
  readonly keyId: string;
  readonly workspaceId: string;
  readonly name: string;
  readonly environment: KeyEnvironment;
  readonly scopes: readonly Scope[];
  /** Model globs (src/util/glob.ts); `['*']` allows every model. */
  readonly models: readonly string[];
  /** Normalised CIDRs; empty = any address. */
  readonly allowIps: readonly string[];
  /** Normalised origins (`scheme://host[:port]`); empty = no browser use (no CORS headers). */
  readonly allowOrigins: readonly string[];
  readonly limits: Readonly<KeyLimits>;
  readonly expiresAt: number | null;
  /** The member who created the key (`usr_…`), for per-user limits; null for keys made by keys or the CLI. */
  readonly userId: string | null;
}

export type KeyStatus = 'active' | 'expired' | 'revoked' | 'deleted';

/** A key as management surfaces show it: never the secret nor its hash, only the masked form. */
export interface ApiKeyRecord {
  id: string;
  workspaceId: string;
  name: string;
  environment: KeyEnvironment;
  createdBy: string | null;
  /** e.g. `pcx_live_abc…xyz9` */
  masked: string;
  status: KeyStatus;
  scopes: Scope[];
  models: string[];
  allowIps: string[];
  allowOrigins: string[];
  limits: KeyLimits;
  tags: string[];
  expiresAt: number | null;
  revokedAt: number | null;
  deletedAt: number | null;
  /** After a rotation: until when the previous secret is still accepted. */
  previousValidUntil: number | null;
  lastUsedAt: number | null;
  lastUsedIp: string | null;
  createdAt: number;
  updatedAt: number;
}
