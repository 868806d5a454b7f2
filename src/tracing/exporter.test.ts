import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { createEgress, type Egress } from '../egress/egress.ts';
import { createOtlpExporter, type OtlpExporterOptions } from './exporter.ts';

interface Received {
  headers: IncomingHttpHeaders;
  body: Buffer;
  path: string;
}

/** A minimal OTLP/HTTP collector: records what it gets, answers with the status it is told to. */
async function startCollector(): Promise<{ url: string; got: Received[]; status: number; server: Server }> {
  const state = { url: '', got: [] as Received[], status: 200, server: undefined as unknown as Server };
  state.server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.got.push({ headers: req.headers, body: Buffer.concat(chunks), path: req.url ?? '' });
      res.writeHead(state.status, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => state.server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(state.server.address() as AddressInfo).port}/v1/traces`;
  return state;
}

function someSpans(): ReadableSpan[] {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
  const tracer = provider.getTracer('test');
  for (const name of ['chat gpt-4o', 'embeddings text-embedding-3-small']) {
    tracer.startSpan(name, { attributes: { 'gen_ai.request.model': 'gpt-4o' } }).end();
  }
  return memory.getFinishedSpans();
}

function exportNow(exporter: SpanExporter, spans: ReadableSpan[]): Promise<{ code: number; error?: Error }> {
  return new Promise((resolve) => exporter.export(spans, (r) => resolve(r)));
}

describe('OTLP/HTTP exporter through the egress guard', () => {
  let collector: Awaited<ReturnType<typeof startCollector>>;
  const warnings: Array<Record<string, unknown>> = [];
  const logger = { warn: (obj: Record<string, unknown>) => warnings.push(obj) };
  let allowed: Egress;
  let denying: Egress;
  before(async () => {
    collector = await startCollector();
    allowed = createEgress({ allow: ['127.0.0.1'], logger });
    denying = createEgress({ allow: [], logger });
  });
  after(async () => {
    await allowed.close();
    await denying.close();
    collector.server.close();
  });

  const options = (over: Partial<OtlpExporterOptions> = {}): OtlpExporterOptions => ({
    url: collector.url,
    protocol: 'http/json',
    headers: { authorization: 'Bearer collector-token-123' },
    dispatcher: allowed.dispatcher,
    timeoutMs: 2000,
    logger,
    ...over,
  });

  it('posts OTLP JSON with the configured headers', async () => {
    collector.got.length = 0;
    const result = await exportNow(createOtlpExporter(options()), someSpans());
    assert.equal(result.code, 0);
    const [got] = collector.got;
    assert.equal(got?.path, '/v1/traces');
    assert.equal(got?.headers['content-type'], 'application/json');
    assert.equal(got?.headers.authorization, 'Bearer collector-token-123');
    const body = JSON.parse(got?.body.toString('utf8') ?? '{}') as {
      resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<{ name: string; kind: number }> }> }>;
    };
    const names = body.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans.map((x) => x.name)));
    assert.deepEqual(names.sort(), ['chat gpt-4o', 'embeddings text-embedding-3-small']);
  });

  it('posts OTLP protobuf', async () => {
    collector.got.length = 0;
    const result = await exportNow(createOtlpExporter(options({ protocol: 'http/protobuf' })), someSpans());
    assert.equal(result.code, 0);
    const [got] = collector.got;
    assert.equal(got?.headers['content-type'], 'application/x-protobuf');
    // Strings are stored as they are in protobuf: the span name is in the bytes, not JSON.
    assert.ok(got?.body.includes('chat gpt-4o'));
    assert.notEqual(got?.body[0], '{'.charCodeAt(0));
  });

  it('drops the batch on a collector error, with one rate-limited warning naming no secret', async () => {
    collector.got.length = 0;
    collector.status = 503;
    warnings.length = 0;
    let t = 0;
    const exporter = createOtlpExporter(options({ now: () => t }));
    const first = await exportNow(exporter, someSpans());
    assert.equal(first.code, 1);
    await exportNow(exporter, someSpans());
    t = 61_000;
    await exportNow(exporter, someSpans());
    collector.status = 200;
    const failures = warnings.filter((w) => w.event === 'trace_export_failed');
    assert.deepEqual(
      failures.map((w) => [w.reason, w.droppedSpans]),
      [
        ['http_503', 2],
        ['http_503', 4],
      ],
      'the second failure is counted, not logged, until a minute passed',
    );
    assert.equal(failures[0]?.host, new URL(collector.url).host);
    assert.ok(!JSON.stringify(warnings).includes('collector-token-123'));
    assert.ok(!JSON.stringify(warnings).includes('/v1/traces'), 'the host only, not the URL');
  });

  it('never reaches a private collector the egress policy refuses', async () => {
    collector.got.length = 0;
    warnings.length = 0;
    const exporter = createOtlpExporter(options({ dispatcher: denying.dispatcher }));
    const result = await exportNow(exporter, someSpans());
    assert.equal(result.code, 1);
    assert.equal(collector.got.length, 0, 'nothing was sent');
    const failure = warnings.find((w) => w.event === 'trace_export_failed');
    assert.equal(failure?.reason, 'egress_denied:private_address');
    assert.ok(
      warnings.some((w) => w.event === 'egress_denied'),
      'the guard logged the refusal too',
    );
  });

  it('fails fast when the collector is away, and refuses work after shutdown', async () => {
    warnings.length = 0;
    const exporter = createOtlpExporter(options({ url: 'http://127.0.0.1:1/v1/traces' }));
    const result = await exportNow(exporter, someSpans());
    assert.equal(result.code, 1);
    assert.equal(warnings.find((w) => w.event === 'trace_export_failed')?.reason, 'ECONNREFUSED');
    await exporter.shutdown();
    assert.equal((await exportNow(exporter, someSpans())).code, 1);
  });

  it('times out a collector that never answers', async () => {
    const hanging = createServer(() => undefined);
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    warnings.length = 0;
    const url = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/v1/traces`;
    const started = Date.now();
    const result = await exportNow(createOtlpExporter(options({ url, timeoutMs: 200 })), someSpans());
    assert.equal(result.code, 1);
    assert.ok(Date.now() - started < 2000);
    assert.equal(warnings.find((w) => w.event === 'trace_export_failed')?.reason, 'timeout');
    hanging.closeAllConnections();
    hanging.close();
  });
});
