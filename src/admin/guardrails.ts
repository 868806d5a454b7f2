import { Type as T, type TSchema } from '@sinclair/typebox';
import type { AuditContext } from '../audit/events.ts';
import type { Described } from '../audit/log.ts';
import { PortcullisError } from '../errors/catalogue.ts';
import { PII_ENTITIES } from '../guardrails/pii.ts';
import { DEFAULT_POLICY, mergePolicy, type PolicyOverride } from '../guardrails/policy.ts';
import {
  type OverrideChange,
  PolicyError,
  readOverrides,
  writeOverride,
} from '../guardrails/policy-store.ts';
import { compileSafeRegex } from '../guardrails/regex-policy.ts';
import { type Actor, enforce } from './auth.ts';
import { notFound } from './errors.ts';
import { type AdminDeps, type AdminRoute, route } from './route.ts';
import { KeyIdParams } from './schemas.ts';

/**
 * Guardrail policies (issue 7): the workspace's policy and per-key overrides, as
 * `portcullis guardrails set|show` manage them (src/guardrails/policy-store.ts). The effective
 * policy of a call is DEFAULT_POLICY ← workspace override ← key override. Reads come from the
 * store, not the data plane's cache, so they show what is committed. A change commits with its
 * audit entry (`guardrails.set` / `guardrails.removed`, field names only), then this process's
 * policy cache forgets the workspace: the next call here enforces it; other replicas within 5 s
 * (their cache entry's lifetime), like limits and routing.
 */

const closed = { additionalProperties: false } as const;
/** A string enum: Ajv then says "must be equal to one of the allowed values", not "… constant". */
const oneOf = <V extends string>(values: readonly V[], description?: string) =>
  T.Unsafe<V>({ type: 'string', enum: [...values], ...(description ? { description } : {}) });

const ACTIONS = ['block', 'redact', 'pseudonymize', 'log'] as const;
const Name = T.String({ pattern: '^[\\x21-\\x7e]{1,128}$' });

/** The fields every detector has; all optional in a request (an override names what it changes). */
function detectorFields(actions: readonly string[]) {
  return {
    enabled: T.Optional(T.Boolean()),
    where: T.Optional(oneOf(['input', 'output', 'both'], 'Request texts, answer texts, or both.')),
    action: T.Optional(oneOf(actions)),
    threshold: T.Optional(
      T.Number({
        minimum: 0,
        maximum: 1,
        description: 'Injection score, or PII / secret confidence, from which a finding counts.',
      }),
    ),
    timeBudgetMs: T.Optional(
      T.Integer({ minimum: 1, maximum: 10_000, description: 'Longer than this counts as an error.' }),
    ),
    onError: T.Optional(
      oneOf(['block', 'allow'], 'When the detector fails or overruns: refuse (fail closed) or let it pass.'),
    ),
  };
}

const CustomEntity = T.Object(
  {
    name: T.String({ pattern: '^[A-Z][A-Z0-9_]{0,39}$', description: 'UPPER_SNAKE; the placeholder type.' }),
    pattern: T.String({
      minLength: 1,
      maxLength: 512,
      description: 'A JavaScript regex under the safe-regex policy (docs/guardrails.md).',
    }),
    flags: T.Optional(T.String({ pattern: '^[imsu]{0,4}$' })),
    confidence: T.Optional(T.Number({ minimum: 0, maximum: 1 })),
  },
  closed,
);

