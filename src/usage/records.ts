import { randomBytes } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type { Database } from '../store/schema.ts';
import type { Store } from '../store/types.ts';

/**
 * Usage accounting (DESIGN.md stage 8): one row per proxied call, metadata only — who (workspace,
 * key), what (endpoint, model, provider), how much (tokens, cost when known), how it went (status,
 * latency). Never prompt or answer text. Written in batches by the event writer (src/audit/writer.ts).
 */
export interface UsageRecord {
  time: number;
  workspaceId: string;
  keyId: string;
  requestId: string | null;
  endpoint: string;
  /** The model name the client asked for. */
  model: string;
  provider: string | null;
  /** The credential name that answered. */
  target: string | null;
  stream: boolean;
  status: number;
  inputTokens: number | null;
  outputTokens: number | null;
  /** Micro-dollars; null when no price is known to this record. */
  costMicros: number | null;
  latencyMs: number;
  /** Until the provider's response headers. */
  upstreamMs: number | null;
}

export async function insertUsage(db: Kysely<Database>, records: readonly UsageRecord[]): Promise<void> {
  if (records.length === 0) return;
  await db
    .insertInto('usage_records')
    .values(
      records.map((r) => ({
        id: `use_${randomBytes(12).toString('base64url')}`,
        time: r.time,
        workspace_id: r.workspaceId,
        key_id: r.keyId,
        request_id: r.requestId,
        endpoint: r.endpoint,
        model: r.model.slice(0, 200),
        provider: r.provider,
        target: r.target,
        stream: r.stream ? 1 : 0,
        status: r.status,
        input_tokens: r.inputTokens,
        output_tokens: r.outputTokens,
        cost_micros: r.costMicros,
        latency_ms: Math.max(0, Math.round(r.latencyMs)),
        upstream_ms: r.upstreamMs === null ? null : Math.max(0, Math.round(r.upstreamMs)),
      })),
    )
    .execute();
}

/** `user`: the member who created the call's key (`usr_…`; '' for keys made by a management key or the CLI). */
export type UsageGrouping = 'day' | 'model' | 'key' | 'user';

export interface UsageQuery {
  workspaceId: string;
  by: UsageGrouping;
  /** Epoch ms, inclusive. */
  since?: number;
  /** Epoch ms, exclusive. */
  until?: number;
  /** Only these keys' calls (a User reading their own usage); undefined = every key. */
  keyIds?: readonly string[];
}

export interface UsageAggregate {
  /** The day (YYYY-MM-DD, UTC), model name or key id. */
  group: string;
  requests: number;
  /** Calls answered with a status of 400 or more (including client aborts, 499). */
  errors: number;
  inputTokens: number;
  outputTokens: number;
  /** Sum over calls with a known cost; null when none had one. */
  costMicros: number | null;
  avgLatencyMs: number;
}

const DAY_MS = 86_400_000;

export async function aggregateUsage(store: Pick<Store, 'db'>, q: UsageQuery): Promise<UsageAggregate[]> {
  const group =
    q.by === 'day'
      ? sql<string>`cast(time / ${sql.lit(DAY_MS)} as text)`
      : q.by === 'model'
        ? sql<string>`model`
        : q.by === 'user'
          ? sql<string>`coalesce(api_keys.created_by, '')`
          : sql<string>`key_id`;
  let query = store.db
    .selectFrom('usage_records')
    .leftJoin('api_keys', 'api_keys.id', 'usage_records.key_id')
    .select([
      group.as('grp'),
      sql<number>`count(*)`.as('requests'),
      sql<number>`sum(case when status >= 400 then 1 else 0 end)`.as('errors'),
      sql<number>`coalesce(sum(input_tokens), 0)`.as('input_tokens'),
      sql<number>`coalesce(sum(output_tokens), 0)`.as('output_tokens'),
      sql<number | null>`sum(cost_micros)`.as('cost_micros'),
      sql<number>`avg(latency_ms)`.as('avg_latency'),
    ])
    .where('usage_records.workspace_id', '=', q.workspaceId);
  if (q.since !== undefined) query = query.where('time', '>=', q.since);
  if (q.until !== undefined) query = query.where('time', '<', q.until);
  if (q.keyIds !== undefined) {
    if (q.keyIds.length === 0) return [];
    query = query.where('key_id', 'in', [...q.keyIds]);
  }
  const rows = await query.groupBy(group).orderBy(group).execute();
  // PostgreSQL answers sums of bigint as numeric (a string); both dialects end as numbers here.
  return rows.map((r) => ({
    group: q.by === 'day' ? new Date(Number(r.grp) * DAY_MS).toISOString().slice(0, 10) : String(r.grp),
    requests: Number(r.requests),
    errors: Number(r.errors),
    inputTokens: Number(r.input_tokens),
    outputTokens: Number(r.output_tokens),
    costMicros: r.cost_micros === null ? null : Number(r.cost_micros),
    avgLatencyMs: Math.round(Number(r.avg_latency) * 10) / 10,
  }));
}
