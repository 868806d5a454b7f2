import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { FastifyRequest } from 'fastify';
import { PortcullisError } from '../errors/catalogue.ts';
import { createGuardrails } from '../guardrails/inspect.ts';
import { DEFAULT_POLICY } from '../guardrails/policy.ts';
import type { Target } from '../providers/targets.ts';
import { createCallTracer } from './tracer.ts';
import type { CallStart } from './types.ts';

const CANARY = `cnry${randomBytes(12).toString('hex')}`;
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

function setup(sampleRatio = 1) {
  const exporter = new InMemorySpanExporter();
  let now = 1_700_000_000_000;
  const clock = { now: () => now };
  const tracer = createCallTracer({
    processor: new SimpleSpanProcessor(exporter),
    serviceName: 'portcullis-test',
    serviceVersion: '9.9.9',
    sampleRatio,
    clock,
  });
  return {
    exporter,
    tracer,
    advance: (ms: number) => {
      now += ms;
    },
    start: now,
    spans: (): ReadableSpan[] => exporter.getFinishedSpans(),
  };
}

function fakeRequest(body: Record<string, unknown>, headers: Record<string, string> = {}): FastifyRequest {
  return { id: 'req_test1', headers, body } as unknown as FastifyRequest;
}

const caller = { workspaceId: 'wsp_1', keyId: 'key_1' };

function target(provider: Target['provider'], baseUrl: string, upstreamModel = 'gpt-4o'): Target {
  return {
    credentialId: 'crd_1',
    credentialName: `${provider}-main`,
    provider,
    baseUrl,
    upstreamModel,
    options: {},
    key: `crd_1 ${baseUrl}`,
  };
}

const chatBody = {
  model: 'gpt-4o',
  max_completion_tokens: 77,
  messages: [{ role: 'user', content: `Say ${CANARY}` }],
};
const chatAnswer = {
  id: 'chatcmpl-abc123',
  model: 'gpt-4o-2024-08-06',
  choices: [{ index: 0, message: { role: 'assistant', content: `Sure: ${CANARY}` }, finish_reason: 'stop' }],
};
const usage = { inputTokens: 12, outputTokens: 5, cacheReadTokens: 2, cacheWriteTokens: 0 };

function start(s: ReturnType<typeof setup>, over: Partial<CallStart> = {}): CallStart {
  return { endpoint: 'chat', model: 'gpt-4o', stream: false, startedAt: s.start, ...over };
}