const PolicyOverrideBody = T.Object(
  {
    'prompt-injection': T.Optional(T.Object(detectorFields(['block', 'log']), closed)),
    pii: T.Optional(
      T.Object(
        {
          ...detectorFields(ACTIONS),
          entities: T.Optional(T.Array(oneOf(PII_ENTITIES), { uniqueItems: true })),
          custom: T.Optional(T.Array(CustomEntity, { maxItems: 50 })),
        },
        closed,
      ),
    ),
    secrets: T.Optional(
      T.Object(
        {
          ...detectorFields(ACTIONS),
          disabledRules: T.Optional(
            T.Array(T.String({ minLength: 1, maxLength: 128 }), { maxItems: 256, uniqueItems: true }),
          ),
        },
        closed,
      ),
    ),
    'json-schema': T.Optional(
      T.Object(
        {
          enabled: T.Optional(T.Boolean()),
          where: T.Optional(oneOf(['output'], 'Answers only: the schema is the one the request sent.')),
          action: T.Optional(oneOf(['block', 'log'])),
          retries: T.Optional(
            T.Integer({
              minimum: 0,
              maximum: 1,
              description: 'Extra provider calls for a non-matching answer.',
            }),
          ),
          timeBudgetMs: T.Optional(T.Integer({ minimum: 1, maximum: 10_000 })),
          onError: T.Optional(oneOf(['block', 'allow'])),
        },
        closed,
      ),
    ),
    tools: T.Optional(
      T.Object(
        {
          allow: T.Union([T.Array(Name, { maxItems: 256 }), T.Null()], {
            description: 'Function tools the model may call; null = any.',
          }),
        },
        closed,
      ),
    ),
    hostedTools: T.Optional(
      T.Object(
        {
          allow: T.Array(Name, {
            maxItems: 256,
            description: 'Provider-hosted tools by type or prefix (`web_search`); none by default.',
          }),
        },
        closed,
      ),
    ),
    betaFlags: T.Optional(
      T.Object(
        { allow: T.Array(Name, { maxItems: 256, description: '`anthropic-beta` flags; none by default.' }) },
        closed,
      ),
    ),
  },
  { ...closed, description: 'Sections and fields to set; a section or field left out is inherited.' },
);

// Responses: every field declared, so what leaves is exactly the policy (nothing else is serialised).
const detectorOut = (extra: Record<string, TSchema> = {}) =>
  T.Object({
    enabled: T.Boolean(),
    where: T.String(),
    action: T.String(),
    threshold: T.Number(),
    timeBudgetMs: T.Number(),
    onError: T.String(),
    ...extra,
  });
const CustomOut = T.Object({
  name: T.String(),
  pattern: T.String(),
  flags: T.Optional(T.String()),
  confidence: T.Optional(T.Number()),
});
const JsonSchemaOut = T.Object({
  enabled: T.Boolean(),
  where: T.String(),
  action: T.String(),
  retries: T.Integer(),
  timeBudgetMs: T.Number(),
  onError: T.String(),
});
const POLICY_SECTIONS = {
  'prompt-injection': detectorOut(),
  pii: detectorOut({ entities: T.Array(T.String()), custom: T.Array(CustomOut) }),
  secrets: detectorOut({ disabledRules: T.Array(T.String()) }),
  'json-schema': JsonSchemaOut,
  tools: T.Object({ allow: T.Union([T.Array(T.String()), T.Null()]) }),
  hostedTools: T.Object({ allow: T.Array(T.String()) }),
  betaFlags: T.Object({ allow: T.Array(T.String()) }),
};
const Policy = (description: string) => T.Object(POLICY_SECTIONS, { description });
const partialOut = (schema: TSchema) => T.Optional(T.Partial(schema));
const Override = T.Object(
  {
    'prompt-injection': partialOut(POLICY_SECTIONS['prompt-injection']),
    pii: partialOut(POLICY_SECTIONS.pii),
    secrets: partialOut(POLICY_SECTIONS.secrets),
    'json-schema': partialOut(JsonSchemaOut),
    tools: partialOut(POLICY_SECTIONS.tools),
    hostedTools: partialOut(POLICY_SECTIONS.hostedTools),
    betaFlags: partialOut(POLICY_SECTIONS.betaFlags),
  },
  { description: 'What is stored: only the fields set, over what is inherited.' },
);

const WorkspaceGuardrails = T.Object({
  workspaceId: T.String(),
  policy: Policy('Effective for calls of keys without an override.'),
  override: Override,
  default: Policy('What every workspace starts from.'),
  keysWithOverride: T.Array(T.String(), { description: 'Ids of keys with an override of their own.' }),
});
const KeyGuardrails = T.Object({
  keyId: T.String(),
  workspaceId: T.String(),
  policy: Policy("Effective for this key's calls."),
  override: Override,
});

