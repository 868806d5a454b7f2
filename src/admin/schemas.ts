import { Type as T, type TSchema } from '@sinclair/typebox';
import { PROVIDERS } from '../credentials/validate.ts';
import { KEY_ENVIRONMENTS } from '../keys/format.ts';
import { BUDGET_WINDOWS, SCOPES } from '../keys/types.ts';

/**
 * The admin API's JSON shapes. Each one is used three times: Fastify validates request bodies and
 * path parameters with it, serialises responses through it (so a field that is not declared here,
 * such as a hash or ciphertext a repository might one day carry, is never sent), and the OpenAPI
 * document is generated from it. Request bodies never accept unknown fields (no mass assignment).
 */

const closed = { additionalProperties: false } as const;

/** Epoch milliseconds. */
export const Millis = T.Integer({ minimum: 0, description: 'Epoch milliseconds.' });
const MaybeMillis = T.Union([Millis, T.Null()]);

const StringList = (description: string, maxItems = 100) =>
  T.Array(T.String({ minLength: 1, maxLength: 200 }), { maxItems, description });

// Path parameters: the same shapes the repositories accept, checked before any lookup.
export const KeyIdParams = T.Object(
  { id: T.String({ pattern: '^key_[0-9A-Za-z]{12}$', description: 'API key id (`key_…`).' }) },
  closed,
);
export const CredentialParams = T.Object(
  {
    idOrName: T.String({
      pattern: '^(crd_[A-Za-z0-9_-]{22}|[A-Za-z0-9][A-Za-z0-9._-]{0,62})$',
      description: 'Credential id (`crd_…`) or name.',
    }),
  },
  closed,
);
export const AliasParams = T.Object(
  {
    name: T.String({
      pattern: '^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$',
      description: 'The public model name the alias answers to.',
    }),
  },
  closed,
);

export const ErrorEnvelope = T.Object(
  {
    error: T.Object({
      message: T.String(),
      type: T.String({ description: 'OpenAI error type, e.g. `invalid_request_error`.' }),
      code: T.String({ description: 'Stable Portcullis error code (docs/errors.md).' }),
      param: T.Union([T.String(), T.Null()], { description: 'The request field at fault, if any.' }),
      request_id: T.String(),
    }),
  },
  { $id: 'ErrorEnvelope', description: 'The OpenAI error envelope every refusal uses.' },
);

export const Workspace = T.Object({
  id: T.String(),
  name: T.String(),
  createdAt: Millis,
});

// ---- credentials ----

const CredentialOptionsIn = T.Object(
  {
    apiVersion: T.Optional(T.String({ maxLength: 40, description: 'azure-openai: the api-version.' })),
    deployments: T.Optional(
      T.Record(T.String(), T.String({ maxLength: 64 }), {
        description: 'azure-openai: model name → deployment name.',
      }),
    ),
    listed: T.Optional(StringList('Concrete model names shown in GET /v1/models.')),
  },
  closed,
);
const CredentialOptionsOut = T.Object({
  apiVersion: T.Optional(T.String()),
  deployments: T.Optional(T.Record(T.String(), T.String())),
  listed: T.Optional(T.Array(T.String())),
});

const Secret = T.String({
  minLength: 1,
  maxLength: 8192,
  writeOnly: true,
  description: 'The provider API key. Write-only: never returned; responses show `masked`.',
});

export const CreateCredentialBody = T.Object(
  {
    name: T.String({ minLength: 1, maxLength: 63 }),
    provider: T.Union(
      PROVIDERS.map((p) => T.Literal(p)),
      { description: 'openai, anthropic, azure-openai or openai-compatible.' },
    ),
    baseUrl: T.Optional(T.String({ minLength: 1, maxLength: 2048 })),
    models: T.Optional(StringList('Model globs this credential serves, e.g. `gpt-4o*`.')),
    secret: Secret,
    options: T.Optional(CredentialOptionsIn),
  },
  closed,
);

export const UpdateCredentialBody = T.Object(
  {
    baseUrl: T.Optional(T.String({ minLength: 1, maxLength: 2048 })),
    models: T.Optional(StringList('Model globs this credential serves.')),
    secret: T.Optional(Secret),
    options: T.Optional(CredentialOptionsIn),
  },
  { ...closed, minProperties: 1 },
);

export const Credential = T.Object({
  id: T.String(),
  workspaceId: T.String(),
  name: T.String(),
  provider: T.String(),
  baseUrl: T.String(),
  models: T.Array(T.String()),
  options: CredentialOptionsOut,
  masked: T.String({ description: 'Display form of the secret, e.g. `sk-proj-abc…xyz9`.' }),
  createdAt: Millis,
  updatedAt: Millis,
});

// ---- aliases ----

const AliasTarget = T.Object(
  {
    credential: T.String({ minLength: 1, maxLength: 63, description: 'A credential name.' }),
    model: T.String({ minLength: 1, maxLength: 200, description: 'The model name sent upstream.' }),
  },
  closed,
);

