import { setTimeout as delay } from 'node:timers/promises';
import { type Dispatcher, request } from 'undici';
import { EgressDeniedError } from '../../egress/errors.ts';
import type { AuditEntry } from '../chain.ts';
import { type AuditSink, egressRefusal, errorCode, InvalidSinkTarget, SinkError } from './sink.ts';

/**
 * The HTTPS sink: POSTs the entries as JSON Lines (`application/x-ndjson`, one entry per line,
 * each ending in LF) in batches, oldest first, one batch at a time so the SIEM receives them in
 * order. Every connection goes through the egress dispatcher (src/egress/), which refuses
 * private, loopback and metadata addresses unless `egress.allow` lists them, on the address the
 * socket actually connects to. Redirects are never followed: a 3xx would carry the token elsewhere.
 *
 * Delivery is at least once: a batch is sent again after a 5xx, a 429 or a dropped connection,
 * even though the SIEM may have stored part of it. Entries carry `seq` and `hash`, so a receiver
 * can drop duplicates.
 */

export interface HttpsSinkOptions {
  url: URL;
  /** Sent as `Authorization: Bearer …` (RFC 6750 §2.1); never printed. */
  token?: string;
  dispatcher: Dispatcher;
  userAgent: string;
  /** A batch is sent when it holds this many entries … */
  batchEntries?: number;
  /** … or would grow past this many bytes (a single larger entry goes alone). */
  batchBytes?: number;
  /** Attempts per batch, the first included. */
  maxAttempts?: number;
  /** Backoff before retry n (1-based): base · 2^(n-1), with up to 25 % jitter. */
  backoffBaseMs?: number;
  /** A Retry-After longer than this is shortened to it, so an export never hangs for hours. */
  maxRetryAfterMs?: number;
  timeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

export const DEFAULT_BATCH_ENTRIES = 500;
export const DEFAULT_BATCH_BYTES = 1024 * 1024;
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Checks a `--to` URL: https, or plain http only to loopback (as `--url` does for remote
 * commands): the bearer token and the trail would otherwise cross the network in clear. No
 * userinfo: a password in the URL shows in shell history and `ps`.
 */
export function parseHttpsTarget(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InvalidSinkTarget('--to takes a URL such as https://siem.example.com/ingest');
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))) {
    throw new InvalidSinkTarget(
      '--to must be https:// (plain http only to localhost, 127.0.0.1 or [::1]): audit entries and the token would cross the network in clear',
    );
  }
  if (url.username !== '' || url.password !== '') {
    throw new InvalidSinkTarget(
      '--to must not carry credentials (user:password@): pass a bearer token with --token-file or --token-env',
    );
  }
  url.hash = '';
  return url;
}

/** RFC 9110 §10.2.3: delay-seconds or an HTTP-date. Undefined when absent or unreadable. */
export function retryAfterMs(value: string | string[] | undefined, now: number): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return undefined;
  const text = v.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** 429 (RFC 6585 §4) and 5xx are worth another try; other 4xx will not change by waiting. */
function retryable(status: number): boolean {
  return status === 429 || status >= 500;
}

export function createHttpsSink(options: HttpsSinkOptions): AuditSink & { readonly batches: number } {
  const batchEntries = options.batchEntries ?? DEFAULT_BATCH_ENTRIES;
  const batchBytes = options.batchBytes ?? DEFAULT_BATCH_BYTES;
  const maxAttempts = options.maxAttempts ?? 4;
  const backoffBaseMs = options.backoffBaseMs ?? 500;
  const maxRetryAfterMs = options.maxRetryAfterMs ?? 30_000;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const sleep = options.sleep ?? ((ms: number) => delay(ms).then(() => undefined));
  const now = options.now ?? Date.now;
  const destination = options.url.host;
  const headers: Record<string, string> = {
    'content-type': 'application/x-ndjson',
    'user-agent': options.userAgent,
  };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;

  let pending: string[] = [];
  let pendingBytes = 0;
  let delivered = 0;
  let batches = 0;
  const controller = new AbortController();

  const backoff = (attempt: number): number => {
    const base = backoffBaseMs * 2 ** (attempt - 1);
    return Math.round(base + Math.random() * base * 0.25);
  };
  const sent = (): string =>
    `${delivered} ${delivered === 1 ? 'entry was' : 'entries were'} delivered before the failure`;

  async function post(lines: readonly string[]): Promise<void> {
    const body = Buffer.from(lines.join(''), 'utf8');
    for (let attempt = 1; ; attempt++) {
      let res: Dispatcher.ResponseData;
      try {
        res = await request(options.url, {
          method: 'POST',
          headers,
          body,
          dispatcher: options.dispatcher,
          signal: controller.signal,
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        });
      } catch (err) {
        if (err instanceof EgressDeniedError) throw egressRefusal(err);
        if (attempt < maxAttempts) {
          await sleep(backoff(attempt));
          continue;
        }
        throw new SinkError(
          'sink_unreachable',
          `could not deliver to the audit sink at ${destination} (${errorCode(err)}) after ${attempt} attempts; ${sent()}`,
        );
      }
      const status = res.statusCode;
      const wait = retryAfterMs(res.headers['retry-after'], now());
      // The body is not shown: a receiver may echo request headers, the token among them.
      await res.body.dump().catch(() => undefined);
      if (status >= 200 && status < 300) {
        delivered += lines.length;
        batches += 1;
        return;
      }
      if (retryable(status) && attempt < maxAttempts) {
        await sleep(Math.min(wait ?? backoff(attempt), maxRetryAfterMs));
        continue;
      }
      const why =
        status >= 300 && status < 400
          ? ' (redirects are not followed)'
          : retryable(status)
            ? ` after ${attempt} attempts`
            : '';
      throw new SinkError(
        'sink_http_error',
        `the audit sink at ${destination} answered HTTP ${status}${why}; ${sent()}`,
      );
    }
  }

  async function flush(): Promise<void> {
    if (pending.length === 0) return;
    const lines = pending;
    pending = [];
    pendingBytes = 0;
    await post(lines);
  }

  return {
    kind: 'https',
    destination,
    get delivered() {
      return delivered;
    },
    get batches() {
      return batches;
    },
    async write(entry: AuditEntry) {
      const line = `${JSON.stringify(entry)}\n`;
      const bytes = Buffer.byteLength(line);
      if (pending.length > 0 && pendingBytes + bytes > batchBytes) await flush();
      pending.push(line);
      pendingBytes += bytes;
      if (pending.length >= batchEntries || pendingBytes >= batchBytes) await flush();
    },
    end: flush,
    destroy() {
      pending = [];
      controller.abort();
    },
  };
}