/** Dotted names of the fields whose value differs (`pii.action`); values are not audited. */
function changedFields(before: PolicyOverride, after: PolicyOverride): string[] {
  const b = before as Record<string, Record<string, unknown> | undefined>;
  const a = after as Record<string, Record<string, unknown> | undefined>;
  const out: string[] = [];
  for (const section of new Set([...Object.keys(b), ...Object.keys(a)])) {
    const fields = new Set([...Object.keys(b[section] ?? {}), ...Object.keys(a[section] ?? {})]);
    for (const f of fields) {
      if (JSON.stringify(b[section]?.[f]) !== JSON.stringify(a[section]?.[f])) out.push(`${section}.${f}`);
    }
  }
  return out.sort();
}

/**
 * The schema admits any pattern text; the safe-regex policy (no catastrophic backtracking) is
 * checked here so the refusal names the pattern's field.
 */
function checkPatterns(body: PolicyOverride): void {
  for (const [i, c] of (body.pii?.custom ?? []).entries()) {
    const verdict = compileSafeRegex(c.pattern, c.flags ?? '');
    if (!verdict.ok) {
      throw new PortcullisError('invalid_request', {
        vars: { detail: `pii.custom.${i}.pattern: ${verdict.reason}` },
        param: `pii.custom.${i}.pattern`,
      });
    }
  }
}

/** A PolicyError's first problem (`pii.action: block|…`) as a 400 naming its field. */
function invalidPolicy(err: PolicyError): PortcullisError {
  const first = err.problems[0] ?? 'invalid policy';
  const colon = first.indexOf(':');
  return new PortcullisError('invalid_request', {
    vars: { detail: err.problems.join('; ') },
    param: colon > 0 ? first.slice(0, colon) : null,
  });
}

