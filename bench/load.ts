import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';

/**
 * The load generator: the same client code for every target, so the only difference between a
 * "direct" and a "through Portcullis" figure is the gateway. undici Pool, keep-alive, one request
 * per connection at a time (pipelining 1), every response read to its end.
 */
export interface Endpoint {
  /** e.g. "direct" or "through". */
  label: string;
  origin: string;
  path: string;
  /** Includes the credential header; never printed. */
  headers: Record<string, string>;
  body: string;
  /** How to spot the first content chunk of a stream (for TTFT). */
  format: 'openai' | 'anthropic';
}

export interface Client {
  pool: Pool;
  close(): Promise<void>;
}

export function createClient(origin: string, connections: number): Client {
  const pool = new Pool(origin, {
    connections,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 600_000,
  });
  return { pool, close: () => pool.close() };
}

export class BenchError extends Error {}

/** One request, body read to the end. Returns elapsed ms; throws on a non-200 answer. */
async function once(pool: Pool, ep: Endpoint): Promise<number> {
  const t0 = performance.now();
  const { statusCode, body } = await pool.request({
    method: 'POST',
    path: ep.path,
    headers: ep.headers,
    body: ep.body,
  });
  if (statusCode !== 200) {
    const text = await body.text();
    throw new BenchError(`${ep.label}: HTTP ${statusCode}: ${text.slice(0, 300)}`);
  }
  for await (const _ of body) {
    // read to the end: the answer is complete only when its last byte arrived
  }
  return performance.now() - t0;
}

/** The full answer once, for a sanity check of what each target returns. */
export async function fetchOnce(pool: Pool, ep: Endpoint): Promise<{ status: number; text: string }> {
  const { statusCode, body } = await pool.request({
    method: 'POST',
    path: ep.path,
    headers: ep.headers,
    body: ep.body,
  });
  return { status: statusCode, text: await body.text() };
}

/** `n` requests one after another (concurrency 1); latencies in ms. */
export async function sequential(pool: Pool, ep: Endpoint, n: number): Promise<number[]> {
  const out: number[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = await once(pool, ep);
  return out;
}

export interface ThroughputResult {
  requests: number;
  elapsedMs: number;
  rps: number;
  latencies: number[];
  errors: number;
  firstError?: string;
}

/** `concurrency` workers issuing requests back to back for `durationMs`. */
export async function closedLoop(
  pool: Pool,
  ep: Endpoint,
  concurrency: number,
  durationMs: number,
): Promise<ThroughputResult> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const start = performance.now();
  const end = start + durationMs;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      try {
        latencies.push(await once(pool, ep));
      } catch (err) {
        errors++;
        firstError ??= err instanceof Error ? err.message : String(err);
        if (errors > 100) throw new BenchError(`${ep.label}: too many errors, first: ${firstError}`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsedMs = performance.now() - start;
  return {
    requests: latencies.length,
    elapsedMs,
    rps: (latencies.length * 1000) / elapsedMs,
    latencies,
    errors,
    firstError,
  };
}

/** True when one SSE event carries the first non-empty piece of answer text. */
function hasContent(event: string, format: Endpoint['format']): boolean {
  const line = event.split('\n').find((l) => l.startsWith('data:'));
  if (!line) return false;
  const data = line.slice(5).trim();
  if (data === '' || data === '[DONE]') return false;
  const json = JSON.parse(data) as {
    choices?: { delta?: { content?: unknown } }[];
    type?: string;
    delta?: { text?: unknown };
  };
  if (format === 'openai') {
    const content = json.choices?.[0]?.delta?.content;
    return typeof content === 'string' && content.length > 0;
  }
  return (
    json.type === 'content_block_delta' && typeof json.delta?.text === 'string' && json.delta.text !== ''
  );
}

export interface StreamTiming {
  /** Request sent → first content chunk parsed (ms). */
  ttft: number;
  /** Request sent → end of stream (ms). */
  total: number;
}

/** One streaming request: time to the first content chunk and to the end of the stream. */
async function streamOnce(pool: Pool, ep: Endpoint): Promise<StreamTiming> {
  const t0 = performance.now();
  const { statusCode, body } = await pool.request({
    method: 'POST',
    path: ep.path,
    headers: ep.headers,
    body: ep.body,
  });
  if (statusCode !== 200) {
    const text = await body.text();
    throw new BenchError(`${ep.label} (stream): HTTP ${statusCode}: ${text.slice(0, 300)}`);
  }
  body.setEncoding('utf8');
  let ttft = -1;
  let pending = '';
  for await (const chunk of body as AsyncIterable<string>) {
    if (ttft >= 0) continue;
    pending += chunk;
    let cut = pending.indexOf('\n\n');
    while (cut !== -1 && ttft < 0) {
      if (hasContent(pending.slice(0, cut), ep.format)) ttft = performance.now() - t0;
      pending = pending.slice(cut + 2);
      cut = pending.indexOf('\n\n');
    }
  }
  if (ttft < 0) throw new BenchError(`${ep.label} (stream): no content chunk in the stream`);
  return { ttft, total: performance.now() - t0 };
}

export async function streamingSequential(pool: Pool, ep: Endpoint, n: number): Promise<StreamTiming[]> {
  const out: StreamTiming[] = [];
  for (let i = 0; i < n; i++) out.push(await streamOnce(pool, ep));
  return out;
}

/** p in [0, 1], nearest-rank on a sorted copy. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length)));
  return sorted[rank - 1] as number;
}
