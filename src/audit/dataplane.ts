import type { FastifyRequest } from 'fastify';
import type { Clock } from '../clock.ts';
import type { Caller, ObservedCall } from '../dataplane/context.ts';
import type { PriceBook } from '../limits/prices.ts';
import type { BudgetThresholdEvent } from '../limits/stage.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { AuthBlocked } from '../pipeline/authenticate.ts';
import type { Router } from '../routing/resolve.ts';
import type { EventWriter } from './writer.ts';

/**
 * The data plane's sinks: lockouts into the audit log, every recorded call into `usage_records`
 * and the metrics. Everything here only queues (src/audit/writer.ts): a request never waits for it.
 */

/** `auth.blocked`: a source (IP or key id) was locked out after too many invalid keys. */
export function auditAuthBlocked(events: Pick<EventWriter, 'audit'>): (blocked: AuthBlocked) => void {
  return (blocked) => {
    const kind = blocked.subject.startsWith('key:') ? 'key' : 'ip';
    events.audit({
      action: 'auth.blocked',
      outcome: 'denied',
      actor: null,
      target: blocked.subject,
      clientIp: blocked.clientIp,
      details: {
        subject: kind,
        failures: blocked.failures,
        windowMs: blocked.windowMs,
        cooldownMs: blocked.cooldownMs,
      },
    });
  };
}

/** Budget 50 / 80 / 100 % marks as audit entries (issue 6: "audited now, alerts later"). */
export function auditBudgetThreshold(events: Pick<EventWriter, 'audit'>): (e: BudgetThresholdEvent) => void {
  return (e) => {
    events.audit({
      action: 'budget.threshold',
      outcome: e.percent >= 100 ? 'denied' : 'success',
      actor: null,
      workspaceId: e.workspaceId,
      target: `${e.scope}:${e.id}`,
      details: {
        scope: e.scope,
        window: e.window,
        percent: e.percent,
        usedUsd: e.usedMicros / 1_000_000,
        limitUsd: e.limitMicros / 1_000_000,
      },
    });
  };
}

export interface CallObserverDeps {
  clock: Clock;
  events?: Pick<EventWriter, 'usageLater'>;
  metrics?: Pick<Metrics, 'call'>;
  prices: Pick<PriceBook, 'rates' | 'costMicros'>;
  router: Pick<Router, 'listModels'>;
  logger: { warn(obj: object, msg?: string): void };
}

/** Model names a metric label may carry: configured in the workspace, else `other` (bounded cardinality). */
async function modelLabel(router: CallObserverDeps['router'], workspaceId: string, model: string) {
  const known = await router.listModels(workspaceId);
  return known.some((m) => m.id === model) ? model : 'other';
}

export function createCallObserver(deps: CallObserverDeps) {
  return (request: FastifyRequest, caller: Caller, call: ObservedCall): void => {
    const time = deps.clock.now() - call.ms;
    const cost = call.usage
      ? deps.prices
          .rates(caller.workspaceId, call.model, call.answeredBy)
          .then((rates) =>
            rates && call.usage ? deps.prices.costMicros(rates, call.answeredBy, call.usage) : null,
          )
          .catch(() => null)
      : Promise.resolve(null);
    deps.events?.usageLater(
      cost.then((costMicros) => ({
        time,
        workspaceId: caller.workspaceId,
        keyId: caller.keyId,
        requestId: request.id,
        endpoint: call.endpoint,
        model: call.model,
        provider: call.provider ?? null,
        target: call.target ?? null,
        stream: call.stream,
        status: call.status,
        inputTokens: call.usage?.inputTokens ?? null,
        outputTokens: call.usage?.outputTokens ?? null,
        costMicros,
        latencyMs: call.ms,
        upstreamMs: call.upstreamMs,
      })),
    );
    if (deps.metrics) {
      const metrics = deps.metrics;
      void cost
        .then(async (costMicros) => {
          metrics.call({
            model: await modelLabel(deps.router, caller.workspaceId, call.model).catch(() => 'other'),
            provider: call.provider ?? 'other',
            endpoint: call.endpoint,
            status: call.status,
            upstreamMs: call.upstreamMs,
            usage: call.usage,
            costMicros,
          });
        })
        .catch((err: unknown) => deps.logger.warn({ err }, 'metrics: could not record a call'));
    }
  };
}
