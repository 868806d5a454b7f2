import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { type Dispatcher, request } from 'undici';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import { EgressDeniedError } from '../egress/errors.ts';
import { PortcullisError } from '../errors/catalogue.ts';
import type { CircuitBreakers } from './breaker.ts';

/**
 * One call to a provider, with the resilience rules of DESIGN.md stage 6: per-target retries with
 * jittered exponential backoff on connection errors, 429 and 5xx *before the first byte*
 * (honouring retry-after), then fallback to the next target, a circuit breaker per target, one
 * deadline for the whole attempt sequence, and the client's disconnect aborting everything.
 *
 * Once a response's headers are accepted it is returned; nothing after the first byte is retried,
 * because part of an answer may already be on its way to the client.
 */
export interface UpstreamTarget {
  /** Stable id for the breaker and logs: credential id + base URL. Never contains a secret. */
  key: string;
  /** Credential name, for error messages. */
  credentialName: string;
}

export interface UpstreamRequest {
  method: 'GET' | 'POST';
  url: string;
  headers: Record<string, string>;
  body?: string;
}

export interface UpstreamSuccess<T extends UpstreamTarget> {
  target: T;
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData<unknown>['body'];
  attempts: number;
}

export interface UpstreamDeps {
  dispatcher: Dispatcher;
  breakers: CircuitBreakers;
  config: Readonly<Config>;
  clock: Clock;
  logger: Logger;
  /** Overridable for tests; real calls use undici's `request` with the egress dispatcher. */
  send?: (req: UpstreamRequest, opts: SendOptions) => Promise<Dispatcher.ResponseData<unknown>>;
}

export interface SendOptions {
  dispatcher: Dispatcher;
  signal: AbortSignal;
  headersTimeout: number;
  bodyTimeout: number;
}

/** A provider answered 4xx (not 401/403/408/429): the request itself is at fault, so it is returned, not retried. */
export interface UpstreamClientError<T extends UpstreamTarget> extends UpstreamSuccess<T> {
  clientError: true;
}

type Outcome =
  | { kind: 'egress'; reason: string }
  | { kind: 'auth' }
  | { kind: 'rate_limited'; retryAfterMs: number | undefined }
  | { kind: 'status'; status: number }
  | { kind: 'timeout' }
  | { kind: 'connection'; code: string }
  | { kind: 'circuit_open' };

const RETRYABLE_STATUS = new Set([408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529]);

