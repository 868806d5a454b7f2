import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import { createMemoryCounters } from '../counters/memory.ts';
import type { Counters, RateOutcome, ReserveResult } from '../counters/types.ts';
import { PortcullisError } from '../errors/catalogue.ts';
import type { KeyLimits } from '../keys/types.ts';
import type { TokenUsage } from '../providers/translate/shared.ts';
import { rateLimitHeaders, retryHeaders } from './headers.ts';
import { modelLevel, modelLimitsFor, type WorkspaceLimits } from './model-limits.ts';
import { emptyPlans, planLevels, type WorkspacePlans } from './named-plans.ts';
import {
  type BudgetCharge,
  budgetsOf,
  buildPlan,
  crossedThresholds,
  type Level,
  type LimitPlan,
  releaseSpecs,
  scopeLabel,
  tokenSettleSpecs,
} from './plan.ts';
import type { PriceBook, PriceTarget, Rates } from './prices.ts';
import { applicableLevels, type UsageRow, usageReport } from './report.ts';
import { requestedMaxTokens, type TokenEstimator } from './tokens.ts';
import { dollars, resetText, WINDOW_ADJECTIVE, windowTtlMs } from './windows.ts';

/**
 * Pipeline stage 4, limit (DESIGN.md): requests/min, tokens/min, concurrency and spend budgets at
 * key, workspace and global level, reserved before the upstream call and settled after it
 * (issue 6). The most restrictive limit wins because every applicable one is charged, all or
 * nothing. See docs/limits.md.
 */
export interface LimitCall {
  keyId: string;
  /** The member who created the key, when one did: the workspace's `perUser` limits apply to them. */
  userId?: string | null;
  workspaceId: string;
  keyLimits: Readonly<KeyLimits>;
  endpoint: string;
  /** The model name the client sent. */
  model: string;
  body: Readonly<Record<string, unknown>>;
  /** Every target the call may reach (fallbacks included): the worst case is priced over all. */
  targets: readonly PriceTarget[];
}

/** One admitted call's reservations. `settle` must be called exactly once; later calls do nothing. */
export interface Ticket {
  /** x-ratelimit-* headers for the response. */
  readonly headers: Readonly<Record<string, string>>;
  /**
   * Settles the reservations to what the call really used: the provider's usage, or (usage unknown)
   * the input estimate when the provider was reached (`target` given) and nothing when it was not.
   * Releases the concurrency slots. Never throws; resolves when the counters are updated.
   */
  settle(usage: TokenUsage | undefined, status: number, target?: PriceTarget): Promise<void>;
}

export interface LimitsStage {
  admit(call: LimitCall): Promise<Ticket>;
  /**
   * Current usage against every limit and budget that applies to a key (when given) or a workspace
   * (issue 6, item 6): limits read fresh from the store, usage from the shared counters. Rejects
   * with `limits_unavailable` when the counters are unreachable.
   */
  usage(subject: {
    workspaceId: string;
    key?: { id: string; limits: Readonly<KeyLimits>; userId?: string | null };
    /** A member: their per-user level (with no key level). */
    userId?: string;
  }): Promise<{ limits: WorkspaceLimits; usage: UsageRow[] }>;
  /** Forgets cached workspace limits and prices (after `limits set` / `prices set` in this process). */
  invalidate(workspaceId?: string): void;
}

export interface BudgetThresholdEvent {
  workspaceId: string;
  scope: string;
  /** The key, workspace or plan the budget belongs to. */
  id: string;
  window: string;
  percent: number;
  usedMicros: number;
  limitMicros: number;
}

export interface LimitsStageOptions {
  config: Readonly<Config>;
  logger: Logger;
  clock: Clock;
  counters: Counters;
  prices: PriceBook;
  tokens: TokenEstimator;
  loadWorkspaceLimits: (workspaceId: string) => Promise<WorkspaceLimits>;
  /** The workspace's named plans and who is on them (settings.plans); none when not given. */
  loadWorkspacePlans?: (workspaceId: string) => Promise<WorkspacePlans>;
  /** Called once per budget window and 50 / 80 / 100 % mark (across replicas): the audit sink. */
  onBudgetThreshold?: (event: BudgetThresholdEvent) => void;
}

