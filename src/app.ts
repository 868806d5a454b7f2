import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import Fastify, { type FastifyError, type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { AdminDeps } from './admin/route.ts';
import { registerAdminApi } from './admin/routes.ts';
import type { Clock } from './clock.ts';
import type { Config } from './config/schema.ts';
import type { Counters } from './counters/types.ts';
import { registerDataPlane } from './dataplane/routes.ts';
import type { DataPlane } from './dataplane/wire.ts';
import { PortcullisError } from './errors/catalogue.ts';
import { envelope } from './errors/envelope.ts';
import { createHealth, type Health } from './health.ts';
import type { GatewayFastify } from './http/types.ts';
import { type Metrics, registerMetricsRoute, routeLabel } from './metrics/metrics.ts';
import { isStoreUnavailableError } from './store/open.ts';
import type { Store } from './store/types.ts';

/**
 * Builds the HTTP application from its dependencies. No module state: tests create as many apps
 * as they like, each with its own store, counters, clock and logger.
 */
export interface AppDeps {
  config: Readonly<Config>;
  store: Store;
  counters: Counters;
  logger: Logger;
  clock: Clock;
  /** Overrides the dependency monitor (tests use short intervals). */
  health?: Health;
  /** The /v1 endpoints; absent in tests of the bare server. */
  dataPlane?: DataPlane;
  /** The admin API (/admin/api/v1, src/admin); absent in tests of the bare server. */
  admin?: AdminDeps;
  /** Prometheus metrics (src/metrics); `/metrics` exists only when `config.metrics.token` is set. */
  metrics?: Metrics;
  /**
   * Told about every 4xx refusal and the 503 `limits_unavailable` (the audit sink: src/audit); must
   * return at once and never throw.
   */
  onRefusal?: (request: FastifyRequest, error: PortcullisError) => void;
}

export type { GatewayFastify };

export interface App {
  fastify: GatewayFastify;
  health: Health;
  /** True when serving HTTPS. */
  tls: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set once the data plane has logged this request's call record. */
    callRecorded: boolean;
  }
}

/** Client-supplied request ids are echoed only when they are this harmless (no log injection). */
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
const HEALTH_ROUTES = new Set(['/healthz', '/readyz']);
const TLS_CIPHERS = [
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
].join(':');

function newRequestId(): string {
  return `req_${randomBytes(12).toString('base64url')}`;
}

/** Maps Fastify's own errors and dependency failures onto the catalogue. */
function toPortcullisError(err: FastifyError, config: Readonly<Config>): PortcullisError {
  if (err instanceof PortcullisError) return err;
  if (isStoreUnavailableError(err))
    return new PortcullisError('service_unavailable', { vars: { dependency: 'store' } });
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new PortcullisError('payload_too_large', { vars: { limit: config.limits.bodyBytes } });
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new PortcullisError('invalid_json', {
        vars: {
          detail: err.message
            .replace(
              /^Body is not valid JSON but content-type is set to 'application\/json'$/,
              'malformed JSON',
            )
            .replace(/\.$/, ''),
        },
      });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new PortcullisError('invalid_json', { vars: { detail: 'the body is empty' } });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new PortcullisError('unsupported_media_type', { vars: { contentType: 'this type' } });
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new PortcullisError('invalid_request', {
        vars: { detail: 'content-length does not match the body' },
      });
  }
  if (err.validation) {
    const first = err.validation[0];
    const at = first?.instancePath ? first.instancePath.slice(1).replaceAll('/', '.') : undefined;
    // An unknown or missing property is reported on its parent; name the property itself.
    const named = first?.params?.additionalProperty ?? first?.params?.missingProperty;
    if (typeof named === 'string') {
      const field = at ? `${at}.${named}` : named;
      const what = first?.keyword === 'additionalProperties' ? 'is not a known field' : 'is required';
      return new PortcullisError('invalid_request', { param: field, vars: { detail: `${field} ${what}` } });
    }
    const field = at;
    return new PortcullisError('invalid_request', {
      param: field ?? null,
      vars: { detail: `${field ?? 'body'} ${first?.message ?? 'is invalid'}` },
    });
  }
  if (err instanceof SyntaxError && err.statusCode === 400) {
    return new PortcullisError('invalid_json', { vars: { detail: err.message.replace(/\.$/, '') } });
  }
  if (err.statusCode === 408) return new PortcullisError('request_timeout');
  return new PortcullisError('internal_error', { cause: err });
}

function readTls(config: Readonly<Config>): { key: Buffer; cert: Buffer } | undefined {
  const { certFile, keyFile } = config.tls;
  if (certFile === undefined || keyFile === undefined) return undefined;
  return { cert: readFileSync(certFile), key: readFileSync(keyFile) };
}

