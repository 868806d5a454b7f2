import { Type as T } from '@sinclair/typebox';
import type { Described } from '../audit/log.ts';
import { BUDGET_WINDOWS } from '../keys/types.ts';
import type { WorkspaceLimits } from '../limits/model-limits.ts';
import { validateWorkspaceLimits } from '../limits/model-limits.ts';
import { enforce } from './auth.ts';
import { notFound } from './errors.ts';
import { MemberParams } from './identity-schemas.ts';
import { type AdminDeps, type AdminRoute, route } from './route.ts';
import { KeyIdParams } from './schemas.ts';

/**
 * Limits and budgets (issue 6, item 6): the caller's workspace's limits with current usage, the
 * usage of everything that applies to one of its keys, and setting the workspace's limits. Usage
 * comes from the counters the limit stage charges, so it is the gateway's own view (in memory mode
 * too). A change takes effect in this process at once and on other replicas within 5 s (their
 * cache of workspace limits).
 */

const closed = { additionalProperties: false } as const;
const Count = T.Integer({ minimum: 1, maximum: 1_000_000_000 });

const ModelLimitsBody = T.Object(
  { rpm: T.Optional(Count), tpm: T.Optional(Count) },
  { ...closed, description: 'Requests and tokens per minute for calls that name this model.' },
);

export const WorkspaceLimitsBody = T.Object(
  {
    rpm: T.Optional(Count),
    tpm: T.Optional(Count),
    concurrency: T.Optional(Count),
    budgetUsd: T.Optional(T.Number({ exclusiveMinimum: 0, maximum: 1e9 })),
    budgetWindow: T.Optional(T.Union(BUDGET_WINDOWS.map((w) => T.Literal(w)))),
    models: T.Optional(
      T.Record(T.String(), ModelLimitsBody, {
        maxProperties: 200,
        description: 'Per model name the client sends (e.g. `gpt-4o`, or an alias name).',
      }),
    ),
    perUser: T.Optional(
      T.Object(
        {
          rpm: T.Optional(Count),
          tpm: T.Optional(Count),
          concurrency: T.Optional(Count),
          budgetUsd: T.Optional(T.Number({ exclusiveMinimum: 0, maximum: 1e9 })),
          budgetWindow: T.Optional(T.Union(BUDGET_WINDOWS.map((w) => T.Literal(w)))),
        },
        { ...closed, description: "Each member's allowance over all the keys they created." },
      ),
    ),
  },
  closed,
);

const WorkspaceLimitsOut = T.Object({
  rpm: T.Optional(T.Integer()),
  tpm: T.Optional(T.Integer()),
  concurrency: T.Optional(T.Integer()),
  budgetUsd: T.Optional(T.Number()),
  budgetWindow: T.Optional(T.String()),
  models: T.Optional(
    T.Record(T.String(), T.Object({ rpm: T.Optional(T.Integer()), tpm: T.Optional(T.Integer()) })),
  ),
  perUser: T.Optional(
    T.Object({
      rpm: T.Optional(T.Integer()),
      tpm: T.Optional(T.Integer()),
      concurrency: T.Optional(T.Integer()),
      budgetUsd: T.Optional(T.Number()),
      budgetWindow: T.Optional(T.String()),
    }),
  ),
});

const UsageRow = T.Object({
  scope: T.Union(['key', 'user', 'workspace', 'model', 'plan', 'global'].map((s) => T.Literal(s))),
  id: T.String({
    description:
      'Key or workspace id; `<workspace>:<model>` for a model limit; "" for global; for a plan `k:<key>` or `w:<workspace>` (+ `:<model>`).',
  }),
  model: T.Optional(T.String()),
  plan: T.Optional(T.String({ description: 'For the `plan` scope: the named plan.' })),
  limit: T.Union(['rpm', 'tpm', 'concurrency', 'budget'].map((s) => T.Literal(s))),
  max: T.Number({ description: 'Requests, tokens, calls in flight, or micro-dollars for a budget.' }),
  used: T.Number({ description: 'Same unit as `max`, right now (rates: within the last minute).' }),
  window: T.Optional(T.String({ description: 'Budgets: day, week, month or total.' })),
  resets: T.Optional(T.String({ description: 'Budgets: when the window resets (UTC).' })),
});

const WorkspaceLimitsView = T.Object({
  workspaceId: T.String(),
  limits: WorkspaceLimitsOut,
  usage: T.Array(UsageRow),
});

