import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  ParentBasedSampler,
  type SpanProcessor,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { FastifyRequest } from 'fastify';
import type { Clock } from '../clock.ts';
import { samplingAttributes, spanName, spanShape } from './attributes.ts';
import { type GuardrailNotes, newGuardrailNotes, watchedGuardrails } from './guardrails.ts';
import { parseTraceparent } from './traceparent.ts';
import type { CallAnswer, CallTracer } from './types.ts';

/**
 * One CLIENT span per admitted data-plane call, made when the call's outcome is complete, with the
 * call's own start and end times. No span is open while the call runs, so nothing lives in memory
 * for a call that never finishes, and the hot path does no tracer work until the end.
 *
 * Sampling: the caller's `traceparent` decides when it has one (ParentBased, the OpenTelemetry
 * default), else `sampleRatio` of trace ids. The provider is not registered globally: Portcullis
 * has no module singletons, and no library it uses should start emitting spans through it.
 */
export interface CallTracerOptions {
  /** Where ended spans go: a BatchSpanProcessor in the gateway, a SimpleSpanProcessor in tests. */
  processor: SpanProcessor;
  serviceName: string;
  serviceVersion?: string;
  /** 0..1: the share of traces without a sampled parent that are kept. */
  sampleRatio: number;
  clock: Clock;
  /** Told (once) if making a span ever fails; the call itself never sees it. */
  logger?: { warn(obj: Record<string, unknown>, msg: string): void };
}

export function createCallTracer(options: CallTracerOptions): CallTracer {
  const provider = new BasicTracerProvider({
    resource: defaultResource().merge(
      resourceFromAttributes({
        [ATTR_SERVICE_NAME]: options.serviceName,
        ...(options.serviceVersion ? { [ATTR_SERVICE_VERSION]: options.serviceVersion } : {}),
      }),
    ),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(options.sampleRatio) }),
    spanProcessors: [options.processor],
    // Our spans carry ~30 short attributes; the limits only bound a surprise.
    spanLimits: { attributeCountLimit: 64, attributeValueLengthLimit: 1024 },
  });
  const tracer = provider.getTracer('portcullis', options.serviceVersion);
  const { clock } = options;
  const guardrailNotes = new WeakMap<FastifyRequest, GuardrailNotes>();
  let warned = false;

  return {
    start(request, caller, start) {
      let answer: CallAnswer | undefined;
      let settled = false;
      let ended = false;
      const end = (error?: unknown): void => {
        if (ended) return;
        ended = true;
        try {
          emit(error);
        } catch (err) {
          // Tracing is an observer: a failure here must never reach the call (a stream's finally).
          if (!warned)
            options.logger?.warn(
              { event: 'trace_span_failed', name: (err as Error)?.name },
              'a span could not be made',
            );
          warned = true;
        }
      };
      const emit = (error: unknown): void => {
        const parent = parseTraceparent(request.headers.traceparent, request.headers.tracestate);
        const context = parent ? trace.setSpanContext(ROOT_CONTEXT, parent) : ROOT_CONTEXT;
        const span = tracer.startSpan(
          spanName(start),
          { kind: SpanKind.CLIENT, startTime: start.startedAt, attributes: samplingAttributes(start) },
          context,
        );
        // The rest is worked out only for a span that is kept (sampling decides at the start).
        if (span.isRecording()) {
          const shape = spanShape({
            start,
            requestId: request.id,
            workspaceId: caller.workspaceId,
            keyId: caller.keyId,
            body: request.body,
            answer,
            error,
            guardrails: guardrailNotes.get(request),
          });
          span.setAttributes(shape.attributes);
          // The description is the error code only: messages can quote the prompt.
          if (shape.errorType) span.setStatus({ code: SpanStatusCode.ERROR, message: shape.errorType });
        }
        span.end(Math.max(clock.now(), start.startedAt));
      };
      return {
        answered(outcome) {
          answer ??= outcome;
          if (settled) end();
        },
        settled() {
          settled = true;
          if (answer) end();
        },
        failed: (err) => end(err ?? new Error('failed')),
      };
    },
    watchGuardrails(request, guardrails) {
      const notes = newGuardrailNotes();
      guardrailNotes.set(request, notes);
      return watchedGuardrails(guardrails, notes);
    },
    shutdown: () => provider.shutdown(),
  };
}
