import type { FastifyRequest } from 'fastify';
import type { Guardrails } from '../guardrails/inspect.ts';
import type { Target } from '../providers/targets.ts';
import type { StreamFacts, TokenUsage } from '../providers/translate/shared.ts';

/**
 * What the data plane tells the tracer (src/tracing/tracer.ts). Types only, so the data plane
 * imports nothing of OpenTelemetry: with tracing off, `deps.trace` is undefined and no tracer code
 * is even loaded (src/main.ts imports it on demand).
 */
export type TracedEndpoint = 'chat' | 'messages' | 'embeddings' | 'responses';

export interface CallStart {
  endpoint: TracedEndpoint;
  /** The model name the client asked for (an alias or a provider model). */
  model: string;
  stream: boolean;
  /** Epoch ms when the request reached the data plane (the span's start). */
  startedAt: number;
}

export interface CallAnswer {
  /** The status the client got (499: it went away before the end). */
  status: number;
  usage: TokenUsage | undefined;
  /** The target that answered. */
  target: Target;
  attempts: number;
  /**
   * A non-streaming answer in the client's wire format. Only its `model`, `id` and finish reasons
   * are read from it (codes, never text: DESIGN.md invariant 1).
   */
  answer?: Readonly<Record<string, unknown>>;
  /** A streamed answer: the model, id and finish reasons its events carried. */
  streamed?: StreamFacts;
}

/**
 * One admitted data-plane call. The span is made once, when the outcome is complete: the answer
 * recorded and the handler settled (a stream records after its handler returned), or a failure.
 */
export interface TracedCall {
  answered(outcome: CallAnswer): void;
  /** The handler returned (for a stream: the relay has started, not ended). */
  settled(): void;
  /** The handler threw: refused, failed upstream, or the answer was blocked. */
  failed(err: unknown): void;
}

export interface CallTracer {
  start(request: FastifyRequest, caller: { workspaceId: string; keyId: string }, call: CallStart): TracedCall;
  /** The guardrails as seen by one request: same results, decisions noted for its span (codes only). */
  watchGuardrails(request: FastifyRequest, guardrails: Guardrails): Guardrails;
  /** Exports what is queued (bounded by the export timeout) and stops. */
  shutdown(): Promise<void>;
}
