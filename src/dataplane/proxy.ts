import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Target } from '../providers/targets.ts';
import type { StreamFacts, TokenUsage } from '../providers/translate/shared.ts';
import { callUpstream, type UpstreamRequest, type UpstreamSuccess } from '../providers/upstream.ts';
import type { TracedCall } from '../tracing/types.ts';
import { upstreamRefusal } from './answer.ts';
import {
  abortOnDisconnect,
  type Caller,
  type CallRecord,
  type DataPlaneDeps,
  providerError,
  recordCall,
  type Scope,
  statusOf,
} from './context.ts';
import type { RequestGuard } from './guard.ts';
import { checkInputLimits } from './input-limits.ts';

/**
 * The one path every proxied call takes (DESIGN.md pipeline): authenticate and authorize the
 * key (stages 2-3), resolve the model to targets, call the provider with retries and fallback
 * (stage 6), then hand the accepted answer to the endpoint's `answer` function, which relays or
 * translates it and reports the usage exactly once through `record`.
 */
export type Endpoint = 'chat' | 'messages' | 'embeddings' | 'responses';

export interface ProxyPlan {
  endpoint: Endpoint;
  scope: Scope;
  model: string;
  stream: boolean;
  /** Narrows the resolved targets (e.g. to OpenAI-format providers); may throw a refusal. */
  selectTargets?: (targets: Target[]) => Target[];
  /** The provider request for one target; translation errors are mapped onto the catalogue. */
  build(target: Target, secret: string): UpstreamRequest;
}

/**
 * Reports the call's outcome once: usage (when known) and the status the client saw; a
 * non-streaming answer passes its body (client format) so a trace can name the model and finish
 * reasons the provider reported (src/tracing reads nothing else from it).
 */
export type RecordOutcome = (
  usage: TokenUsage | undefined,
  status: number,
  answer?: Readonly<Record<string, unknown>>,
  /** A streamed answer: what its events said (model, id, finish reasons). */
  streamed?: StreamFacts,
) => void;

export interface Answer {
  result: UpstreamSuccess<Target>;
  caller: Caller;
  record: RecordOutcome;
  /** The request's guardrails, for the answer (stage 7). */
  guard: RequestGuard;
  /**
   * Calls the provider again with the same request, through the same targets, retries and
   * fallbacks (the structured-output retry, docs/guardrails.md). A refusal or failure throws as
   * the first call's would have.
   */
  again(): Promise<UpstreamSuccess<Target>>;
}

export async function proxy(
  deps: DataPlaneDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  plan: ProxyPlan,
  answer: (answer: Answer) => Promise<unknown> | unknown,
): Promise<unknown> {
  const started = deps.clock.now();
  const caller = await deps.admit(request, reply, plan.scope);
  // Tracing off: no tracer work at all. On: one span per admitted call, made at its end (src/tracing).
  const traced = deps.trace?.start(request, caller, {
    endpoint: plan.endpoint,
    model: plan.model,
    stream: plan.stream,
    startedAt: started,
  });
  if (!traced) return admitted(deps, request, reply, plan, answer, caller, started);
  try {
    const sent = await admitted(deps, request, reply, plan, answer, caller, started, traced);
    traced.settled();
    return sent;
  } catch (err) {
    traced.failed(err);
    throw err;
  }
}

async function admitted(
  deps: DataPlaneDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  plan: ProxyPlan,
  answer: (answer: Answer) => Promise<unknown> | unknown,
  caller: Caller,
  started: number,
  traced?: TracedCall,
): Promise<unknown> {
  deps.authorizeModel(request, caller, plan.model);
  // Input limits before anything costs: counters, guardrail scans, the provider.
  checkInputLimits(plan.endpoint, request.body as Record<string, unknown>, deps.config.guardrails.input);
  const resolved = await deps.resolveTargets(caller.workspaceId, plan.model);
  const targets = plan.selectTargets ? plan.selectTargets(resolved) : resolved;
  // Stage 4: limits and budgets are reserved here and settled exactly once: through `record`, or
  // below when the call fails before it has an answer (no usage: the reservations are refunded).
  const ticket = await deps.limit(request, reply, caller, {
    endpoint: plan.endpoint,
    model: plan.model,
    body: request.body as Readonly<Record<string, unknown>>,
    targets,
  });
  try {
    // Stage 5: the prompt is inspected (and redacted or pseudonymized in place) before it leaves.
    const guard = await deps.guard(request, caller);
    guard.inspectInput(plan.endpoint, request.body as Record<string, unknown>);
    // Opted-in workspaces only: the prompt as it leaves, the answer as the client gets it (onSend).
    request.contentCapture = await deps.captureContent?.(request, caller, plan.endpoint, plan.model);
    const controller = abortOnDisconnect(request, reply);

    const call = async (): Promise<UpstreamSuccess<Target>> => {
      let result: Awaited<ReturnType<typeof callUpstream<Target>>>;
      try {
        result = await callUpstream(
          deps.upstream,
          targets,
          async (target) => {
            const secret = await deps.resolveSecret(target.credentialId, caller.workspaceId);
            try {
              return plan.build(target, secret);
            } catch (err) {
              throw providerError(err, target);
            }
          },
          { signal: controller.signal, requestId: request.id, model: plan.model },
        );
      } catch (err) {
        throw providerError(err);
      }
      if ('clientError' in result) throw await upstreamRefusal(result, plan.model);
      return result;
    };
    const upstreamStarted = deps.clock.now();
    const accepted = await call();
    // Until the provider's response headers: the upstream share of the latency.
    const upstreamMs = deps.clock.now() - upstreamStarted;
    let recorded = false;
    const record: RecordOutcome = (usage, status, body, streamed) => {
      if (recorded) return;
      recorded = true;
      void ticket.settle(usage, status, accepted.target);
      const call: CallRecord = {
        endpoint: plan.endpoint,
        model: plan.model,
        target: accepted.target.credentialName,
        provider: accepted.target.provider,
        stream: plan.stream,
        status,
        usage,
        attempts: accepted.attempts,
        ms: deps.clock.now() - started,
      };
      recordCall(request, caller, call);
      deps.observe?.(request, caller, { ...call, answeredBy: accepted.target, upstreamMs });
      traced?.answered({
        status,
        usage,
        target: accepted.target,
        attempts: accepted.attempts,
        answer: body,
        streamed,
      });
    };
    try {
      return await answer({ result: accepted, caller, record, guard, again: call });
    } catch (err) {
      record(undefined, 502);
      throw providerError(err, accepted.target);
    }
  } catch (err) {
    void ticket.settle(undefined, statusOf(err));
    throw err;
  }
}

/** Sends a relay generator as a server-sent-event stream, pulled at the client's pace. */
export function sendEvents(reply: FastifyReply, events: AsyncGenerator<string>): FastifyReply {
  reply.header('content-type', 'text/event-stream; charset=utf-8');
  reply.header('x-accel-buffering', 'no');
  return reply.send(Readable.from(events, { objectMode: false, highWaterMark: 0 }));
}
