import { openCounters } from '../counters/open.ts';
import { loadPepper } from '../keys/hash.ts';
import { createKeyRepository } from '../keys/repository.ts';
import type { KeyLimits } from '../keys/types.ts';
import { type ModelLimits, modelLimitsFor, type WorkspaceLimits } from '../limits/model-limits.ts';
import { readPlans } from '../limits/named-plans.ts';
import { createPriceRepository } from '../limits/price-repository.ts';
import { applicableLevels, globalLevel, type UsageRow, usageReport } from '../limits/report.ts';
import { dollars } from '../limits/windows.ts';
import type { Command } from './context.ts';
import { withLocal } from './local.ts';
import { optionalFlag, requireFlag, table, UsageError } from './usage.ts';

/**
 * `portcullis limits set|show` and `portcullis prices set|list` on the local store. Running
 * gateways pick up a workspace's new limits and prices within 5 s (their cache lifetime). The admin
 * API has limits too (GET/PUT /admin/api/v1/limits, GET /keys/:id/limits); prices are CLI-only.
 */

export function wholeNumber(values: Record<string, unknown>, flag: string): number | undefined {
  const v = optionalFlag(values, flag);
  if (v === undefined) return undefined;
  if (!/^\d{1,10}$/.test(v) || Number(v) < 1)
    throw new UsageError(`--${flag} must be a positive whole number`);
  return Number(v);
}

export function usd(values: Record<string, unknown>, flag: string, required = false): number | undefined {
  const v = required ? requireFlag(values, flag) : optionalFlag(values, flag);
  if (v === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(v))
    throw new UsageError(`--${flag} must be an amount in US dollars like 25 or 0.15`);
  return Number(v);
}

/** --rpm, --tpm, --concurrency, --budget-usd and --budget-window, as far as given. */
export function limitFlags(values: Record<string, unknown>): KeyLimits {
  const patch: KeyLimits = {};
  for (const field of ['rpm', 'tpm', 'concurrency'] as const) {
    const n = wholeNumber(values, field);
    if (n !== undefined) patch[field] = n;
  }
  const budget = usd(values, 'budget-usd');
  const window = optionalFlag(values, 'budget-window');
  if (budget !== undefined) patch.budgetUsd = budget;
  if (window !== undefined) {
    if (budget === undefined) throw new UsageError('--budget-window needs --budget-usd');
    patch.budgetWindow = window as KeyLimits['budgetWindow'];
  }
  return patch;
}

export const limitsSetCommand: Command = {
  name: ['limits', 'set'],
  summary:
    "Set a workspace's limits and spend budget, or with --model its limits for one model (given fields change, others stay; --clear removes all, or that model's).",
  usage:
    'portcullis limits set --workspace W [--model M] [--rpm N] [--tpm N] [--concurrency N] [--budget-usd X --budget-window day|week|month|total] [--clear] [--json]',
  options: {
    workspace: { type: 'string' },
    model: { type: 'string' },
    rpm: { type: 'string' },
    tpm: { type: 'string' },
    concurrency: { type: 'string' },
    'budget-usd': { type: 'string' },
    'budget-window': { type: 'string' },
    clear: { type: 'boolean', default: false },
  },
  async run(ctx, values) {
    const workspace = requireFlag(values, 'workspace');
    const patch = limitFlags(values);
    const model = optionalFlag(values, 'model');
    if (model !== undefined && (patch.concurrency !== undefined || patch.budgetUsd !== undefined))
      throw new UsageError('a model limit takes only --rpm and --tpm');
    if (model !== undefined && values.clear !== true && patch.rpm === undefined && patch.tpm === undefined)
      throw new UsageError('--model needs --rpm and/or --tpm (or --clear)');
    return withLocal(ctx, async ({ workspaces, audit, auditContext }) => {
      const ws = await workspaces.resolve(workspace);
      const current = await workspaces.getLimits(ws.id);
      let next: WorkspaceLimits;
      if (model === undefined) {
        next = values.clear === true ? {} : { ...current, ...patch };
      } else {
        // fromEntries defines own properties, so a hostile name like `__proto__` reaches validation.
        const others = Object.entries(current.models ?? {}).filter(([m]) => m !== model);
        const mine: ModelLimits = { ...modelLimitsFor(current, model) };
        if (patch.rpm !== undefined) mine.rpm = patch.rpm;
        if (patch.tpm !== undefined) mine.tpm = patch.tpm;
        next = {
          ...current,
          models: Object.fromEntries(values.clear === true ? others : [...others, [model, mine]]),
        };
      }
      const limits = await audit.record(
        auditContext,
        (tx) => workspaces.inTx(tx).setLimits(ws.id, next),
        (after) => ({
          action: 'limits.set',
          workspaceId: ws.id,
          target: ws.id,
          details: {
            scope: model === undefined ? 'workspace' : 'model',
            changed: changedLimits(current, after),
          },
        }),
      );
      return {
        data: { workspace: ws.id, limits },
        text: `limits of "${ws.name}": ${describeLimits(limits)}`,
      };
    });
  },
};