export function guardrailRoutes(deps: AdminDeps): AdminRoute[] {
  const { workspaces, keys, audit, guardrails } = deps;

  async function workspaceView(workspaceId: string) {
    const stored = await readOverrides(workspaces, workspaceId);
    return {
      workspaceId,
      policy: mergePolicy(DEFAULT_POLICY, stored.workspace),
      override: stored.workspace,
      default: DEFAULT_POLICY,
      keysWithOverride: Object.keys(stored.keys).sort(),
    };
  }

  async function keyView(workspaceId: string, keyId: string) {
    const stored = await readOverrides(workspaces, workspaceId);
    const override = stored.keys[keyId] ?? {};
    return { keyId, workspaceId, policy: mergePolicy(DEFAULT_POLICY, stored.workspace, override), override };
  }

  /** The key, if the actor may perform `action` on it; else the 404 a missing key gets (or a 403). */
  async function loadKey(actor: Actor, id: string, action: 'guardrails:read' | 'guardrails:write') {
    const record = await keys.show(id, { workspaceId: actor.workspaceId });
    // The key itself must be visible to the actor first (a User sees only the keys they created),
    // so a policy route cannot confirm that another member's key exists.
    enforce(actor, 'keys:read', { workspaceId: record.workspaceId, ownerId: record.createdBy }, () =>
      notFound('API key', id),
    );
    enforce(actor, action, { workspaceId: record.workspaceId }, () => notFound('API key', id));
    return record;
  }

  /** Writes the change with its audit entry, then drops this process's cached policies. */
  async function commit(
    workspaceId: string,
    change: OverrideChange,
    context: AuditContext,
    keyId?: string,
  ): Promise<void> {
    if (change.mode !== 'remove') checkPatterns(change.override);
    try {
      await audit.record(
        context,
        (tx) => {
          tx.afterCommit(() => guardrails.invalidate(workspaceId));
          return writeOverride(workspaces.inTx(tx), workspaceId, change, keyId);
        },
        ({ before, after }): Described => ({
          action: change.mode === 'remove' ? 'guardrails.removed' : 'guardrails.set',
          workspaceId,
          target: keyId ?? workspaceId,
          details: {
            scope: keyId === undefined ? 'workspace' : 'key',
            changed: changedFields(before, after),
          },
        }),
      );
    } catch (err) {
      throw err instanceof PolicyError ? invalidPolicy(err) : err;
    }
  }

  const writeWorkspace = (mode: 'merge' | 'replace') =>
    route({
      method: mode === 'merge' ? 'PATCH' : 'PUT',
      path: '/guardrails',
      action: 'guardrails:write',
      tag: 'guardrails',
      summary:
        mode === 'merge'
          ? "Change fields of the workspace's guardrail policy (the rest is kept)"
          : "Replace the workspace's guardrail override (`{}` returns to the default policy)",
      description:
        (mode === 'merge'
          ? 'Each section given is merged field by field into the stored override, like `portcullis guardrails set`. '
          : 'Sections and fields left out fall back to the default policy. ') +
        'Audited as `guardrails.set` with the names of the fields that changed. Enforced by the next call on this replica, within 5 s on others.',
      body: PolicyOverrideBody,
      status: 200,
      response: WorkspaceGuardrails,
      async handler({ actor, body, context }) {
        const workspaceId = actor.workspaceId;
        enforce(actor, 'guardrails:write', { workspaceId }, () => notFound('workspace', workspaceId));
        await commit(workspaceId, { mode, override: body as PolicyOverride }, context);
        return workspaceView(workspaceId);
      },
    });

  return [
    route({
      method: 'GET',
      path: '/guardrails',
      action: 'guardrails:read',
      tag: 'guardrails',
      summary: "The workspace's guardrail policy: effective, its stored override, and the default",
      status: 200,
      response: WorkspaceGuardrails,
      async handler({ actor }) {
        enforce(actor, 'guardrails:read', { workspaceId: actor.workspaceId }, () =>
          notFound('workspace', actor.workspaceId),
        );
        return workspaceView(actor.workspaceId);
      },
    }),
    writeWorkspace('replace'),
    writeWorkspace('merge'),
    route({
      method: 'GET',
      path: '/keys/:id/guardrails',
      action: 'guardrails:read',
      tag: 'keys',
      summary: "An API key's guardrail override and the policy its calls get",
      params: KeyIdParams,
      status: 200,
      response: KeyGuardrails,
      async handler({ actor, params }) {
        const record = await loadKey(actor, params.id, 'guardrails:read');
        return keyView(record.workspaceId, record.id);
      },
    }),
    route({
      method: 'PUT',
      path: '/keys/:id/guardrails',
      action: 'guardrails:write',
      tag: 'keys',
      summary: "Replace an API key's guardrail override (over the workspace's policy)",
      description:
        'Fields left out are inherited from the workspace. Audited as `guardrails.set` (scope `key`).',
      params: KeyIdParams,
      body: PolicyOverrideBody,
      status: 200,
      response: KeyGuardrails,
      async handler({ actor, params, body, context }) {
        const record = await loadKey(actor, params.id, 'guardrails:write');
        await commit(
          record.workspaceId,
          { mode: 'replace', override: body as PolicyOverride },
          context,
          record.id,
        );
        return keyView(record.workspaceId, record.id);
      },
    }),
    route({
      method: 'DELETE',
      path: '/keys/:id/guardrails',
      action: 'guardrails:write',
      tag: 'keys',
      summary: "Remove an API key's guardrail override (its calls get the workspace's policy)",
      description: 'Audited as `guardrails.removed` with the names of the fields the override had.',
      params: KeyIdParams,
      status: 200,
      response: KeyGuardrails,
      async handler({ actor, params, context }) {
        const record = await loadKey(actor, params.id, 'guardrails:write');
        await commit(record.workspaceId, { mode: 'remove' }, context, record.id);
        return keyView(record.workspaceId, record.id);
      },
    }),
  ];
}