const WORKSPACE_CACHE_MS = 5_000;
const MAX_CACHED_WORKSPACES = 10_000;

const NO_OP_TICKET: Ticket = { headers: {}, settle: async () => {} };

export function createLimitsStage(opts: LimitsStageOptions): LimitsStage {
  const { config, logger, clock, prices, tokens } = opts;
  const cfg = config.limits;
  const globalLimits: KeyLimits = {};
  if (cfg.rpm > 0) globalLimits.rpm = cfg.rpm;
  if (cfg.tpm > 0) globalLimits.tpm = cfg.tpm;
  if (cfg.concurrency > 0) globalLimits.concurrency = cfg.concurrency;

  // onCountersDown: 'local' — limits enforced by this process alone while the shared counters are away.
  const local = cfg.onCountersDown === 'local' ? createMemoryCounters({ clock, logger }) : undefined;
  let degraded = false;

  interface WorkspaceSetup {
    limits: WorkspaceLimits;
    plans: WorkspacePlans;
  }
  const loadSetup = async (id: string): Promise<WorkspaceSetup> => {
    const [limits, plans] = await Promise.all([
      opts.loadWorkspaceLimits(id),
      opts.loadWorkspacePlans?.(id) ?? emptyPlans(),
    ]);
    return { limits, plans };
  };
  const workspaces = new Map<string, { expiresAt: number; setup: Promise<WorkspaceSetup> }>();
  const workspaceSetup = (id: string): Promise<WorkspaceSetup> => {
    const now = clock.now();
    const hit = workspaces.get(id);
    if (hit && hit.expiresAt > now) return hit.setup;
    if (workspaces.size >= MAX_CACHED_WORKSPACES) workspaces.clear();
    const setup = loadSetup(id);
    setup.catch(() => workspaces.delete(id));
    workspaces.set(id, { expiresAt: now + WORKSPACE_CACHE_MS, setup });
    return setup;
  };

  /** Runs one counters operation, falling back (or failing closed) when they are unreachable. */
  async function withCounters<T>(op: (c: Counters) => Promise<T>): Promise<{ value: T; counters: Counters }> {
    try {
      const value = await op(opts.counters);
      if (degraded) {
        degraded = false;
        logger.warn({ event: 'limits.counters_restored' }, 'limits: shared counters reachable again');
      }
      return { value, counters: opts.counters };
    } catch (err) {
      if (err instanceof TypeError || err instanceof RangeError) throw err; // a bug, not an outage
      if (!degraded) {
        degraded = true;
        const msg = local
          ? 'limits: counters unreachable; enforcing limits in this process only (limits.onCountersDown: local)'
          : 'limits: counters unreachable; refusing requests (fail closed)';
        logger.error({ err, event: 'limits.counters_down', fallback: local ? 'local' : 'refuse' }, msg);
      }
      if (!local) throw new PortcullisError('limits_unavailable', { cause: err });
      return { value: await op(local), counters: local };
    }
  }

  async function priceCall(
    call: LimitCall,
    inputTokens: number,
    maxOutput: number,
  ): Promise<{ cost: number; rates: Map<PriceTarget, Rates> }> {
    const rates = new Map<PriceTarget, Rates>();
    let cost = 0;
    for (const target of call.targets) {
      const r = await prices.rates(call.workspaceId, call.model, target);
      if (r === undefined) {
        if (cfg.unknownPrice === 'refuse') {
          throw new PortcullisError('price_unknown', {
            vars: { model: target.upstreamModel, provider: target.provider },
          });
        }
        logger.warn(
          { event: 'limits.price_unknown', model: target.upstreamModel, provider: target.provider },
          'limits: no price known; counted as $0 (limits.unknownPrice: zero)',
        );
        continue;
      }
      rates.set(target, r);
      cost = Math.max(cost, prices.worstCaseMicros(r, target, inputTokens, maxOutput));
    }
    return { cost, rates };
  }

  function budgetRefusal(b: BudgetCharge, spent: number, reason: 'spent' | 'short', needed: number) {
    const state =
      reason === 'spent'
        ? `${dollars(b.limitMicros)} spent`
        : `${dollars(b.limitMicros)} has ${dollars(Math.max(0, b.limitMicros - spent))} left, less than this request's worst-case cost of ${dollars(needed)}`;
    const { headers } = retryHeaders(b.span.end - clock.now());
    return new PortcullisError('budget_exceeded', {
      vars: {
        scope: b.label,
        window: WINDOW_ADJECTIVE[b.window],
        state,
        reset: resetText(b.span),
      },
      headers: b.span.end === Number.POSITIVE_INFINITY ? {} : headers,
    });
  }

  return {
    invalidate(workspaceId) {
      if (workspaceId === undefined) workspaces.clear();
      else workspaces.delete(workspaceId);
      prices.invalidate(workspaceId);
    },

    async usage({ workspaceId, key, userId }) {
      const { limits, plans } = await loadSetup(workspaceId);
      const global: Level = { scope: 'global', id: '', limits: globalLimits };
      const levels = applicableLevels({ key, userId, workspaceId, workspaceLimits: limits, plans, global });
      try {
        return { limits, usage: await usageReport(opts.counters, levels, clock.now()) };
      } catch (err) {
        if (err instanceof TypeError || err instanceof RangeError) throw err;
        throw new PortcullisError('limits_unavailable', { cause: err });
      }
    },

    async admit(call) {
      const now = clock.now();
      const { limits: workspace, plans } = await workspaceSetup(call.workspaceId);
      const levels: Level[] = [
        { scope: 'key', id: call.keyId, limits: call.keyLimits },
        { scope: 'workspace', id: call.workspaceId, limits: workspace },
      ];
      if (call.userId && workspace.perUser) {
        levels.push({ scope: 'user', id: `${call.workspaceId}:${call.userId}`, limits: workspace.perUser });
      }
      const perModel = modelLimitsFor(workspace, call.model);
      if (perModel) levels.push(modelLevel(call.workspaceId, call.model, perModel));
      levels.push(
        ...planLevels(plans, { workspaceId: call.workspaceId, keyId: call.keyId, model: call.model }),
      );
      levels.push({ scope: 'global', id: '', limits: globalLimits });
      const budgets = budgetsOf(levels, now);
      const needsTokens = budgets.length > 0 || levels.some((l) => l.limits.tpm !== undefined);
      const limited =
        needsTokens || levels.some((l) => l.limits.rpm !== undefined || l.limits.concurrency !== undefined);
      if (!limited) return NO_OP_TICKET;

      const inputTokens = needsTokens ? tokens.inputTokens(call.endpoint, call.body) : 0;
      // Several choices (`n`) are each up to max_tokens long: the worst case is all of them.
      const choices =
        typeof call.body.n === 'number' && Number.isSafeInteger(call.body.n) && call.body.n > 1
          ? call.body.n
          : 1;
      const maxOutput = (requestedMaxTokens(call.endpoint, call.body) ?? cfg.defaultMaxTokens) * choices;
      const requested = inputTokens + maxOutput;
      for (const level of levels) {
        const tpm = level.limits.tpm;
        if (tpm !== undefined && requested > tpm) {
          throw new PortcullisError('request_exceeds_limit', {
            vars: {
              detail: `it needs about ${requested} tokens (input estimate plus max_tokens), more than the ${scopeLabel(level)} limit of ${tpm} tokens per minute`,
            },
          });
        }
      }
      const priced = budgets.length > 0 ? await priceCall(call, inputTokens, maxOutput) : undefined;
      const cost = priced?.cost ?? 0;
      for (const b of budgets) {
        if (cost > b.limitMicros) {
          throw new PortcullisError('request_exceeds_limit', {
            vars: {
              detail: `its worst-case cost of ${dollars(cost)} is more than the whole ${b.label} ${WINDOW_ADJECTIVE[b.window]} budget of ${dollars(b.limitMicros)}`,
            },
          });
        }
      }
      const plan = buildPlan({ levels, budgets, tokens: requested, costMicros: cost, now });

      // Concurrency slots, budgets and rates in one atomic call (one round trip with Redis): a
      // refusal by any of them charges none, so nothing has to be undone.
      const { value, counters } = await withCounters((c) => c.admit(plan.reserve, plan.rate));
      if (!value.reserve.ok) throw reserveRefusal(plan, value.reserve, cost, counters, call.workspaceId);
      const requestOutcomes = value.rate.outcomes.slice(0, plan.tokenSpecsFrom);
      const tokenOutcomes = value.rate.outcomes.slice(plan.tokenSpecsFrom);
      if (!value.rate.allowed) {
        throw rateRefusal(plan, value.rate.outcomes, requestOutcomes, tokenOutcomes);
      }
      if (plan.budgets.length > 0) budgetEvents(plan, value.reserve, cost, counters, call.workspaceId);
      return ticketFor(
        call,
        plan,
        counters,
        inputTokens,
        priced?.rates,
        rateLimitHeaders(requestOutcomes, tokenOutcomes),
      );
    },
  };

  function reserveRefusal(
    plan: LimitPlan,
    result: ReserveResult,
    cost: number,
    counters: Counters,
    workspaceId: string,
  ): PortcullisError {
    const index = result.refusedIndex ?? 0;
    if (index < plan.concurrencyCount) {
      const level = plan.concurrencyLevels[index];
      return new PortcullisError('concurrency_limited', {
        vars: { scope: level ? scopeLabel(level) : 'key', limit: level?.limits.concurrency ?? 0 },
        headers: { 'retry-after': '1' },
      });
    }
    const budget = plan.budgets[index - plan.concurrencyCount];
    if (!budget) return new PortcullisError('internal_error');
    const spent = result.values[index] ?? 0;
    // A refusal means the budget is used up as far as calls of this size go: the 100 % mark.
    emitThreshold(budget, 100, spent, counters, workspaceId);
    return budgetRefusal(budget, spent, spent >= budget.limitMicros ? 'spent' : 'short', cost);
  }

  function rateRefusal(
    plan: LimitPlan,
    outcomes: RateOutcome[],
    requests: RateOutcome[],
    tokenOutcomes: RateOutcome[],
  ): PortcullisError {
    const worst = Math.max(...outcomes.map((o) => o.retryAfterMs));
    const { seconds, headers } = retryHeaders(worst);
    const all = { ...rateLimitHeaders(requests, tokenOutcomes), ...headers };
    const index = outcomes.findIndex((o) => o.retryAfterMs > 0);
    const spec = plan.rate[index];
    const level = plan.rateLevels[index];
    const scope = level ? scopeLabel(level) : 'key';
    if (index < plan.tokenSpecsFrom) {
      return new PortcullisError('rate_limited', {
        vars: { scope, limit: spec?.limit ?? 0, retryAfter: seconds },
        headers: all,
      });
    }
    return new PortcullisError('tokens_limited', {
      vars: { scope, limit: spec?.limit ?? 0, requested: plan.tokensReserved, retryAfter: seconds },
      headers: all,
    });
  }

  function ticketFor(
    call: LimitCall,
    plan: LimitPlan,
    counters: Counters,
    inputTokens: number,
    rates: Map<PriceTarget, Rates> | undefined,
    headers: Record<string, string>,
  ): Ticket {
    let settled: Promise<void> | undefined;
    const settle = async (usage: TokenUsage | undefined, status: number, target?: PriceTarget) => {
      // The provider was reached but the answer did not complete (client abort, failed stream):
      // its final usage never arrived. The input estimate is kept, and the output is what the
      // relays counted as delivered (src/dataplane/context.ts relayedText), so what was not used
      // is refunded and aborting a stream near its end does not make it free.
      const incomplete = target !== undefined && status !== 200;
      const reported: TokenUsage = usage ?? {
        inputTokens: target ? inputTokens : 0,
        outputTokens: 0,
        cacheReadTokens: 0,
        cacheWriteTokens: 0,
      };
      const used: TokenUsage = incomplete
        ? { ...reported, inputTokens: Math.max(reported.inputTokens, inputTokens) }
        : reported;
      let cost = 0;
      const r = target ? (rates?.get(target) ?? (await rateOf(call, target))) : undefined;
      if (r && target) cost = prices.costMicros(r, target, used);
      const ops: Promise<unknown>[] = [];
      if (plan.reserve.length > 0) {
        ops.push(
          counters.reserve(releaseSpecs(plan, cost - plan.costReserved)).then((result) => {
            afterRelease(plan, result, cost, counters, call.workspaceId);
          }),
        );
      }
      const tokenSpecs = tokenSettleSpecs(plan, used.inputTokens + used.outputTokens);
      // A call that used more than reserved is charged the extra when it fits; a full bucket
      // refuses it (all or nothing), which under-counts by that overshoot: logged at debug.
      if (tokenSpecs.length > 0) {
        ops.push(
          counters.rate(tokenSpecs).then((result) => {
            if (!result.allowed) logger.debug({ key: call.keyId }, 'limits: token overshoot not charged');
          }),
        );
      }
      const results = await Promise.allSettled(ops);
      for (const result of results) {
        if (result.status === 'rejected')
          logger.error({ err: result.reason, status }, 'limits: settling a call failed');
      }
    };
    return {
      headers,
      settle(usage, status, target) {
        settled ??= settle(usage, status, target).catch((err: unknown) => {
          logger.error({ err }, 'limits: settling a call failed');
        });
        return settled;
      },
    };
  }

  async function rateOf(call: LimitCall, target: PriceTarget): Promise<Rates | undefined> {
    try {
      return await prices.rates(call.workspaceId, call.model, target);
    } catch {
      return undefined;
    }
  }

  /** Clamps a concurrency counter driven below zero (expired mid-flight) and emits budget events. */
  function afterRelease(
    plan: LimitPlan,
    result: ReserveResult,
    cost: number,
    counters: Counters,
    workspaceId: string,
  ): void {
    for (let i = 0; i < plan.concurrencyCount; i++) {
      const value = result.values[i] ?? 0;
      const spec = plan.reserve[i];
      if (value < 0 && spec) void counters.add(spec.key, -value, spec.ttlMs).catch(() => undefined);
    }
    budgetEvents(plan, result, cost, counters, workspaceId);
  }

  /**
   * Emits `budget.threshold` for each 50 / 80 / 100 % mark that spend plus reservations crossed
   * with this change of `delta`. One event per budget window and mark across every replica: the
   * first to claim the mark in the counters emits it.
   */
  function budgetEvents(
    plan: LimitPlan,
    result: ReserveResult,
    delta: number,
    counters: Counters,
    workspaceId: string,
  ): void {
    plan.budgets.forEach((b, j) => {
      const after = result.values[plan.concurrencyCount + j] ?? 0;
      for (const percent of crossedThresholds(after - delta, after, b.limitMicros))
        emitThreshold(b, percent, after, counters, workspaceId);
    });
  }

  function emitThreshold(
    b: BudgetCharge,
    percent: number,
    usedMicros: number,
    counters: Counters,
    workspaceId: string,
  ): void {
    void counters
      .reserve([
        { key: `${b.key}:evt${percent}`, amount: 1, limit: 1, ttlMs: windowTtlMs(b.span, clock.now()) },
      ])
      .then((claim) => {
        if (!claim.ok) return;
        logger.warn(
          {
            event: 'budget.threshold',
            scope: b.scope,
            id: b.id,
            window: b.window,
            percent,
            usedUsd: usedMicros / 1_000_000,
            limitUsd: b.limitMicros / 1_000_000,
            resets: resetText(b.span),
          },
          `budget: ${b.label} ${WINDOW_ADJECTIVE[b.window]} budget ${percent}% used`,
        );
        opts.onBudgetThreshold?.({
          workspaceId,
          scope: b.scope,
          id: b.id,
          window: b.window,
          percent,
          usedMicros,
          limitMicros: b.limitMicros,
        });
      })
      .catch(() => undefined);
  }
}