export const limitsShowCommand: Command = {
  name: ['limits', 'show'],
  summary: 'Show current usage against every limit and budget that applies to a workspace or a key.',
  usage: 'portcullis limits show (--workspace W | --key KEY_ID) [--json]',
  options: { workspace: { type: 'string' }, key: { type: 'string' } },
  async run(ctx, values) {
    const workspace = optionalFlag(values, 'workspace');
    const keyId = optionalFlag(values, 'key');
    if ((workspace === undefined) === (keyId === undefined))
      throw new UsageError('give --workspace or --key');
    return withLocal(ctx, async (local) => {
      let key: { id: string; limits: KeyLimits } | undefined;
      let workspaceId: string;
      if (keyId !== undefined) {
        const keys = createKeyRepository({
          store: local.store,
          clock: local.clock,
          pepper: await loadPepper(local),
        });
        const record = await keys.show(keyId);
        key = { id: record.id, limits: record.limits };
        workspaceId = record.workspaceId;
      } else {
        workspaceId = (await local.workspaces.resolve(workspace ?? '')).id;
      }
      const levels = applicableLevels({
        key,
        workspaceId,
        workspaceLimits: await local.workspaces.getLimits(workspaceId),
        plans: await readPlans(local.workspaces, workspaceId),
        global: globalLevel(local.config),
      });
      const counters = await openCounters({ config: local.config, logger: local.logger, clock: local.clock });
      let rows: UsageRow[];
      try {
        rows = await usageReport(counters, levels, local.clock.now());
      } finally {
        await counters.close();
      }
      const note =
        counters.kind === 'memory'
          ? '\n(in-memory counters: usage lives inside the running gateway; configure REDIS_URL to see it here)'
          : '';
      const text =
        rows.length === 0
          ? 'no limits or budgets apply'
          : table(
              ['SCOPE', 'ID', 'LIMIT', 'USED', 'MAX', 'WINDOW', 'RESETS'],
              rows.map((r) => [
                r.plan === undefined ? r.scope : `plan "${r.plan}"`,
                r.model ?? (r.id || '-'),
                r.limit,
                r.limit === 'budget' ? dollars(r.used) : String(r.used),
                r.limit === 'budget' ? dollars(r.max) : String(r.max),
                r.window ?? (r.limit === 'concurrency' ? 'now' : 'minute'),
                r.resets ?? '-',
              ]),
            ) + note;
      return { data: { counters: counters.kind, usage: rows }, text };
    });
  },
};

/** Dollars per million tokens → integer micro-dollars per million tokens. */
function microsPerMtok(usdPerMtok: number): number {
  return Math.round(usdPerMtok * 1_000_000);
}