const MemberLimitsView = T.Object({
  userId: T.String(),
  workspaceId: T.String(),
  usage: T.Array(UsageRow),
});
const KeyLimitsView = T.Object({
  keyId: T.String(),
  workspaceId: T.String(),
  usage: T.Array(UsageRow, {
    description: 'Every limit and budget that applies: key, workspace, model, global.',
  }),
});

/** Names of the top-level fields whose value differs (values are not audited). */
function changed(before: WorkspaceLimits, after: WorkspaceLimits): string[] {
  const fields = new Set([...Object.keys(before), ...Object.keys(after)]) as Set<keyof WorkspaceLimits>;
  return [...fields].filter((f) => JSON.stringify(before[f]) !== JSON.stringify(after[f])).sort();
}

export function limitRoutes(deps: AdminDeps): AdminRoute[] {
  const { workspaces, keys, audit, limits } = deps;
  return [
    route({
      method: 'GET',
      path: '/limits',
      action: 'limits:read',
      tag: 'limits',
      summary: "The workspace's limits and budget, with current usage against each",
      description:
        'Rows cover the workspace, each of its per-model limits, and the global limits of this gateway.',
      status: 200,
      response: WorkspaceLimitsView,
      async handler({ actor }) {
        enforce(actor, 'limits:read', { workspaceId: actor.workspaceId }, () =>
          notFound('workspace', actor.workspaceId),
        );
        const view = await limits.usage({ workspaceId: actor.workspaceId });
        return { workspaceId: actor.workspaceId, ...view };
      },
    }),
    route({
      method: 'PUT',
      path: '/limits',
      action: 'limits:write',
      tag: 'limits',
      summary: "Replace the workspace's limits and budget (an empty object removes them all)",
      description:
        'Validated like `portcullis limits set`. Audited as `limits.set` with the names of the fields that changed.',
      body: WorkspaceLimitsBody,
      status: 200,
      response: WorkspaceLimitsView,
      async handler({ actor, body, context }) {
        const workspaceId = actor.workspaceId;
        enforce(actor, 'limits:write', { workspaceId }, () => notFound('workspace', workspaceId));
        const before = await workspaces.getLimits(workspaceId);
        // The spend budget is the Owner's (docs/rbac.md); rate and token limits are an Admin's too.
        // Validated first, so a malformed body is a 400 whoever sends it.
        const wanted = validateWorkspaceLimits(body);
        const budgetOf = (l: WorkspaceLimits) =>
          JSON.stringify([l.budgetUsd, l.budgetWindow, l.perUser?.budgetUsd, l.perUser?.budgetWindow]);
        if (budgetOf(before) !== budgetOf(wanted)) {
          enforce(actor, 'budgets:write', { workspaceId }, () => notFound('workspace', workspaceId));
        }
        await audit.record(
          context,
          (tx) => workspaces.inTx(tx).setLimits(workspaceId, body),
          (after): Described => ({
            action: 'limits.set',
            workspaceId,
            target: workspaceId,
            details: { scope: 'workspace', changed: changed(before, after) },
          }),
        );
        limits.invalidate(workspaceId);
        return { workspaceId, ...(await limits.usage({ workspaceId })) };
      },
    }),
    route({
      method: 'GET',
      path: '/members/:userId/limits',
      action: 'limits:read',
      tag: 'limits',
      summary:
        "A member's per-user limits and budget (over all keys they created), with usage, and the workspace's",
      params: MemberParams,
      status: 200,
      response: MemberLimitsView,
      async handler({ actor, params }) {
        const member = await deps.identity.members.find(actor.workspaceId, params.userId);
        if (!member) throw notFound('member', params.userId);
        const view = await limits.usage({ workspaceId: actor.workspaceId, userId: params.userId });
        return { userId: params.userId, workspaceId: actor.workspaceId, usage: view.usage };
      },
    }),
    route({
      method: 'GET',
      path: '/keys/:id/limits',
      action: 'keys:read',
      tag: 'keys',
      summary: 'Every limit and budget that applies to an API key, with current usage',
      description: 'Whoever may read the key may read this: a User their own keys.',
      params: KeyIdParams,
      status: 200,
      response: KeyLimitsView,
      async handler({ actor, params }) {
        const record = await keys.show(params.id, { workspaceId: actor.workspaceId });
        enforce(actor, 'keys:read', { workspaceId: record.workspaceId, ownerId: record.createdBy }, () =>
          notFound('API key', params.id),
        );
        const view = await limits.usage({
          workspaceId: record.workspaceId,
          key: {
            id: record.id,
            limits: record.limits,
            userId: record.createdBy?.startsWith('usr_') ? record.createdBy : null,
          },
        });
        return { keyId: record.id, workspaceId: record.workspaceId, usage: view.usage };
      },
    }),
  ];
}
