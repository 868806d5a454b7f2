/**
 * Proves the translated wire format is exactly what the official SDKs parse: a loopback server
 * translates each SDK's request to the other format, answers with a canned upstream response
 * translated back, and the real `openai` / `@anthropic-ai/sdk` clients consume it.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import type { AnthropicMessage, AnthropicStreamEvent } from '../../src/providers/anthropic/types.ts';
import { anthropicRequestToOpenAI } from '../../src/providers/translate/anthropic-to-openai.ts';
import {
  openAIRequestToAnthropic,
  openAIStreamIncludesUsage,
} from '../../src/providers/translate/openai-to-anthropic.ts';
import {
  anthropicMessageToOpenAI,
  openAICompletionToAnthropic,
} from '../../src/providers/translate/responses.ts';
import { anthropicSSE, OPENAI_SSE_DONE, openAISSE } from '../../src/providers/translate/sse.ts';
import { AnthropicToOpenAIStream } from '../../src/providers/translate/stream-anthropic-to-openai.ts';
import { OpenAIToAnthropicStream } from '../../src/providers/translate/stream-openai-to-anthropic.ts';

// ---- canned upstream answers ------------------------------------------------------------------

const anthropicMessage: AnthropicMessage = {
  id: 'msg_01',
  type: 'message',
  role: 'assistant',
  model: 'claude-test',
  content: [
    { type: 'text', text: 'Checking both.', citations: null },
    { type: 'tool_use', id: 'toolu_a', name: 'weather', input: { city: 'Paris' } },
    { type: 'tool_use', id: 'toolu_b', name: 'weather', input: { city: 'Rome' } },
  ],
  stop_reason: 'tool_use',
  stop_sequence: null,
  usage: {
    input_tokens: 30,
    output_tokens: 40,
    cache_creation_input_tokens: 5,
    cache_read_input_tokens: 100,
  },
};

const anthropicEvents: AnthropicStreamEvent[] = [
  {
    type: 'message_start',
    message: {
      ...anthropicMessage,
      content: [],
      stop_reason: null,
      usage: { ...anthropicMessage.usage, output_tokens: 1 },
    },
  },
  { type: 'ping' },
  { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '', citations: null } },
  { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Checking ' } },
  { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'both.' } },
  { type: 'content_block_stop', index: 0 },
  {
    type: 'content_block_start',
    index: 1,
    content_block: { type: 'tool_use', id: 'toolu_a', name: 'weather', input: {} },
  },
  { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"city":' } },
  { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '"Paris"}' } },
  { type: 'content_block_stop', index: 1 },
  {
    type: 'content_block_start',
    index: 2,
    content_block: { type: 'tool_use', id: 'toolu_b', name: 'weather', input: {} },
  },
  {
    type: 'content_block_delta',
    index: 2,
    delta: { type: 'input_json_delta', partial_json: '{"city":"Rome"}' },
  },
  { type: 'content_block_stop', index: 2 },
  {
    type: 'message_delta',
    delta: { stop_reason: 'tool_use', stop_sequence: null },
    usage: { output_tokens: 40 },
  },
  { type: 'message_stop' },
];

const openAIChunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
  id: 'chatcmpl-01',
  object: 'chat.completion.chunk',
  created: 1700000000,
  model: 'gpt-test',
  choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
});

const openAIChunks = [
  openAIChunk({ role: 'assistant', content: '', refusal: null }),
  openAIChunk({ content: 'Checking ' }),
  openAIChunk({ content: 'both.' }),
  openAIChunk({
    tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'weather', arguments: '' } }],
  }),
  openAIChunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
  openAIChunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
  openAIChunk({
    tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'weather', arguments: '' } }],
  }),
  openAIChunk({ tool_calls: [{ index: 1, function: { arguments: '{"city":"Rome"}' } }] }),
  openAIChunk({}, 'tool_calls'),
  {
    ...openAIChunk({}),
    choices: [],
    usage: {
      prompt_tokens: 135,
      completion_tokens: 40,
      total_tokens: 175,
      prompt_tokens_details: { cached_tokens: 100 },
    },
  },
];

const openAICompletion = {
  id: 'chatcmpl-01',
  object: 'chat.completion',
  created: 1700000000,
  model: 'gpt-test',
  choices: [
    {
      index: 0,
      finish_reason: 'stop',
      logprobs: null,
      message: { role: 'assistant', content: 'Sunny in Paris.', refusal: null },
    },
  ],
  usage: { prompt_tokens: 20, completion_tokens: 6, total_tokens: 26 },
};

// ---- the loopback "gateway" -------------------------------------------------------------------

const translatedRequests: unknown[] = [];

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  return JSON.parse(Buffer.concat(parts).toString('utf8')) as Record<string, unknown>;
}

function sse(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
}

/** OpenAI client → (translated) Anthropic upstream, answered from the canned Anthropic data. */
function serveChatCompletions(body: Record<string, unknown>, res: ServerResponse): void {
  const upstreamRequest = openAIRequestToAnthropic(body);
  translatedRequests.push(upstreamRequest);
  if (!body.stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(anthropicMessageToOpenAI(anthropicMessage, { created: 1700000000 })));
    return;
  }
  const translator = new AnthropicToOpenAIStream({
    created: 1700000000,
    includeUsage: openAIStreamIncludesUsage(body),
  });
  sse(res);
  const failMidStream = body.model === 'fail-mid-stream';
  for (const event of anthropicEvents) {
    if (failMidStream && event.type === 'content_block_stop') {
      for (const out of translator.push({
        type: 'error',
        error: { type: 'overloaded_error', message: 'Overloaded' },
      })) {
        res.write(openAISSE(out));
      }
      break;
    }
    for (const out of translator.push(event)) res.write(openAISSE(out));
  }
  for (const out of translator.end()) res.write(openAISSE(out));
  res.end(OPENAI_SSE_DONE);
}

