import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { PortcullisError } from '../errors/catalogue.ts';
import { envelope } from '../errors/envelope.ts';
import type { GatewayFastify } from '../http/types.ts';
import type { TokenUsage } from '../providers/translate/shared.ts';

/**
 * Prometheus metrics (prom-client), one registry per gateway (no module state). Labels have
 * bounded cardinality and never carry a key id, a workspace id, a token or any text from a
 * request: routes are route templates (`/admin/api/v1/keys/:id`), models are names configured in
 * the workspace (aliases and concrete credential models, as GET /v1/models lists them) or `other`,
 * codes come from the error catalogue.
 */
export interface Metrics {
  readonly registry: Registry;
  request(route: string, method: string, status: number, seconds: number): void;
  call(call: {
    model: string;
    provider: string;
    endpoint: string;
    status: number;
    upstreamMs: number;
    usage: TokenUsage | undefined;
    costMicros: number | null;
  }): void;
  refusal(code: string, status: number): void;
  auditDropped(count: number): void;
  setAuditQueue(depth: () => number): void;
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const AUTH_CODES = new Set([
  'missing_api_key',
  'invalid_api_key',
  'api_key_expired',
  'api_key_revoked',
  'api_key_in_query',
  'too_many_auth_failures',
  'metrics_unauthorized',
]);

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'portcullis_' });
  const requests = new Counter({
    name: 'portcullis_http_requests_total',
    help: 'HTTP requests answered, by route template, method and status.',
    labelNames: ['route', 'method', 'status'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'portcullis_http_request_duration_seconds',
    help: 'Time to answer an HTTP request (streams: until the last byte), by route template and status.',
    labelNames: ['route', 'method', 'status'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const upstream = new Histogram({
    name: 'portcullis_upstream_duration_seconds',
    help: 'Time until the provider answered with headers, by provider and model.',
    labelNames: ['provider', 'model'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const calls = new Counter({
    name: 'portcullis_llm_calls_total',
    help: 'Proxied model calls, by provider, model, endpoint and status.',
    labelNames: ['provider', 'model', 'endpoint', 'status'],
    registers: [registry],
  });
  const tokens = new Counter({
    name: 'portcullis_tokens_total',
    help: 'Tokens reported by providers, by provider, model and direction (input/output).',
    labelNames: ['provider', 'model', 'direction'],
    registers: [registry],
  });
  const cost = new Counter({
    name: 'portcullis_cost_usd_total',
    help: 'Cost of proxied calls in USD (calls with a known price), by provider and model.',
    labelNames: ['provider', 'model'],
    registers: [registry],
  });
  const refusals = new Counter({
    name: 'portcullis_refusals_total',
    help: 'Requests refused with a 4xx, by error code (docs/errors.md).',
    labelNames: ['code', 'status'],
    registers: [registry],
  });
  const authFailures = new Counter({
    name: 'portcullis_auth_failures_total',
    help: 'Failed authentications, by error code.',
    labelNames: ['code'],
    registers: [registry],
  });
  const dropped = new Counter({
    name: 'portcullis_audit_events_dropped_total',
    help: 'Data-plane audit and usage events dropped because the writer queue was full.',
    registers: [registry],
  });
  let queueDepth: () => number = () => 0;
  new Gauge({
    name: 'portcullis_audit_queue_depth',
    help: 'Data-plane audit and usage events waiting to be committed.',
    registers: [registry],
    collect() {
      this.set(queueDepth());
    },
  });

  return {
    registry,
    request(route, method, status, seconds) {
      const labels = { route, method, status: String(status) };
      requests.inc(labels);
      duration.observe(labels, seconds);
    },
    call(c) {
      const labels = { provider: c.provider, model: c.model };
      calls.inc({ ...labels, endpoint: c.endpoint, status: String(c.status) });
      upstream.observe(labels, c.upstreamMs / 1000);
      if (c.usage) {
        tokens.inc({ ...labels, direction: 'input' }, c.usage.inputTokens);
        tokens.inc({ ...labels, direction: 'output' }, c.usage.outputTokens);
      }
      if (c.costMicros !== null && c.costMicros > 0) cost.inc(labels, c.costMicros / 1_000_000);
    },
    refusal(code, status) {
      refusals.inc({ code, status: String(status) });
      if (AUTH_CODES.has(code)) authFailures.inc({ code });
    },
    auditDropped(count) {
      dropped.inc(count);
    },
    setAuditQueue(depth) {
      queueDepth = depth;
    },
  };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** True when the request carries `Authorization: Bearer <token>`, compared in constant time. */
export function hasMetricsToken(request: FastifyRequest, token: string): boolean {
  const header = request.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header) : null;
  // Digests have equal length, so timingSafeEqual never throws and the token's length does not leak.
  return match?.[1] !== undefined && timingSafeEqual(digest(match[1]), digest(token));
}

/**
 * GET /metrics, only when a token is configured (`metrics.token`); without one the route does not
 * exist (404), so an unconfigured gateway exposes nothing. Scrapes without the token get 401.
 */
export function registerMetricsRoute(
  fastify: GatewayFastify,
  metrics: Metrics,
  token: string | undefined,
): void {
  if (token === undefined) return;
  fastify.get('/metrics', async (request, reply) => {
    if (!hasMetricsToken(request, token)) {
      const err = new PortcullisError('metrics_unauthorized');
      return reply
        .code(err.status)
        .header('www-authenticate', 'Bearer realm="metrics"')
        .send(envelope(err, request.id));
    }
    const body = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(body);
  });
}

/** The label for a request's route: its template, never the raw URL (ids, query strings). */
export function routeLabel(request: FastifyRequest): string {
  return request.routeOptions.url ?? 'unmatched';
}