describe('call tracer (GenAI client spans)', () => {
  it('makes one CLIENT span named "{operation} {model}" with the GenAI and Portcullis attributes', () => {
    const s = setup();
    const call = s.tracer.start(fakeRequest(chatBody), caller, start(s));
    s.advance(42);
    call.answered({
      status: 200,
      usage,
      target: target('openai', 'https://api.openai.com/v1'),
      attempts: 1,
      answer: chatAnswer,
    });
    assert.equal(s.spans().length, 0, 'no span until the handler settled');
    call.settled();
    call.settled();
    const [span, extra] = s.spans();
    assert.ok(span);
    assert.equal(extra, undefined, 'exactly one span');
    assert.equal(span.name, 'chat gpt-4o');
    assert.equal(span.kind, SpanKind.CLIENT);
    assert.equal(span.status.code, SpanStatusCode.UNSET);
    assert.deepEqual(span.duration, [0, 42_000_000]);
    assert.deepEqual(span.attributes, {
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'gpt-4o',
      'gen_ai.request.stream': false,
      'gen_ai.request.max_tokens': 77,
      'gen_ai.provider.name': 'openai',
      'gen_ai.system': 'openai',
      'gen_ai.response.model': 'gpt-4o-2024-08-06',
      'gen_ai.response.id': 'chatcmpl-abc123',
      'gen_ai.response.finish_reasons': ['stop'],
      'gen_ai.usage.input_tokens': 12,
      'gen_ai.usage.output_tokens': 5,
      'gen_ai.usage.cache_read.input_tokens': 2,
      'server.address': 'api.openai.com',
      'server.port': 443,
      'http.response.status_code': 200,
      'portcullis.endpoint': 'chat',
      'portcullis.stream': false,
      'portcullis.workspace_id': 'wsp_1',
      'portcullis.key_id': 'key_1',
      'portcullis.request_id': 'req_test1',
      'portcullis.target': 'openai-main',
      'portcullis.upstream_model': 'gpt-4o',
      'portcullis.attempts': 1,
    });
    assert.equal(span.resource.attributes['service.name'], 'portcullis-test');
    assert.equal(span.resource.attributes['service.version'], '9.9.9');
    assert.equal(span.instrumentationScope.name, 'portcullis');
    // Invariant 1: neither the prompt nor the answer text is anywhere in the span.
    assert.ok(!JSON.stringify({ a: span.attributes, n: span.name, s: span.status }).includes(CANARY));
  });

  it('ends a stream when it is recorded, after the handler returned', () => {
    const s = setup();
    const call = s.tracer.start(
      fakeRequest({ model: 'claude-sonnet-4-5', max_tokens: 64, stream: true, messages: [] }),
      caller,
      start(s, { endpoint: 'messages', model: 'claude-sonnet-4-5', stream: true }),
    );
    call.settled();
    assert.equal(s.spans().length, 0, 'the stream is still running');
    s.advance(500);
    call.answered({
      status: 200,
      usage,
      target: target('anthropic', 'http://127.0.0.1:8099', 'claude-sonnet-4-5'),
      attempts: 2,
      streamed: { model: 'claude-sonnet-4-5-20250929', id: 'msg_01abc', finishReasons: ['end_turn'] },
    });
    const [span] = s.spans();
    assert.equal(span?.name, 'chat claude-sonnet-4-5');
    assert.deepEqual(span?.duration, [0, 500_000_000]);
    const a = span?.attributes ?? {};
    assert.equal(a['gen_ai.provider.name'], 'anthropic');
    assert.equal(a['gen_ai.request.max_tokens'], 64);
    assert.equal(a['portcullis.stream'], true);
    assert.equal(a['server.address'], '127.0.0.1');
    assert.equal(a['server.port'], 8099);
    assert.equal(a['portcullis.attempts'], 2);
    assert.equal(a['gen_ai.response.model'], 'claude-sonnet-4-5-20250929', 'from the stream’s events');
    assert.equal(a['gen_ai.response.id'], 'msg_01abc');
    assert.deepEqual(a['gen_ai.response.finish_reasons'], ['end_turn']);
  });

  it('names embeddings and Azure, and never a URL path or query', () => {
    const s = setup();
    const call = s.tracer.start(
      fakeRequest({ model: 'text-embedding-3-small', input: CANARY }),
      caller,
      start(s, { endpoint: 'embeddings', model: 'text-embedding-3-small' }),
    );
    call.answered({
      status: 200,
      usage: { inputTokens: 3, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 },
      target: target('azure-openai', 'https://acme.openai.azure.com:8443/some/path?sig=SECRETSIG'),
      attempts: 1,
      answer: { object: 'list', model: 'text-embedding-3-small', data: [{ embedding: [0.1] }] },
    });
    call.settled();
    const [span] = s.spans();
    assert.equal(span?.name, 'embeddings text-embedding-3-small');
    assert.equal(span?.attributes['gen_ai.operation.name'], 'embeddings');
    assert.equal(span?.attributes['gen_ai.provider.name'], 'azure.ai.openai');
    assert.equal(span?.attributes['server.address'], 'acme.openai.azure.com');
    assert.equal(span?.attributes['server.port'], 8443);
    const text = JSON.stringify(span?.attributes);
    assert.ok(!text.includes('SECRETSIG') && !text.includes('/some/path') && !text.includes(CANARY));
  });

  it('records a refusal with error.type from the catalogue code, and its guardrail block', () => {
    const s = setup();
    const call = s.tracer.start(fakeRequest(chatBody), caller, start(s));
    call.failed(
      new PortcullisError('guardrail_blocked', {
        vars: { where: 'request', detector: 'prompt-injection', category: 'instruction_override' },
      }),
    );
    call.failed(new Error('again'));
    const [span, extra] = s.spans();
    assert.equal(extra, undefined);
    assert.equal(span?.status.code, SpanStatusCode.ERROR);
    assert.equal(span?.status.message, 'guardrail_blocked');
    assert.equal(span?.attributes['error.type'], 'guardrail_blocked');
    assert.equal(span?.attributes['http.response.status_code'], 400);
    assert.equal(
      span?.attributes['portcullis.guardrail.blocked_by'],
      'prompt-injection:instruction_override',
    );
    assert.equal(span?.attributes['gen_ai.provider.name'], undefined, 'no provider was called');
  });

  it('never copies an error message: a provider refusal quoting the prompt keeps only its code', () => {
    const s = setup();
    const call = s.tracer.start(fakeRequest(chatBody), caller, start(s));
    call.answered({
      status: 502,
      usage: undefined,
      target: target('openai', 'https://x.test/v1'),
      attempts: 1,
    });
    call.failed(new PortcullisError('upstream_invalid_request', { vars: { detail: `bad: ${CANARY}` } }));
    const [span] = s.spans();
    assert.equal(span?.attributes['error.type'], 'upstream_invalid_request');
    assert.equal(span?.attributes['gen_ai.provider.name'], 'openai', 'the answering target is kept');
    assert.ok(!JSON.stringify([span?.attributes, span?.status, span?.events]).includes(CANARY));
    // An unknown error is `_OTHER` (the conventions' fallback), never its message.
    const other = s.tracer.start(fakeRequest(chatBody), caller, start(s));
    other.failed(new Error(CANARY));
    assert.equal(s.spans()[1]?.attributes['error.type'], '_OTHER');
    assert.equal(s.spans()[1]?.attributes['http.response.status_code'], 500);
    assert.ok(!JSON.stringify(s.spans()[1]?.status).includes(CANARY));
  });

  it('marks a client that went away, and a stream the output guardrail stopped', () => {
    const s = setup();
    const gone = s.tracer.start(fakeRequest(chatBody), caller, start(s, { stream: true }));
    gone.settled();
    gone.answered({ status: 499, usage, target: target('openai', 'https://x.test/v1'), attempts: 1 });
    assert.equal(s.spans()[0]?.attributes['error.type'], 'client_closed');

    const request = fakeRequest(chatBody);
    const stopped = s.tracer.start(request, caller, start(s, { stream: true }));
    const guardrails = s.tracer.watchGuardrails(request, createGuardrails());
    const policy = { ...DEFAULT_POLICY, pii: { ...DEFAULT_POLICY.pii, action: 'block' as const } };
    assert.equal(guardrails.inspect([`write to ${CANARY}@example.com`], policy, 'output').decision, 'block');
    stopped.settled();
    stopped.answered({ status: 400, usage, target: target('openai', 'https://x.test/v1'), attempts: 1 });
    const a = s.spans()[1]?.attributes ?? {};
    assert.equal(a['error.type'], 'guardrail_blocked');
    assert.equal(a['portcullis.guardrail.output'], 'block');
    assert.equal(a['portcullis.guardrail.blocked_by'], 'pii:EMAIL');
    assert.deepEqual(a['portcullis.guardrail.findings'], ['output:pii:block']);
    assert.ok(!JSON.stringify(a).includes(CANARY));
  });

  it('notes guardrail decisions and findings as codes (through the real detectors)', () => {
    const s = setup();
    const request = fakeRequest(chatBody);
    const call = s.tracer.start(request, caller, start(s));
    const guardrails = s.tracer.watchGuardrails(request, createGuardrails());
    const B62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    const token = `ghp_${[...randomBytes(36)].map((b) => B62[b % 62]).join('')}`;
    const input = guardrails.inspect([`mail ${CANARY}@example.com, use ${token}`], DEFAULT_POLICY, 'input');
    assert.equal(input.decision, 'modified', 'the watched guardrails answer as the real ones');
    guardrails.inspect(['Nothing to see.'], DEFAULT_POLICY, 'output');
    call.answered({ status: 200, usage, target: target('openai', 'https://x.test/v1'), attempts: 1 });
    call.settled();
    const a = s.spans()[0]?.attributes ?? {};
    assert.equal(a['portcullis.guardrail.input'], 'modified');
    assert.equal(a['portcullis.guardrail.output'], 'allow');
    assert.deepEqual([...((a['portcullis.guardrail.findings'] as string[]) ?? [])].sort(), [
      'input:pii:log',
      'input:secrets:redact',
    ]);
    assert.ok(!JSON.stringify(a).includes(CANARY) && !JSON.stringify(a).includes(token));
  });

  it("joins the caller's trace from traceparent, and samples by ratio otherwise", () => {
    const off = setup(0);
    const unsampled = off.tracer.start(fakeRequest(chatBody), caller, start(off));
    unsampled.failed(new PortcullisError('model_not_found', { vars: { model: 'x' } }));
    assert.equal(off.spans().length, 0, 'ratio 0 and no parent: not sampled');
    const request = fakeRequest(chatBody, { traceparent: `00-${TRACE}-${PARENT}-01` });
    const joined = off.tracer.start(request, caller, start(off));
    joined.failed(new PortcullisError('model_not_found', { vars: { model: 'x' } }));
    const [span] = off.spans();
    assert.equal(span?.spanContext().traceId, TRACE, 'a sampled parent decides for its trace');
    assert.equal(span?.parentSpanContext?.spanId, PARENT);
    assert.equal(span?.attributes['error.type'], 'model_not_found');
    assert.equal(span?.attributes['http.response.status_code'], 404);

    const on = setup(1);
    const declined = on.tracer.start(
      fakeRequest(chatBody, { traceparent: `00-${TRACE}-${PARENT}-00` }),
      caller,
      start(on),
    );
    declined.failed(new PortcullisError('model_not_found', { vars: { model: 'x' } }));
    assert.equal(on.spans().length, 0, 'an unsampled parent is honoured too');
    const fresh = on.tracer.start(fakeRequest(chatBody, { traceparent: 'junk' }), caller, start(on));
    fresh.failed(new PortcullisError('model_not_found', { vars: { model: 'x' } }));
    assert.equal(on.spans()[0]?.parentSpanContext, undefined, 'a malformed traceparent starts a new trace');
  });

  it('never lets a tracing failure reach the call, and says so once', () => {
    const warnings: Array<Record<string, unknown>> = [];
    const broken = {
      onStart: () => undefined,
      onEnd: () => {
        throw new TypeError('processor bug');
      },
      forceFlush: async () => undefined,
      shutdown: async () => undefined,
    };
    const tracer = createCallTracer({
      processor: broken,
      serviceName: 'p',
      sampleRatio: 1,
      clock: { now: () => 1_700_000_000_000 },
      logger: { warn: (obj) => void warnings.push(obj) },
    });
    for (let i = 0; i < 2; i++) {
      const call = tracer.start(fakeRequest(chatBody), caller, {
        endpoint: 'chat',
        model: 'gpt-4o',
        stream: true,
        startedAt: 1_700_000_000_000,
      });
      call.settled();
      assert.doesNotThrow(() =>
        call.answered({ status: 200, usage, target: target('openai', 'https://x.test/v1'), attempts: 1 }),
      );
    }
    assert.deepEqual(warnings, [{ event: 'trace_span_failed', name: 'TypeError' }]);
  });

  it('shuts down by flushing its processor', async () => {
    const s = setup();
    const call = s.tracer.start(fakeRequest(chatBody), caller, start(s));
    call.failed(new PortcullisError('model_not_found', { vars: { model: 'x' } }));
    await s.tracer.shutdown();
    assert.equal(s.spans().length, 0, 'the in-memory exporter is reset on shutdown: it was called');
  });
});
