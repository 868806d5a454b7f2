import { createTraceState, type SpanContext } from '@opentelemetry/api';

/**
 * The caller's trace context from W3C Trace Context headers (https://www.w3.org/TR/trace-context/),
 * so a gateway span joins the application's trace. Anything malformed is ignored (§3.2.2: a
 * receiver that cannot parse `traceparent` starts a new trace), never an error for the request.
 */

// §3.2.2: version (2 hex, not ff) - trace-id (32 hex) - parent-id (16 hex) - flags (2 hex).
// Version 00 is exactly these 55 characters; a later version may append `-…` fields (§4.3).
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ALL_ZERO = /^0+$/;
/** §3.3.1.1: at most 32 list members of bounded size; longer headers are not ours to keep. */
const MAX_TRACESTATE = 512;

export function parseTraceparent(
  traceparent: string | string[] | undefined,
  tracestate?: string | string[] | undefined,
): SpanContext | undefined {
  // §3.2: more than one traceparent header makes it invalid.
  if (typeof traceparent !== 'string') return undefined;
  const m = TRACEPARENT.exec(traceparent.trim());
  if (!m) return undefined;
  const [, version, traceId, spanId, flags, rest] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
    string?,
  ];
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (ALL_ZERO.test(traceId) || ALL_ZERO.test(spanId)) return undefined;
  const context: SpanContext = {
    traceId,
    spanId,
    // Only the sampled bit is defined (§3.2.2.5); other bits are not propagated.
    traceFlags: Number.parseInt(flags, 16) & 1,
    isRemote: true,
  };
  const state = Array.isArray(tracestate) ? tracestate.join(',') : tracestate;
  if (state && state.length <= MAX_TRACESTATE) context.traceState = createTraceState(state);
  return context;
}
