import { Type as T } from '@sinclair/typebox';
import { listAuditEntries } from '../audit/query.ts';
import { PortcullisError } from '../errors/catalogue.ts';
import { aggregateUsage, type UsageGrouping } from '../usage/records.ts';
import { enforce } from './auth.ts';
import { notFound } from './errors.ts';
import { type AdminDeps, type AdminRoute, route } from './route.ts';

/**
 * Reading the trail: the caller's workspace's audit entries (paginated by seq) and usage
 * aggregates. Both are confined to the caller's workspace by the query itself: there is no
 * parameter that names another one. Query values arrive as strings (no coercion anywhere in the
 * gateway), so numbers and times are checked by pattern here and parsed below.
 */

const closed = { additionalProperties: false } as const;
const Time = T.String({
  pattern: '^(\\d{1,15}|\\d{4}-\\d{2}-\\d{2}(T[0-9:.]+(Z|[+-]\\d{2}:\\d{2})?)?)$',
  description: 'Epoch milliseconds or an ISO 8601 date/time (UTC unless it says otherwise).',
});

export const AuditQuery = T.Object(
  {
    after: T.Optional(
      T.String({
        pattern: '^\\d{1,15}$',
        description: 'Entries after this seq (the previous page’s `next`).',
      }),
    ),
    limit: T.Optional(T.String({ pattern: '^\\d{1,3}$', description: 'Page size, 1-500 (default 100).' })),
    action: T.Optional(
      T.String({
        pattern: '^[a-z]+(\\.[a-z_]+|\\.\\*)?$',
        description: 'An action (`key.created`) or a family (`key.*`).',
      }),
    ),
    since: T.Optional(Time),
    until: T.Optional(Time),
  },
  closed,
);

const Entry = T.Object({
  seq: T.Integer(),
  time: T.Integer({ description: 'Epoch milliseconds.' }),
  actor: T.Union([T.String(), T.Null()]),
  workspace: T.Union([T.String(), T.Null()]),
  action: T.String(),
  target: T.Union([T.String(), T.Null()]),
  clientIp: T.Union([T.String(), T.Null()]),
  userAgent: T.Union([T.String(), T.Null()]),
  outcome: T.String(),
  requestId: T.Union([T.String(), T.Null()]),
  details: T.Record(T.String(), T.Unknown()),
  prevHash: T.String(),
  hash: T.String(),
});

const AuditPage = T.Object({
  data: T.Array(Entry),
  next: T.Union([T.Integer(), T.Null()], {
    description: 'Pass as `after` for the next page; null at the end.',
  }),
});

export const UsageQuery = T.Object(
  {
    by: T.Optional(
      T.Union([T.Literal('day'), T.Literal('model'), T.Literal('key'), T.Literal('user')], {
        description: 'Grouping (default day); `user` is the member who created the key.',
      }),
    ),
    since: T.Optional(Time),
    until: T.Optional(Time),
  },
  closed,
);

const UsageReport = T.Object({
  by: T.String(),
  data: T.Array(
    T.Object({
      group: T.String({ description: 'The day (YYYY-MM-DD, UTC), model or key id.' }),
      requests: T.Integer(),
      errors: T.Integer(),
      inputTokens: T.Integer(),
      outputTokens: T.Integer(),
      costMicros: T.Union([T.Integer(), T.Null()], {
        description: 'Micro-dollars; null when no price was known.',
      }),
      avgLatencyMs: T.Number(),
    }),
  ),
});

/** Epoch ms from a checked query value (digits, or an ISO date); a 400 naming the parameter otherwise. */
export function parseTime(value: string | undefined, param: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isSafeInteger(ms)) {
    throw new PortcullisError('invalid_request', { param, vars: { detail: `${param} is not a valid time` } });
  }
  return ms;
}

export function auditRoutes(deps: AdminDeps): AdminRoute[] {
  return [
    route({
      method: 'GET',
      path: '/audit',
      action: 'audit:read',
      tag: 'audit',
      summary: "The workspace's audit trail, oldest first, paginated by seq",
      description:
        'Entries of the caller’s workspace only. Each carries its `prevHash` and `hash`; verify the whole chain with `portcullis audit verify`.',
      query: AuditQuery,
      status: 200,
      response: AuditPage,
      async handler({ actor, query }) {
        const q = query as {
          after?: string;
          limit?: string;
          action?: string;
          since?: string;
          until?: string;
        };
        const limit = Math.min(500, Math.max(1, Number(q.limit ?? 100)));
        const data = await listAuditEntries(
          deps.store,
          {
            workspaceId: actor.workspaceId,
            action: q.action,
            since: parseTime(q.since, 'since'),
            until: parseTime(q.until, 'until'),
            afterSeq: q.after === undefined ? undefined : Number(q.after),
          },
          limit,
        );
        return { data, next: data.length === limit ? (data.at(-1)?.seq ?? null) : null };
      },
    }),
    route({
      method: 'GET',
      path: '/usage',
      action: 'usage:read',
      tag: 'usage',
      summary: "The workspace's usage and cost, aggregated by day, model or key",
      query: UsageQuery,
      status: 200,
      response: UsageReport,
      async handler({ actor, query }) {
        const q = query as { by?: UsageGrouping; since?: string; until?: string };
        const by = q.by ?? 'day';
        const { own } = enforce(actor, 'usage:read', { workspaceId: actor.workspaceId }, () =>
          notFound('workspace', actor.workspaceId),
        );
        // A User reads the usage of the keys they created (revoked and deleted ones included).
        const keyIds = own
          ? (await deps.keys.list(actor.workspaceId, { includeDeleted: true }))
              .filter((k) => k.createdBy === actor.id)
              .map((k) => k.id)
          : undefined;
        const data = await aggregateUsage(deps.store, {
          ...(keyIds === undefined ? {} : { keyIds }),
          workspaceId: actor.workspaceId,
          by,
          since: parseTime(q.since, 'since'),
          until: parseTime(q.until, 'until'),
        });
        return { by, data };
      },
    }),
  ];
}
