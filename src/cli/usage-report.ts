import { aggregateUsage, type UsageAggregate, type UsageGrouping } from '../usage/records.ts';
import { parseWhen } from './audit.ts';
import type { Command } from './context.ts';
import { withLocal } from './local.ts';
import { optionalFlag, requireFlag, table, UsageError } from './usage.ts';

const COLUMNS = [
  'group',
  'requests',
  'errors',
  'inputTokens',
  'outputTokens',
  'costMicros',
  'avgLatencyMs',
] as const;

/** RFC 4180 CSV: fields with a comma, quote or line break are quoted, quotes doubled. */
export function toCsv(by: string, rows: readonly UsageAggregate[]): string {
  const cell = (v: unknown): string => {
    const text = v === null || v === undefined ? '' : String(v);
    return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  const header = [by, ...COLUMNS.slice(1), 'costUsd'].join(',');
  const lines = rows.map((r) =>
    [...COLUMNS.map((c) => cell(r[c])), cell(r.costMicros === null ? null : r.costMicros / 1_000_000)].join(
      ',',
    ),
  );
  return [header, ...lines].join('\r\n');
}

export const usageReportCommand: Command = {
  name: ['usage', 'report'],
  summary: 'Requests, tokens, cost and latency of a workspace, by day, model, key or user.',
  usage:
    'portcullis usage report --workspace W [--by day|model|key|user] [--since ISO] [--until ISO] [--format table|json|csv] [--config FILE]',
  options: {
    workspace: { type: 'string', short: 'w' },
    by: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    format: { type: 'string' },
  },
  async run(ctx, values) {
    const workspace = requireFlag(values, 'workspace');
    const by = (optionalFlag(values, 'by') ?? 'day') as UsageGrouping;
    if (!['day', 'model', 'key', 'user'].includes(by))
      throw new UsageError('--by must be day, model, key or user');
    const format = optionalFlag(values, 'format') ?? (ctx.json ? 'json' : 'table');
    if (!['table', 'json', 'csv'].includes(format))
      throw new UsageError('--format must be table, json or csv');
    const since = parseWhen(optionalFlag(values, 'since'), 'since');
    const until = parseWhen(optionalFlag(values, 'until'), 'until');
    return withLocal(ctx, async ({ store, workspaces }) => {
      const ws = await workspaces.resolve(workspace);
      const rows = await aggregateUsage(store, { workspaceId: ws.id, by, since, until });
      const data = { workspace: ws.id, by, since: since ?? null, until: until ?? null, data: rows };
      if (format === 'csv') return { data, text: toCsv(by, rows) };
      if (format === 'json') return { data, text: JSON.stringify(data, null, 2) };
      const text =
        rows.length === 0
          ? `no usage recorded for workspace "${ws.name}" in this period`
          : table(
              [by.toUpperCase(), 'REQUESTS', 'ERRORS', 'INPUT', 'OUTPUT', 'COST USD', 'AVG MS'],
              rows.map((r) => [
                r.group,
                String(r.requests),
                String(r.errors),
                String(r.inputTokens),
                String(r.outputTokens),
                r.costMicros === null ? '-' : (r.costMicros / 1_000_000).toFixed(6),
                String(r.avgLatencyMs),
              ]),
            );
      return { data, text };
    });
  },
};