export const PutAliasBody = T.Object(
  { targets: T.Array(AliasTarget, { minItems: 1, maxItems: 10, description: 'In fallback order.' }) },
  closed,
);

export const Alias = T.Object({
  id: T.String(),
  workspaceId: T.String(),
  name: T.String(),
  targets: T.Array(T.Object({ credential: T.String(), model: T.String() })),
  createdAt: Millis,
  updatedAt: Millis,
});

// ---- keys ----

const ScopeSchema = T.Union(SCOPES.map((s) => T.Literal(s)));
const Limits = T.Object(
  {
    rpm: T.Optional(T.Integer({ minimum: 1 })),
    tpm: T.Optional(T.Integer({ minimum: 1 })),
    concurrency: T.Optional(T.Integer({ minimum: 1 })),
    budgetUsd: T.Optional(T.Number({ exclusiveMinimum: 0 })),
    budgetWindow: T.Optional(T.Union(BUDGET_WINDOWS.map((w) => T.Literal(w)))),
  },
  closed,
);

const keyAttributes = {
  name: T.String({ minLength: 1, maxLength: 100 }),
  scopes: T.Array(ScopeSchema, {
    minItems: 1,
    maxItems: SCOPES.length,
    description: 'Default: every data-plane scope. Only scopes the calling key holds may be granted.',
  }),
  models: StringList('Model globs the key may use; `["*"]` for all.'),
  allowIps: StringList('IPv4/IPv6 addresses or CIDRs; empty = any.'),
  allowOrigins: StringList('Browser origins (`https://app.example.com`); empty = server-side only.'),
  limits: Limits,
  tags: StringList('Free-form labels.', 50),
  expiresAt: T.Union([Millis, T.Null()], { description: 'Epoch ms in the future; null = never.' }),
};

export const CreateKeyBody = T.Object(
  {
    name: keyAttributes.name,
    environment: T.Optional(
      T.Union(
        KEY_ENVIRONMENTS.map((e) => T.Literal(e)),
        { default: 'live' },
      ),
    ),
    scopes: T.Optional(keyAttributes.scopes),
    models: T.Optional(keyAttributes.models),
    allowIps: T.Optional(keyAttributes.allowIps),
    allowOrigins: T.Optional(keyAttributes.allowOrigins),
    limits: T.Optional(keyAttributes.limits),
    tags: T.Optional(keyAttributes.tags),
    expiresAt: T.Optional(keyAttributes.expiresAt),
  },
  closed,
);

export const UpdateKeyBody = T.Object(
  {
    name: T.Optional(keyAttributes.name),
    scopes: T.Optional(keyAttributes.scopes),
    models: T.Optional(keyAttributes.models),
    allowIps: T.Optional(keyAttributes.allowIps),
    allowOrigins: T.Optional(keyAttributes.allowOrigins),
    limits: T.Optional(keyAttributes.limits),
    tags: T.Optional(keyAttributes.tags),
    expiresAt: T.Optional(keyAttributes.expiresAt),
  },
  { ...closed, minProperties: 1 },
);

export const RotateKeyBody = T.Object(
  {
    graceSeconds: T.Optional(
      T.Integer({
        minimum: 0,
        maximum: 30 * 86_400,
        description: 'How long the current secret keeps working (default 24 h; 0 = stops now).',
      }),
    ),
  },
  closed,
);

const keyRecordProperties = {
  id: T.String(),
  workspaceId: T.String(),
  name: T.String(),
  environment: T.String(),
  createdBy: T.Union([T.String(), T.Null()]),
  masked: T.String({ description: 'Display form, e.g. `pcx_live_abc…xyz9`.' }),
  status: T.Union([T.Literal('active'), T.Literal('expired'), T.Literal('revoked'), T.Literal('deleted')]),
  scopes: T.Array(T.String()),
  models: T.Array(T.String()),
  allowIps: T.Array(T.String()),
  allowOrigins: T.Array(T.String()),
  limits: T.Object({
    rpm: T.Optional(T.Integer()),
    tpm: T.Optional(T.Integer()),
    concurrency: T.Optional(T.Integer()),
    budgetUsd: T.Optional(T.Number()),
    budgetWindow: T.Optional(T.String()),
  }),
  tags: T.Array(T.String()),
  expiresAt: MaybeMillis,
  revokedAt: MaybeMillis,
  deletedAt: MaybeMillis,
  previousValidUntil: T.Union([Millis, T.Null()], {
    description: 'After a rotation: until when the previous secret is still accepted.',
  }),
  lastUsedAt: MaybeMillis,
  lastUsedIp: T.Union([T.String(), T.Null()]),
  createdAt: Millis,
  updatedAt: Millis,
};

export const ApiKey = T.Object(keyRecordProperties);
const { id: _id, ...keyRecordRest } = keyRecordProperties;
export const ApiKeyWithSecret = T.Object({
  id: keyRecordProperties.id,
  key: T.String({ description: 'The full key. Returned only here, once: store it now.' }),
  ...keyRecordRest,
});

export const listOf = (item: TSchema) => T.Object({ data: T.Array(item) });