export function createApp(deps: AppDeps): App {
  const { config, logger } = deps;
  const tlsFiles = readTls(config);
  const health = deps.health ?? createHealth({ store: deps.store, counters: deps.counters, logger });

  // Slow-client protection: headers and the whole request must arrive in time, idle keep-alive
  // connections are closed, and Node checks those deadlines every second (its default is 30 s).
  // There is deliberately no socket inactivity timeout: a model may think for minutes before its
  // first byte, and that must not cut the client's connection.
  const nodeServerOptions = {
    headersTimeout: config.timeouts.headersMs,
    requestTimeout: config.timeouts.requestMs,
    keepAliveTimeout: config.timeouts.idleMs,
    connectionsCheckingInterval: 1000,
  };
  const serverFactory = (handler: (req: IncomingMessage, res: ServerResponse) => void) =>
    tlsFiles
      ? createHttpsServer(
          {
            ...nodeServerOptions,
            ...tlsFiles,
            minVersion: config.tls.minVersion,
            // TLS 1.3 suites are all AEAD; for an explicitly allowed TLS 1.2, forward-secret AEAD only.
            ciphers: TLS_CIPHERS,
            honorCipherOrder: true,
          },
          handler,
        )
      : createHttpServer(nodeServerOptions, handler);

  const fastify = Fastify({
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: true }),
    serverFactory,
    bodyLimit: config.limits.bodyBytes,
    requestTimeout: config.timeouts.requestMs,
    keepAliveTimeout: config.timeouts.idleMs,
    connectionTimeout: 0,
    trustProxy: config.trustedProxies.length > 0 ? [...config.trustedProxies] : false,
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID_PATTERN.test(given) ? given : newRequestId();
    },
    // The data plane passes bodies through: validation must never coerce or strip a field.
    ajv: {
      customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false },
    },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });

  const hsts = tlsFiles ? `max-age=${config.tls.hstsMaxAgeSeconds}; includeSubDomains` : undefined;

  fastify.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-frame-options', 'DENY');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('cache-control', 'no-store');
    if (hsts) reply.header('strict-transport-security', hsts);
    if (!HEALTH_ROUTES.has(request.url.split('?', 1)[0] ?? '')) {
      const down = health.down();
      if (down) throw new PortcullisError('service_unavailable', { vars: { dependency: down } });
    }
  });

  // Once shutdown starts, every answer still being produced closes its connection, so draining
  // does not wait for keep-alive timeouts.
  let closing = false;
  fastify.addHook('preClose', async () => {
    closing = true;
  });

  fastify.addHook('onSend', async (_request, reply, payload) => {
    if (closing) reply.header('connection', 'close');
    const type = reply.getHeader('content-type');
    if (typeof type === 'string' && type.startsWith('text/html')) {
      reply.header(
        'content-security-policy',
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'",
      );
    }
    return payload;
  });

  // One summary line per request: method, path without the query string (which could carry a
  // misplaced key), status and time. Never headers or bodies.
  fastify.decorateRequest('callRecorded', false);
  fastify.decorateRequest('caller', null);
  fastify.addHook('onResponse', async (request, reply) => {
    deps.metrics?.request(routeLabel(request), request.method, reply.statusCode, reply.elapsedTime / 1000);
    // A proxied call already wrote its one line (src/dataplane/proxy.ts); one per request is enough.
    if (request.callRecorded) return;
    const path = request.url.split('?', 1)[0];
    request.log.info(
      {
        method: request.method,
        path,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 100) / 100,
      },
      'request',
    );
  });

  fastify.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const mapped = toPortcullisError(err, config);
    if (mapped.status >= 500) {
      const cause = mapped.code === 'internal_error' ? err : mapped.cause;
      request.log.error({ err: cause ?? mapped, code: mapped.code }, 'request failed');
      // Failing closed when the limit counters are away is a refusal by policy, not a fault:
      // audited like a 4xx (issue 6, item 2: "either way audited"); so is an answer the
      // structured-output guardrail refused (docs/guardrails.md).
      if (mapped.code === 'limits_unavailable' || mapped.code === 'output_schema_violation')
        deps.onRefusal?.(request, mapped);
    } else {
      request.log.info({ code: mapped.code }, 'request refused');
      deps.metrics?.refusal(mapped.code, mapped.status);
      deps.onRefusal?.(request, mapped);
    }
    for (const [name, value] of Object.entries(mapped.headers)) reply.header(name, value);
    return reply.code(mapped.status).send(envelope(mapped, request.id));
  });

  fastify.setNotFoundHandler((request, reply) => {
    const err = new PortcullisError('not_found', {
      vars: { method: request.method, path: request.url.split('?', 1)[0] ?? '/' },
    });
    return reply.code(err.status).send(envelope(err, request.id));
  });

  fastify.get('/healthz', async () => ({ status: 'ok' }));
  fastify.get('/readyz', async (_request, reply) => {
    const checks = await health.check();
    const ready = checks.store === 'ok' && checks.counters === 'ok';
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unavailable', checks });
  });

  const dataPlane = deps.dataPlane;
  if (dataPlane) {
    registerDataPlane(fastify, dataPlane.deps);
    // CORS preflights carry no key; see src/pipeline/cors.ts for how they are answered.
    fastify.options('/v1/*', async (request, reply) => {
      const origin = typeof request.headers.origin === 'string' ? request.headers.origin : undefined;
      const asked = request.headers['access-control-request-headers'];
      reply.headers(
        await dataPlane.preflight.headersFor(origin, typeof asked === 'string' ? asked : undefined),
      );
      return reply.code(204).send();
    });
  }

  if (deps.admin) registerAdminApi(fastify, deps.admin);
  if (deps.metrics) registerMetricsRoute(fastify, deps.metrics, config.metrics.token);

  fastify.addHook('onReady', async () => health.start());
  fastify.addHook('onClose', async () => health.stop());

  return { fastify, health, tls: tlsFiles !== undefined };
}