/** Anthropic client → (translated) OpenAI upstream, answered from the canned OpenAI data. */
function serveMessages(body: Record<string, unknown>, res: ServerResponse): void {
  const upstreamRequest = anthropicRequestToOpenAI(body);
  translatedRequests.push(upstreamRequest);
  if (!body.stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(openAICompletionToAnthropic(openAICompletion)));
    return;
  }
  const translator = new OpenAIToAnthropicStream();
  sse(res);
  const failMidStream = body.model === 'fail-mid-stream';
  for (const [i, chunk] of openAIChunks.entries()) {
    const upstream =
      failMidStream && i === 4 ? { error: { message: 'Upstream exploded', type: 'server_error' } } : chunk;
    for (const out of translator.push(upstream)) res.write(anthropicSSE(out));
    if (translator.done) break;
  }
  for (const out of translator.end()) res.write(anthropicSSE(out));
  res.end();
}

let server: Server;
let baseURL: string;

before(async () => {
  server = createServer((req, res) => {
    readJson(req)
      .then((body) => {
        if (req.url === '/v1/chat/completions') serveChatCompletions(body, res);
        else if (req.url === '/v1/messages') serveMessages(body, res);
        else {
          res.writeHead(404);
          res.end();
        }
      })
      .catch((err: unknown) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: String(err), type: 'test_server_error' } }));
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const weatherTool = {
  type: 'function' as const,
  function: {
    name: 'weather',
    description: 'Weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

describe('openai SDK against a Claude model', () => {
  const client = () => new OpenAI({ apiKey: 'test-key', baseURL: `${baseURL}/v1`, maxRetries: 0 });

  it('parses a translated stream with parallel tool calls and usage (finalChatCompletion)', async () => {
    const stream = client().chat.completions.stream({
      model: 'claude-test',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Weather in Paris and Rome?' },
      ],
      tools: [weatherTool],
      stream_options: { include_usage: true },
      max_completion_tokens: 300,
    });
    const completion = await stream.finalChatCompletion();
    const choice = completion.choices[0];
    assert.equal(choice?.finish_reason, 'tool_calls');
    assert.equal(choice?.message.content, 'Checking both.');
    assert.deepEqual(
      choice?.message.tool_calls?.map((c) =>
        c.type === 'function' ? [c.id, c.function.name, c.function.arguments] : [],
      ),
      [
        ['toolu_a', 'weather', '{"city":"Paris"}'],
        ['toolu_b', 'weather', '{"city":"Rome"}'],
      ],
    );
    assert.equal(completion.id, 'msg_01');
    assert.equal(completion.model, 'claude-test');
    assert.deepEqual(completion.usage, {
      prompt_tokens: 135,
      completion_tokens: 40,
      total_tokens: 175,
      prompt_tokens_details: { cached_tokens: 100, cache_write_tokens: 5 },
    });
    const upstream = translatedRequests.at(-1) as Record<string, unknown>;
    assert.equal(upstream.system, 'Be brief.');
    assert.equal(upstream.max_tokens, 300);
    assert.equal(upstream.stream, true);
  });

  it('iterates raw chunks from create({ stream: true })', async () => {
    const stream = await client().chat.completions.create({
      model: 'claude-test',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    });
    let text = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(text, 'Checking both.');
    assert.equal(finish, 'tool_calls');
  });

  it('parses a translated non-streaming response', async () => {
    const completion = await client().chat.completions.create({
      model: 'claude-test',
      messages: [{ role: 'user', content: 'hi' }],
    });
    assert.equal(completion.object, 'chat.completion');
    assert.equal(completion.choices[0]?.message.tool_calls?.length, 2);
    assert.equal(completion.usage?.prompt_tokens, 135);
  });

  it('surfaces a mid-stream upstream failure as an APIError', async () => {
    const stream = await client().chat.completions.create({
      model: 'fail-mid-stream',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    });
    await assert.rejects(
      async () => {
        for await (const _ of stream) {
          // drain
        }
      },
      (err: unknown) => {
        assert.ok(err instanceof OpenAI.APIError);
        assert.equal(err.type, 'overloaded_error');
        assert.match(err.message, /Overloaded/);
        return true;
      },
    );
  });
});

describe('@anthropic-ai/sdk against a GPT model', () => {
  const client = () => new Anthropic({ apiKey: 'test-key', baseURL, maxRetries: 0 });

  it('parses a translated stream with parallel tool calls and usage (finalMessage)', async () => {
    const stream = client().messages.stream({
      model: 'gpt-test',
      max_tokens: 300,
      system: 'Be brief.',
      messages: [{ role: 'user', content: 'Weather in Paris and Rome?' }],
      tools: [
        { name: 'weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } },
      ],
    });
    const message = await stream.finalMessage();
    assert.equal(message.stop_reason, 'tool_use');
    assert.deepEqual(
      message.content.map((b) =>
        b.type === 'text' ? b.text : b.type === 'tool_use' ? [b.id, b.name, b.input] : b.type,
      ),
      ['Checking both.', ['call_a', 'weather', { city: 'Paris' }], ['call_b', 'weather', { city: 'Rome' }]],
    );
    assert.equal(message.usage.input_tokens, 35);
    assert.equal(message.usage.cache_read_input_tokens, 100);
    assert.equal(message.usage.output_tokens, 40);
    const upstream = translatedRequests.at(-1) as Record<string, unknown>;
    assert.deepEqual(upstream.stream_options, { include_usage: true });
    assert.deepEqual((upstream.messages as unknown[])[0], { role: 'system', content: 'Be brief.' });
  });

  it('parses a translated non-streaming response', async () => {
    const message = await client().messages.create({
      model: 'gpt-test',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'Weather?' }],
    });
    assert.equal(message.stop_reason, 'end_turn');
    assert.deepEqual(message.content, [{ type: 'text', text: 'Sunny in Paris.', citations: null }]);
    assert.equal(message.usage.output_tokens, 6);
  });

  it('surfaces a mid-stream upstream failure as an APIError', async () => {
    const stream = client().messages.stream({
      model: 'fail-mid-stream',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'hi' }],
    });
    await assert.rejects(stream.finalMessage(), (err: unknown) => {
      assert.ok(err instanceof Anthropic.APIError);
      assert.equal(err.type, 'api_error');
      assert.match(err.message, /Upstream exploded/);
      return true;
    });
  });
});