/** retry-after is seconds or an HTTP date (RFC 9110 §10.2.3); also OpenAI's retry-after-ms. */
export function retryAfterMs(
  headers: Record<string, string | string[] | undefined>,
  now: number,
): number | undefined {
  const ms = headers['retry-after-ms'];
  if (typeof ms === 'string' && /^\d+(\.\d+)?$/.test(ms)) return Math.ceil(Number(ms));
  const value = headers['retry-after'];
  if (typeof value !== 'string') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function backoffMs(attempt: number, base: number): number {
  // Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): spreads retrying clients.
  return Math.floor(Math.random() * base * 2 ** attempt);
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : 'ECONNERROR';
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

async function defaultSend(
  req: UpstreamRequest,
  opts: SendOptions,
): Promise<Dispatcher.ResponseData<unknown>> {
  return request(req.url, {
    method: req.method,
    headers: req.headers,
    body: req.body,
    dispatcher: opts.dispatcher,
    signal: opts.signal,
    headersTimeout: opts.headersTimeout,
    bodyTimeout: opts.bodyTimeout,
  });
}

export async function callUpstream<T extends UpstreamTarget>(
  deps: UpstreamDeps,
  targets: readonly T[],
  build: (target: T) => UpstreamRequest | Promise<UpstreamRequest>,
  opts: { signal: AbortSignal; requestId: string; model: string },
): Promise<UpstreamSuccess<T> | UpstreamClientError<T>> {
  const { config, clock, breakers, logger } = deps;
  const up = config.upstream;
  const send = deps.send ?? defaultSend;
  const deadline = clock.now() + up.firstByteTimeoutMs;
  const outcomes: Outcome[] = [];
  let attempts = 0;

  for (const target of targets) {
    if (!breakers.allow(target.key)) {
      outcomes.push({ kind: 'circuit_open' });
      continue;
    }
    // Built once per target: a translation error (unsupported parameter) is the client's, thrown as is.
    const req = await build(target);
    for (let retry = 0; retry <= up.maxRetries; retry++) {
      const remaining = deadline - clock.now();
      if (remaining <= 0)
        throw finalError(outcomes.concat({ kind: 'timeout' }), opts, attempts, target, up.firstByteTimeoutMs);
      attempts++;
      let res: Dispatcher.ResponseData<unknown>;
      try {
        res = await send(req, {
          dispatcher: deps.dispatcher,
          signal: opts.signal,
          headersTimeout: remaining,
          bodyTimeout: up.idleTimeoutMs,
        });
      } catch (err) {
        if (opts.signal.aborted) throw err;
        if (err instanceof EgressDeniedError) {
          outcomes.push({ kind: 'egress', reason: err.reason });
          logger.warn({ target: target.key, reason: err.reason }, 'upstream refused by the egress guard');
          break;
        }
        const code = errorCode(err);
        breakers.failure(target.key);
        if (TIMEOUT_CODES.has(code)) {
          outcomes.push({ kind: 'timeout' });
          logger.warn({ target: target.key, code, attempt: attempts }, 'upstream timed out');
          if (code !== 'UND_ERR_CONNECT_TIMEOUT') break;
        } else {
          outcomes.push({ kind: 'connection', code });
          logger.warn({ target: target.key, code, attempt: attempts }, 'upstream connection failed');
        }
        if (retry < up.maxRetries)
          await sleep(backoffMs(retry, up.retryBaseMs), undefined, { signal: opts.signal });
        continue;
      }

      if (res.statusCode < 400) {
        breakers.success(target.key);
        return { target, status: res.statusCode, headers: res.headers, body: res.body, attempts };
      }
      if (res.statusCode === 401 || res.statusCode === 403) {
        await res.body.dump();
        breakers.failure(target.key);
        outcomes.push({ kind: 'auth' });
        logger.error(
          { target: target.key, status: res.statusCode },
          'provider rejected the workspace credential',
        );
        break;
      }
      if (!RETRYABLE_STATUS.has(res.statusCode)) {
        // The request itself is invalid for the provider; trying elsewhere would fail the same way.
        breakers.success(target.key);
        return {
          target,
          status: res.statusCode,
          headers: res.headers,
          body: res.body,
          attempts,
          clientError: true,
        };
      }
      await res.body.dump();
      const wait = retryAfterMs(res.headers, clock.now());
      if (res.statusCode === 429) outcomes.push({ kind: 'rate_limited', retryAfterMs: wait });
      else {
        breakers.failure(target.key);
        outcomes.push({ kind: 'status', status: res.statusCode });
      }
      logger.warn(
        { target: target.key, status: res.statusCode, attempt: attempts },
        'upstream answered with a retryable status',
      );
      if (retry >= up.maxRetries) break;
      if (wait !== undefined && (wait > up.maxRetryAfterMs || clock.now() + wait > deadline)) break;
      await sleep(wait ?? backoffMs(retry, up.retryBaseMs), undefined, { signal: opts.signal });
    }
  }
  throw finalError(outcomes, opts, attempts, targets[targets.length - 1], up.firstByteTimeoutMs);
}

/** Chooses the one error that best tells the client what happened across all attempts. */
function finalError(
  outcomes: Outcome[],
  opts: { requestId: string; model: string },
  attempts: number,
  lastTarget: UpstreamTarget | undefined,
  timeoutMs: number,
): PortcullisError {
  const egress = outcomes.find((o) => o.kind === 'egress');
  if (egress && egress.kind === 'egress') {
    return new PortcullisError('egress_denied', {
      vars: { credential: lastTarget?.credentialName ?? 'unknown', reason: egress.reason },
    });
  }
  if (outcomes.length > 0 && outcomes.every((o) => o.kind === 'circuit_open')) {
    return new PortcullisError('upstream_unavailable', { vars: { model: opts.model } });
  }
  const last = outcomes.filter((o) => o.kind !== 'circuit_open').at(-1);
  if (last?.kind === 'rate_limited') {
    const seconds = Math.max(1, Math.ceil((last.retryAfterMs ?? 1000) / 1000));
    return new PortcullisError('upstream_rate_limited', {
      vars: { retryAfter: seconds },
      headers: { 'retry-after': String(seconds) },
    });
  }
  if (last?.kind === 'timeout') return new PortcullisError('upstream_timeout', { vars: { timeoutMs } });
  if (last?.kind === 'auth') {
    return new PortcullisError('upstream_auth_failed', {
      vars: { credential: lastTarget?.credentialName ?? 'unknown' },
    });
  }
  const detail =
    last?.kind === 'status'
      ? `HTTP ${last.status}`
      : last?.kind === 'connection'
        ? `connection error ${last.code}`
        : 'no target';
  return new PortcullisError('upstream_error', { vars: { detail, attempts } });
}
