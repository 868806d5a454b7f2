import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AnthropicStreamEvent } from '../anthropic/types.ts';
import { anthropicSSE, anthropicStreamError } from './sse.ts';
import { OpenAIToAnthropicStream } from './stream-openai-to-anthropic.ts';

const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'gpt-x',
  choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
});
const usageChunk = {
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'gpt-x',
  choices: [],
  usage: {
    prompt_tokens: 50,
    completion_tokens: 20,
    total_tokens: 70,
    prompt_tokens_details: { cached_tokens: 30 },
  },
};

function run(chunks: unknown[]) {
  const translator = new OpenAIToAnthropicStream();
  const out: AnthropicStreamEvent[] = [];
  for (const c of chunks) out.push(...translator.push(c));
  out.push(...translator.end());
  return { translator, out };
}

describe('OpenAIToAnthropicStream', () => {
  it('translates a text answer into message_start … message_stop with usage in message_delta', () => {
    const { out, translator } = run([
      chunk({ role: 'assistant', content: '' }),
      chunk({ content: 'Hel' }),
      chunk({ content: 'lo' }),
      chunk({}, 'stop'),
      usageChunk,
    ]);
    assert.deepEqual(
      out.map((e) => e.type),
      [
        'message_start',
        'content_block_start',
        'content_block_delta',
        'content_block_delta',
        'content_block_stop',
        'message_delta',
        'message_stop',
      ],
    );
    assert.deepEqual(out[1], {
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'text', text: '', citations: null },
    });
    assert.deepEqual(out[2], {
      type: 'content_block_delta',
      index: 0,
      delta: { type: 'text_delta', text: 'Hel' },
    });
    assert.deepEqual(out[5], {
      type: 'message_delta',
      delta: { stop_reason: 'end_turn', stop_sequence: null },
      usage: {
        output_tokens: 20,
        input_tokens: 20,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 30,
      },
    });
    assert.deepEqual(translator.usage, {
      inputTokens: 50,
      outputTokens: 20,
      cacheReadTokens: 30,
      cacheWriteTokens: 0,
    });
    assert.equal(translator.done, true);
  });

  it('gives each parallel tool call its own block, with sequential indices after the text block', () => {
    const { out } = run([
      chunk({ role: 'assistant', content: 'Let me check.' }),
      chunk({
        tool_calls: [
          { index: 0, id: 'call_a', type: 'function', function: { name: 'weather', arguments: '' } },
        ],
      }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
      chunk({
        tool_calls: [
          {
            index: 1,
            id: 'call_b',
            type: 'function',
            function: { name: 'weather', arguments: '{"city":"Rome"}' },
          },
        ],
      }),
      chunk({}, 'tool_calls'),
      usageChunk,
    ]);
    assert.deepEqual(out.slice(1), [
      { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '', citations: null } },
      { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Let me check.' } },
      { type: 'content_block_stop', index: 0 },
      {
        type: 'content_block_start',
        index: 1,
        content_block: { type: 'tool_use', id: 'call_a', name: 'weather', input: {} },
      },
      {
        type: 'content_block_delta',
        index: 1,
        delta: { type: 'input_json_delta', partial_json: '{"city":' },
      },
      {
        type: 'content_block_delta',
        index: 1,
        delta: { type: 'input_json_delta', partial_json: '"Paris"}' },
      },
      { type: 'content_block_stop', index: 1 },
      {
        type: 'content_block_start',
        index: 2,
        content_block: { type: 'tool_use', id: 'call_b', name: 'weather', input: {} },
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
        usage: {
          output_tokens: 20,
          input_tokens: 20,
          cache_creation_input_tokens: 0,
          cache_read_input_tokens: 30,
        },
      },
      { type: 'message_stop' },
    ]);
  });

  it('closes out on end() when the upstream sent no usage chunk', () => {
    const { out, translator } = run([chunk({ content: 'x' }), chunk({}, 'length')]);
    assert.deepEqual(out.at(-2), {
      type: 'message_delta',
      delta: { stop_reason: 'max_tokens', stop_sequence: null },
      usage: {
        output_tokens: 0,
        input_tokens: 0,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
      },
    });
    assert.deepEqual(out.at(-1), { type: 'message_stop' });
    assert.deepEqual(translator.usage.outputTokens, 0);
  });

  it('emits an empty message for an answer with no content', () => {
    const { out } = run([chunk({ role: 'assistant', content: '' }), chunk({}, 'stop'), usageChunk]);
    assert.deepEqual(
      out.map((e) => e.type),
      ['message_start', 'message_delta', 'message_stop'],
    );
  });

  it('maps a streamed refusal to text with stop_reason refusal', () => {
    const { out } = run([chunk({ role: 'assistant', refusal: 'No.' }), chunk({}, 'stop'), usageChunk]);
    assert.deepEqual(out[2], {
      type: 'content_block_delta',
      index: 0,
      delta: { type: 'text_delta', text: 'No.' },
    });
    const delta = out.find((e) => e.type === 'message_delta');
    assert.equal(delta?.type === 'message_delta' && delta.delta.stop_reason, 'refusal');
  });

  it('turns an upstream error object into an Anthropic error event', () => {
    const { out, translator } = run([
      chunk({ content: 'x' }),
      { error: { message: 'Rate limited', type: 'rate_limit_error', param: null, code: null } },
    ]);
    assert.deepEqual(out.at(-1), {
      type: 'error',
      error: { type: 'rate_limit_error', message: 'Rate limited' },
    });
    assert.equal(translator.done, true);
    const other = run([{ error: { message: 'boom', type: 'server_error' } }]).out;
    assert.deepEqual(other, [{ type: 'error', error: { type: 'api_error', message: 'boom' } }]);
  });

  it('reports a stream cut off before finish_reason as an error', () => {
    const { out } = run([chunk({ content: 'partial' })]);
    assert.equal(out.at(-1)?.type, 'error');
    assert.deepEqual(run([]).out, [
      {
        type: 'error',
        error: { type: 'api_error', message: 'The upstream stream ended before the message was complete' },
      },
    ]);
  });
});

describe('Anthropic SSE framing', () => {
  it('names each event and carries its JSON', () => {
    assert.equal(
      anthropicSSE({ type: 'message_stop' }),
      'event: message_stop\ndata: {"type":"message_stop"}\n\n',
    );
    assert.equal(
      anthropicSSE(anthropicStreamError('Overloaded', 'overloaded_error')),
      'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n',
    );
  });
});
