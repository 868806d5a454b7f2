import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { type DataPlaneFixture, PROVIDER_SECRET, startDataPlane } from '../helpers/dataplane.ts';

/**
 * The data plane end to end: the official SDKs as clients, the real gateway wiring, the mock
 * provider as the only fake. Covers every endpoint in both SDK formats, cross-format routing with
 * streaming, and the rule that neither side's key ever reaches the other.
 */
const user = (content: string) => [{ role: 'user' as const, content }];

describe('data plane with the official SDKs', () => {
  let dp: DataPlaneFixture;
  const responses: string[] = [];
  before(async () => {
    dp = await startDataPlane();
  });
  after(async () => {
    const everything = dp.logs.text() + responses.join('\n');
    await dp.close();
    assert.ok(
      !everything.includes(PROVIDER_SECRET),
      'the provider key appears in no log line and no response',
    );
    assert.ok(!everything.includes(dp.key), 'the Portcullis key appears in no log line and no response');
  });

  it('chat completions (OpenAI target): the answer, the usage, and the right key upstream', async () => {
    dp.mock.clear();
    const completion = await dp
      .openai()
      .chat.completions.create({ model: 'gpt-4o-mini', messages: user('Hello') });
    responses.push(JSON.stringify(completion));
    assert.equal(completion.object, 'chat.completion');
    assert.match(completion.choices[0]?.message.content ?? '', /^Mock reply/);
    assert.ok((completion.usage?.prompt_tokens ?? 0) > 0);
    const seen = dp.mock.requests.at(-1);
    assert.equal(seen?.path, '/v1/chat/completions');
    assert.equal(seen?.headers.authorization, `Bearer ${PROVIDER_SECRET}`, 'the provider key goes upstream');
    assert.ok(!JSON.stringify(seen?.headers).includes(dp.key), 'the Portcullis key never goes upstream');
  });

  it('streams chat completions chunk by chunk, with usage only when asked for', async () => {
    const withUsage = await dp.openai().chat.completions.create({
      model: 'gpt-4o-mini',
      messages: user('Stream please'),
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usageChunks = 0;
    for await (const chunk of withUsage) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usageChunks++;
    }
    assert.match(text, /^Mock reply/);
    assert.equal(usageChunks, 1);

    dp.mock.clear();
    const without = await dp
      .openai()
      .chat.completions.create({ model: 'gpt-4o-mini', messages: user('x'), stream: true });
    let sawUsage = false;
    for await (const chunk of without) if (chunk.usage) sawUsage = true;
    assert.equal(
      sawUsage,
      false,
      'the usage chunk Portcullis asked for is not passed to a client that did not',
    );
    const upstream = dp.mock.requests.at(-1)?.body as { stream_options?: { include_usage?: boolean } };
    assert.equal(upstream.stream_options?.include_usage, true, 'usage is always requested upstream');
  });

  it('tools and a JSON-schema response format', async () => {
    const tools: OpenAI.ChatCompletionTool[] = [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
        },
      },
    ];
    const called = await dp.openai().chat.completions.create({
      model: 'gpt-4o',
      messages: user('Use get_weather for Paris'),
      tools,
    });
    const call = called.choices[0]?.message.tool_calls?.[0];
    assert.equal(called.choices[0]?.finish_reason, 'tool_calls');
    assert.equal(call?.type === 'function' ? call.function.name : undefined, 'get_weather');

    const structured = await dp.openai().chat.completions.create({
      model: 'gpt-4o',
      messages: user('Give me a person'),
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'person',
          schema: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
        },
      },
    });
    const parsed = JSON.parse(structured.choices[0]?.message.content ?? '') as { name: unknown };
    assert.equal(typeof parsed.name, 'string');
  });

  it('embeddings, with the SDK default base64 encoding', async () => {
    const result = await dp
      .openai()
      .embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b'] });
    assert.equal(result.data.length, 2);
    assert.ok(Array.isArray(result.data[0]?.embedding) && (result.data[0]?.embedding.length ?? 0) > 0);
  });

  it('lists only the models the key may use', async () => {
    const all = await dp.openai().models.list();
    const ids = all.data.map((m) => m.id);
    assert.ok(ids.length > 0);
    const limited = await dp.newKey({ models: ['claude-*'] });
    const some = (await dp.openai(limited).models.list()).data.map((m) => m.id);
    assert.ok(some.length > 0 && some.every((id) => id.startsWith('claude-')), JSON.stringify(some));
  });

  it('the Responses API, plain and streaming', async () => {
    const response = await dp.openai().responses.create({ model: 'gpt-4o-mini', input: 'Hello there' });
    assert.match(response.output_text, /^Mock reply/);
    const stream = await dp.openai().responses.create({ model: 'gpt-4o-mini', input: 'Hello', stream: true });
    let text = '';
    let completed = false;
    for await (const event of stream) {
      if (event.type === 'response.output_text.delta') text += event.delta;
      if (event.type === 'response.completed') completed = true;
    }
    assert.ok(completed);
    assert.match(text, /^Mock reply/);
  });

  it('Anthropic messages (Anthropic target), plain, streaming and tools', async () => {
    dp.mock.clear();
    const message = await dp.anthropic().messages.create({
      model: 'claude-sonnet-4-5',
      max_tokens: 100,
      messages: user('Hello'),
    });
    responses.push(JSON.stringify(message));
    assert.equal(message.type, 'message');
    const seen = dp.mock.requests.at(-1);
    assert.equal(seen?.headers['x-api-key'], PROVIDER_SECRET);
    assert.ok(!JSON.stringify(seen?.headers).includes(dp.key));

    const stream = dp
      .anthropic()
      .messages.stream({ model: 'claude-haiku-4-5', max_tokens: 50, messages: user('Hi') });
    const final = await stream.finalMessage();
    assert.equal(final.stop_reason, 'end_turn');
    assert.ok(final.usage.output_tokens > 0);

    const tooled = await dp.anthropic().messages.create({
      model: 'claude-sonnet-4-5',
      max_tokens: 100,
      tools: [{ name: 'lookup', input_schema: { type: 'object', properties: { q: { type: 'string' } } } }],
      messages: user('please lookup this'),
    });
    assert.equal(tooled.stop_reason, 'tool_use');
  });

  it('OpenAI client → Claude model, streaming with tools, through translation', async () => {
    dp.mock.clear();
    const stream = dp.openai().chat.completions.stream({
      model: 'claude-sonnet-4-5',
      messages: user('call get_time now'),
      tools: [
        { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } },
      ],
      stream_options: { include_usage: true },
    });
    const final = await stream.finalChatCompletion();
    assert.equal(final.choices[0]?.finish_reason, 'tool_calls');
    assert.ok((final.usage?.completion_tokens ?? 0) > 0);
    assert.equal(dp.mock.requests.at(-1)?.path, '/v1/messages', 'went to the Anthropic API');

    const text = await dp
      .openai()
      .chat.completions.stream({ model: 'claude-haiku-4-5', messages: user('Hi') });
    assert.match((await text.finalChatCompletion()).choices[0]?.message.content ?? '', /^Mock reply/);
  });

  it('Anthropic client → GPT model, streaming, through translation', async () => {
    dp.mock.clear();
    const stream = dp.anthropic().messages.stream({ model: 'gpt-4o', max_tokens: 64, messages: user('Hi') });
    const final = await stream.finalMessage();
    assert.equal(final.role, 'assistant');
    const first = final.content[0];
    assert.match(first?.type === 'text' ? first.text : '', /^Mock reply/);
    assert.equal(dp.mock.requests.at(-1)?.path, '/v1/chat/completions');
  });

  it('an alias falls back to its next target when the first keeps failing', async () => {
    // A credential whose provider address refuses connections: retried, then the alias moves on.
    await dp.credentials.add({
      workspaceId: dp.workspaceId,
      name: 'down',
      provider: 'openai-compatible',
      baseUrl: 'http://127.0.0.1:9/v1',
      models: ['gpt-4o'],
      secret: 'sk-unused',
    });
    await dp.aliases.set(dp.workspaceId, 'smart', [
      { credential: 'down', model: 'gpt-4o' },
      { credential: 'anthropic-main', model: 'claude-sonnet-4-5' },
    ]);
    dp.mock.clear();
    const completion = await dp.openai().chat.completions.create({ model: 'smart', messages: user('Hi') });
    assert.match(completion.choices[0]?.message.content ?? '', /^Mock reply/);
    assert.deepEqual(
      dp.mock.requests.map((r) => r.path),
      ['/v1/messages'],
    );
    assert.match(dp.logs.text(), /"model":"smart".*"target":"anthropic-main".*"attempts":4/);
  });
});