export const pricesSetCommand: Command = {
  name: ['prices', 'set'],
  summary:
    "Set a workspace's own price for a model (custom or self-hosted models, or to override the table).",
  usage: 'portcullis prices set --workspace W --model M --input-per-mtok USD --output-per-mtok USD [--json]',
  options: {
    workspace: { type: 'string' },
    model: { type: 'string' },
    'input-per-mtok': { type: 'string' },
    'output-per-mtok': { type: 'string' },
  },
  async run(ctx, values) {
    const workspace = requireFlag(values, 'workspace');
    const model = requireFlag(values, 'model');
    const input = usd(values, 'input-per-mtok', true) ?? 0;
    const output = usd(values, 'output-per-mtok', true) ?? 0;
    return withLocal(ctx, async (local) => {
      const ws = await local.workspaces.resolve(workspace);
      const prices = createPriceRepository(local);
      const before = (await prices.list(ws.id)).find((p) => p.model === model);
      const price = await local.audit.record(
        local.auditContext,
        (tx) =>
          prices.inTx(tx).set({
            workspaceId: ws.id,
            model,
            inputMicrosPerMtok: microsPerMtok(input),
            outputMicrosPerMtok: microsPerMtok(output),
          }),
        (after) => ({
          action: 'prices.set',
          workspaceId: ws.id,
          target: ws.id,
          details: {
            model: after.model,
            changed: (['inputMicrosPerMtok', 'outputMicrosPerMtok'] as const).filter(
              (f) => before?.[f] !== after[f],
            ),
          },
        }),
      );
      return {
        data: price,
        text: `price of "${model}" in "${ws.name}": $${input} input, $${output} output per million tokens`,
      };
    });
  },
};

export const pricesListCommand: Command = {
  name: ['prices', 'list'],
  summary: "List a workspace's own model prices.",
  usage: 'portcullis prices list --workspace W [--json]',
  options: { workspace: { type: 'string' } },
  async run(ctx, values) {
    const workspace = requireFlag(values, 'workspace');
    return withLocal(ctx, async (local) => {
      const ws = await local.workspaces.resolve(workspace);
      const prices = await createPriceRepository(local).list(ws.id);
      const text =
        prices.length === 0
          ? 'no workspace prices; models are priced from @pydantic/genai-prices'
          : table(
              ['MODEL', 'INPUT $/MTOK', 'OUTPUT $/MTOK'],
              prices.map((p) => [
                p.model,
                String(p.inputMicrosPerMtok / 1_000_000),
                String(p.outputMicrosPerMtok / 1_000_000),
              ]),
            );
      return { data: prices, text };
    });
  },
};

/** Names of the fields whose value differs (the audit records which changed, not the values). */
function changedLimits(before: WorkspaceLimits, after: WorkspaceLimits): string[] {
  const fields = new Set([...Object.keys(before), ...Object.keys(after)]) as Set<keyof WorkspaceLimits>;
  return [...fields].filter((f) => JSON.stringify(before[f]) !== JSON.stringify(after[f])).sort();
}

export function describeLimits(l: WorkspaceLimits): string {
  const parts: string[] = [];
  if (l.rpm !== undefined) parts.push(`${l.rpm} requests/min`);
  if (l.tpm !== undefined) parts.push(`${l.tpm} tokens/min`);
  if (l.concurrency !== undefined) parts.push(`${l.concurrency} in flight`);
  if (l.budgetUsd !== undefined) parts.push(`$${l.budgetUsd} per ${l.budgetWindow ?? 'month'}`);
  for (const [model, m] of Object.entries(l.models ?? {})) {
    const own = [m.rpm && `${m.rpm} requests/min`, m.tpm && `${m.tpm} tokens/min`].filter(Boolean);
    parts.push(`${model}: ${own.join(' and ')}`);
  }
  return parts.length === 0 ? 'none' : parts.join(', ');
}

export const LIMIT_COMMANDS: Command[] = [
  limitsSetCommand,
  limitsShowCommand,
  pricesSetCommand,
  pricesListCommand,
];
