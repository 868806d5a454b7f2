import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import ipaddr from 'ipaddr.js';
import { packageVersion } from '../cli/version.ts';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { Egress } from '../egress/egress.ts';
import { createOtlpExporter } from './exporter.ts';
import { createCallTracer } from './tracer.ts';
import type { CallTracer } from './types.ts';

/**
 * Tracing as configured (`tracing.*`), loaded by src/main.ts only when `tracing.otlpEndpoint` is
 * set: with tracing off none of OpenTelemetry is imported.
 */
export interface StartTracingOptions {
  config: Readonly<Config['tracing']>;
  egress: Pick<Egress, 'dispatcher' | 'checkUrl'>;
  logger: {
    info(obj: Record<string, unknown>, msg: string): void;
    warn(obj: Record<string, unknown>, msg: string): void;
  };
  clock: Clock;
}

/** Headers a collector export must not have set from configuration: ours, or the connection's. */
const RESERVED = new Set(['content-type', 'content-length', 'host', 'connection', 'transfer-encoding']);

/**
 * `name=value,name=value` (the OTEL_EXPORTER_OTLP_HEADERS format, values percent-decoded). Errors
 * name the header, never its value.
 */
export function parseOtlpHeaders(raw: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  if (raw === undefined) return headers;
  for (const part of raw.split(',')) {
    const at = part.indexOf('=');
    if (at < 0) {
      if (part.trim() === '') continue;
      throw new Error('tracing.headers: every entry must be name=value');
    }
    const name = part.slice(0, at).trim().toLowerCase();
    if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name))
      throw new Error('tracing.headers: a header name is invalid');
    if (RESERVED.has(name)) throw new Error(`tracing.headers: ${name} cannot be set`);
    let value = part.slice(at + 1).trim();
    try {
      value = decodeURIComponent(value);
    } catch {
      // Not percent-encoded after all: taken as written.
    }
    if (/[\r\n\0]/.test(value)) throw new Error(`tracing.headers: the value of ${name} is invalid`);
    headers[name] = value;
  }
  return headers;
}

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost') return true;
  return ipaddr.isValid(host) && ipaddr.process(host).range() === 'loopback';
}

export async function startTracing({
  config,
  egress,
  logger,
  clock,
}: StartTracingOptions): Promise<CallTracer> {
  const endpoint = config.otlpEndpoint;
  if (endpoint === undefined) throw new Error('tracing.otlpEndpoint is not set');
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new Error('tracing.otlpEndpoint is not a valid URL');
  }
  // RFC 3986 §3.2.1: credentials in a URL end up in logs; the collector's go in tracing.headers.
  if (url.username !== '' || url.password !== '')
    throw new Error('tracing.otlpEndpoint must not carry credentials: put them in tracing.headers');
  const headers = parseOtlpHeaders(config.headers);
  const host = url.host;
  // Checked at boot so a refused collector shows at once; exports are refused again (and dropped)
  // on every connection, so the gateway still starts and serves.
  await egress.checkUrl(url.toString()).catch((err: unknown) => {
    logger.warn(
      { event: 'tracing_endpoint_refused', host, reason: (err as { reason?: unknown }).reason },
      'the trace collector is refused by the egress policy (list it in egress.allow); spans will be dropped',
    );
  });
  if (url.protocol === 'http:' && Object.keys(headers).length > 0 && !isLoopback(url.hostname))
    logger.warn({ host }, 'tracing.headers are sent to the collector over plain HTTP');

  const exporter = createOtlpExporter({
    url: url.toString(),
    protocol: config.protocol,
    headers,
    dispatcher: egress.dispatcher,
    timeoutMs: config.timeoutMs,
    logger,
    now: () => clock.now(),
  });
  const processor = new BatchSpanProcessor(exporter, {
    // Bounded: past 2048 waiting spans new ones are dropped, never held.
    maxQueueSize: 2048,
    maxExportBatchSize: 512,
    scheduledDelayMillis: 2000,
    exportTimeoutMillis: config.timeoutMs,
  });
  const tracer = createCallTracer({
    processor,
    serviceName: config.serviceName,
    serviceVersion: packageVersion(),
    sampleRatio: config.sampleRatio,
    clock,
    logger,
  });
  logger.info({ host, protocol: config.protocol, sampleRatio: config.sampleRatio }, 'tracing on');
  return tracer;
}