describe('data plane refusals', () => {
  let dp: DataPlaneFixture;
  before(async () => {
    dp = await startDataPlane({ PORTCULLIS_UPSTREAM_FIRST_BYTE_TIMEOUT_MS: '1500' });
  });
  after(async () => {
    await dp.close();
  });

  const code = (err: unknown): unknown => (err as { code?: unknown }).code;

  it('no key, a wrong key, or a key in the query string', async () => {
    const none = await fetch(`${dp.gateway.url}/v1/models`);
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'missing_api_key');
    await assert.rejects(dp.openai('pcx_live_wrong').models.list(), (err: unknown) => {
      assert.ok(err instanceof OpenAI.AuthenticationError);
      assert.equal(code(err), 'invalid_api_key');
      return true;
    });
    const inQuery = await fetch(`${dp.gateway.url}/v1/models?api_key=${dp.key}`);
    assert.equal(inQuery.status, 400);
    assert.ok(!dp.logs.text().includes(dp.key));
  });

  it('an unknown model is 404 model_not_found; a malformed request names the field', async () => {
    await assert.rejects(
      dp.openai().chat.completions.create({ model: 'no-such-model', messages: user('x') }),
      (err: unknown) => err instanceof OpenAI.NotFoundError && code(err) === 'model_not_found',
    );
    const res = await fetch(`${dp.gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${dp.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o', messages: 'not a list' }),
    });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { error: { code: string; param: string; message: string } };
    assert.equal(body.error.code, 'invalid_request');
    assert.equal(body.error.param, 'messages');
  });

  it('a parameter the target cannot honour is refused by name, never dropped', async () => {
    await assert.rejects(
      dp
        .openai()
        .chat.completions.create({ model: 'claude-sonnet-4-5', messages: user('x'), logprobs: true }),
      (err: unknown) => {
        assert.ok(err instanceof OpenAI.BadRequestError);
        assert.equal(code(err), 'unsupported_parameter');
        assert.equal((err as { param?: unknown }).param, 'logprobs');
        return true;
      },
    );
    const res = await fetch(`${dp.gateway.url}/v1/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${dp.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-sonnet-4-5', input: 'x' }),
    });
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'unsupported_endpoint');
  });

  it('a key limited to other models gets model_not_allowed', async () => {
    const key = await dp.newKey({ models: ['gpt-4o-mini'] });
    await assert.rejects(
      dp.openai(key).chat.completions.create({ model: 'gpt-4o', messages: user('x') }),
      (err: unknown) => err instanceof OpenAI.PermissionDeniedError && code(err) === 'model_not_allowed',
    );
  });

  it('retries a 429 that honours retry-after, then succeeds', async () => {
    dp.mock.setScenario({ error: { status: 429, retryAfterSeconds: 0, count: 1 } });
    dp.mock.clear();
    const completion = await dp
      .openai()
      .chat.completions.create({ model: 'gpt-4o-mini', messages: user('x') });
    assert.match(completion.choices[0]?.message.content ?? '', /^Mock reply/);
    assert.equal(dp.mock.requests.length, 2);
    dp.mock.setScenario({});
  });

  it('upstream 5xx after retries → 502 upstream_error, without upstream internals', async () => {
    await assert.rejects(
      dp.openai().chat.completions.create({ model: 'gpt-4o-mini#error=500', messages: user('x') }),
      (err: unknown) => {
        assert.ok(err instanceof OpenAI.InternalServerError);
        assert.equal((err as { status?: number }).status, 502);
        assert.equal(code(err), 'upstream_error');
        assert.ok(!JSON.stringify(err).includes(PROVIDER_SECRET));
        return true;
      },
    );
  });

  it('an upstream that never answers → 504 upstream_timeout', async () => {
    const res = await fetch(`${dp.gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${dp.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o#hang', messages: user('x') }),
    });
    assert.equal(res.status, 504);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'upstream_timeout');
  });

  it('invalid JSON from upstream → 502; invalid SSE or a cut stream → an error event the SDK raises', async () => {
    await assert.rejects(
      dp.openai().chat.completions.create({ model: 'gpt-4o#malformed=json', messages: user('x') }),
      (err: unknown) => code(err) === 'upstream_invalid_response',
    );
    for (const model of [
      'gpt-4o#malformed=sse',
      'gpt-4o#disconnectAfter=2',
      'claude-sonnet-4-5#disconnectAfter=3',
    ]) {
      const stream = await dp.openai().chat.completions.create({ model, messages: user('x'), stream: true });
      await assert.rejects(
        (async () => {
          for await (const _ of stream) {
            // drain
          }
        })(),
        (err: unknown) => err instanceof OpenAI.APIError,
        model,
      );
    }
    const anthropicStream = dp.anthropic().messages.stream({
      model: 'claude-sonnet-4-5#disconnectAfter=3',
      max_tokens: 10,
      messages: user('x'),
    });
    await assert.rejects(anthropicStream.finalMessage(), (err: unknown) => err instanceof Anthropic.APIError);
  });

  it('a credential rejected by the provider is the operator’s problem: 502 upstream_auth_failed', async () => {
    await dp.credentials.add({
      workspaceId: dp.workspaceId,
      name: 'stale',
      provider: 'openai-compatible',
      baseUrl: `${dp.mock.url}/v1`,
      models: ['stale-*'],
      secret: 'sk-revoked-at-the-provider',
    });
    await assert.rejects(
      dp.openai().chat.completions.create({ model: 'stale-model', messages: user('x') }),
      (err: unknown) => code(err) === 'upstream_auth_failed' && (err as { status?: number }).status === 502,
    );
  });

  it('a client that goes away aborts the upstream call', async () => {
    const controller = new AbortController();
    const model = 'gpt-4o#chunks=100;chunkDelay=100';
    const stream = await dp
      .openai()
      .chat.completions.create({ model, messages: user('x'), stream: true }, { signal: controller.signal });
    let n = 0;
    const started = Date.now();
    try {
      for await (const _ of stream) if (++n === 2) controller.abort();
    } catch {
      // The SDK may end the iteration quietly or throw an abort error; either is fine here.
    }
    // The gateway records the call as closed by the client (499) long before the provider's
    // 100 chunks × 100 ms would have ended it.
    const aborted = /"model":"gpt-4o#chunks=100;chunkDelay=100".*"status":499/;
    while (Date.now() - started < 6000 && !aborted.test(dp.logs.text())) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(Date.now() - started < 6000, 'recorded as aborted by the client');
  });
});

describe('Azure OpenAI targets', () => {
  let dp: DataPlaneFixture;
  before(async () => {
    dp = await startDataPlane();
    await dp.credentials.add({
      workspaceId: dp.workspaceId,
      name: 'azure',
      provider: 'azure-openai',
      baseUrl: dp.mock.url,
      models: ['azure-*'],
      options: {
        deployments: { 'azure-gpt': 'gpt4o-prod', 'azure-embed': 'embed-prod' },
        apiVersion: '2024-10-21',
      },
      secret: PROVIDER_SECRET,
    });
  });
  after(async () => {
    await dp.close();
  });

  it('maps the model to its deployment, sends api-key and api-version, streams and embeds', async () => {
    dp.mock.clear();
    const completion = await dp
      .openai()
      .chat.completions.create({ model: 'azure-gpt', messages: user('Hi') });
    assert.match(completion.choices[0]?.message.content ?? '', /^Mock reply/);
    const seen = dp.mock.requests.at(-1);
    assert.equal(seen?.path, '/openai/deployments/gpt4o-prod/chat/completions');
    assert.equal(seen?.query['api-version'], '2024-10-21');
    assert.equal(seen?.headers['api-key'], PROVIDER_SECRET);
    assert.equal(seen?.headers.authorization, undefined);
    const streamed = await dp.openai().chat.completions.stream({ model: 'azure-gpt', messages: user('Hi') });
    assert.match((await streamed.finalChatCompletion()).choices[0]?.message.content ?? '', /^Mock reply/);
    const embedded = await dp.openai().embeddings.create({ model: 'azure-embed', input: 'x' });
    assert.equal(embedded.data.length, 1);
    assert.equal(dp.mock.requests.at(-1)?.path, '/openai/deployments/embed-prod/embeddings');
  });
});

describe('egress policy at call time', () => {
  it('a provider address the gateway’s egress policy refuses is a 502 egress_denied, and nothing is sent', async () => {
    // Credentials seeded while 127.0.0.1 was allowed; this gateway allows nothing private.
    const dp = await startDataPlane({ PORTCULLIS_EGRESS_ALLOW: '' }, { seedEgressAllow: ['127.0.0.1'] });
    try {
      await assert.rejects(
        dp.openai().chat.completions.create({ model: 'gpt-4o-mini', messages: user('x') }),
        (err: unknown) => {
          assert.equal((err as { status?: number }).status, 502);
          assert.equal((err as { code?: unknown }).code, 'egress_denied');
          assert.match((err as Error).message, /egress policy/);
          return true;
        },
      );
      assert.equal(dp.mock.requests.length, 0);
    } finally {
      await dp.close();
    }
  });
});
