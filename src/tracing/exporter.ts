import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { type Dispatcher, request } from 'undici';

/**
 * An OTLP/HTTP span exporter (https://opentelemetry.io/docs/specs/otlp/#otlphttp) whose requests go
 * through the egress guard's dispatcher, like every outbound call of Portcullis: a collector on a
 * private address must be listed in `egress.allow`. The OTLP exporter packages' own HTTP clients
 * would bypass that guard, so only their serializers are used.
 *
 * A batch that cannot be delivered is dropped (no retries: spans are not worth holding memory or
 * delaying shutdown for) and logged, at most once a minute with the count dropped since. Requests
 * are never affected: export runs after the calls, off their path.
 */
export type OtlpProtocol = 'http/protobuf' | 'http/json';

export interface OtlpExporterOptions {
  /** The full traces URL, e.g. http://collector:4318/v1/traces. */
  url: string;
  protocol: OtlpProtocol;
  /** Extra request headers (an auth header); never logged. */
  headers: Readonly<Record<string, string>>;
  dispatcher: Dispatcher;
  timeoutMs: number;
  logger: { warn(obj: Record<string, unknown>, msg: string): void };
  now?: () => number;
}

type ExportResult = Parameters<Parameters<SpanExporter['export']>[1]>[0];
// ExportResultCode of @opentelemetry/core: SUCCESS = 0, FAILED = 1.
const SUCCESS = 0 as ExportResult['code'];
const FAILED = 1 as ExportResult['code'];
const WARN_EVERY_MS = 60_000;

/** Why an export failed, as a code: never an error message (they can carry the URL). */
function reasonOf(err: unknown): string {
  const e = err as { code?: unknown; reason?: unknown; statusCode?: unknown; name?: unknown } | null;
  if (e?.code === 'egress_denied' && typeof e.reason === 'string') return `egress_denied:${e.reason}`;
  if (typeof e?.statusCode === 'number') return `http_${e.statusCode}`;
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'timeout';
  if (typeof e?.code === 'string' && /^[A-Z0-9_]{1,64}$/.test(e.code)) return e.code;
  return 'error';
}

export function createOtlpExporter(options: OtlpExporterOptions): SpanExporter {
  const serializer = options.protocol === 'http/json' ? JsonTraceSerializer : ProtobufTraceSerializer;
  const headers = {
    ...options.headers,
    'content-type': options.protocol === 'http/json' ? 'application/json' : 'application/x-protobuf',
  };
  const host = new URL(options.url).host;
  const now = options.now ?? Date.now;
  const pending = new Set<Promise<void>>();
  let stopped = false;
  let lastWarning = Number.NEGATIVE_INFINITY;
  let droppedSince = 0;

  const dropped = (spans: number, reason: string): void => {
    droppedSince += spans;
    const t = now();
    if (t - lastWarning < WARN_EVERY_MS) return;
    lastWarning = t;
    options.logger.warn(
      { event: 'trace_export_failed', host, reason, droppedSpans: droppedSince },
      'trace export failed; spans dropped',
    );
    droppedSince = 0;
  };

  async function post(body: Uint8Array): Promise<void> {
    const response = await request(options.url, {
      method: 'POST',
      headers,
      body,
      dispatcher: options.dispatcher,
      signal: AbortSignal.timeout(options.timeoutMs),
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    });
    // The answer (an OTLP partial-success report at most) is not needed: discard it, bounded.
    await response.body.dump({ limit: 65_536 }).catch(() => undefined);
    if (response.statusCode < 200 || response.statusCode >= 300)
      throw Object.assign(new Error('collector refused the batch'), { statusCode: response.statusCode });
  }

  return {
    export(spans, done) {
      if (stopped) {
        done({ code: FAILED, error: new Error('exporter shut down') });
        return;
      }
      let body: Uint8Array | undefined;
      try {
        body = serializer.serializeRequest(spans);
      } catch {
        body = undefined;
      }
      if (!body) {
        dropped(spans.length, 'serialize');
        done({ code: FAILED, error: new Error('spans could not be serialized') });
        return;
      }
      const sent = post(body).then(
        () => done({ code: SUCCESS }),
        (err: unknown) => {
          const reason = reasonOf(err);
          dropped(spans.length, reason);
          done({ code: FAILED, error: new Error(`trace export failed (${reason})`) });
        },
      );
      pending.add(sent);
      void sent.finally(() => pending.delete(sent));
    },
    async forceFlush() {
      await Promise.all(pending);
    },
    async shutdown() {
      stopped = true;
      await Promise.all(pending);
    },
  };
}
