import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AnthropicStreamEvent } from '../anthropic/types.ts';
import type { OpenAIChatCompletionChunk, OpenAIStreamEvent } from '../openai/types.ts';
import { OPENAI_SSE_DONE, openAISSE, openAIStreamError } from './sse.ts';
import { AnthropicToOpenAIStream } from './stream-anthropic-to-openai.ts';

const start: AnthropicStreamEvent = {
  type: 'message_start',
  message: {
    id: 'msg_1',
    type: 'message',
    role: 'assistant',
    model: 'claude-x',
    content: [],
    stop_reason: null,
    stop_sequence: null,
    usage: {
      input_tokens: 25,
      output_tokens: 1,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 100,
    },
  },
};

/** Text, a thinking block, then two tool calls in one turn (parallel tool use). */
const toolStream: AnthropicStreamEvent[] = [
  start,
  { type: 'content_block_start', index: 0, content_block: { type: 'thinking' } },
  { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'secret' } },
  { type: 'content_block_stop', index: 0 },
  { type: 'ping' },
  { type: 'content_block_start', index: 1, content_block: { type: 'text', text: '', citations: null } },
  { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'Checking ' } },
  { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'both.' } },
  { type: 'content_block_stop', index: 1 },
  {
    type: 'content_block_start',
    index: 2,
    content_block: { type: 'tool_use', id: 'toolu_a', name: 'weather', input: {} },
  },
  { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '' } },
  { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '{"city":' } },
  { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '"Paris"}' } },
  { type: 'content_block_stop', index: 2 },
  {
    type: 'content_block_start',
    index: 3,
    content_block: { type: 'tool_use', id: 'toolu_b', name: 'weather', input: {} },
  },
  {
    type: 'content_block_delta',
    index: 3,
    delta: { type: 'input_json_delta', partial_json: '{"city":"Rome"}' },
  },
  { type: 'content_block_stop', index: 3 },
  {
    type: 'message_delta',
    delta: { stop_reason: 'tool_use', stop_sequence: null },
    usage: { output_tokens: 42 },
  },
  { type: 'message_stop' },
];

function run(events: AnthropicStreamEvent[], includeUsage: boolean) {
  const translator = new AnthropicToOpenAIStream({ created: 1700000000, includeUsage });
  const out: OpenAIStreamEvent[] = [];
  for (const event of events) out.push(...translator.push(event));
  out.push(...translator.end());
  return { translator, out };
}

const chunks = (events: OpenAIStreamEvent[]) => events as OpenAIChatCompletionChunk[];

describe('AnthropicToOpenAIStream', () => {
  it('emits role, content, tool-call and finish chunks in OpenAI order', () => {
    const { out, translator } = run(toolStream, false);
    const deltas = chunks(out).map((c) => [c.choices[0]?.delta, c.choices[0]?.finish_reason]);
    assert.deepEqual(deltas, [
      [{ role: 'assistant', content: '' }, null],
      [{ content: 'Checking ' }, null],
      [{ content: 'both.' }, null],
      [
        {
          tool_calls: [
            { index: 0, id: 'toolu_a', type: 'function', function: { name: 'weather', arguments: '' } },
          ],
        },
        null,
      ],
      [{ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }, null],
      [{ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }, null],
      [
        {
          tool_calls: [
            { index: 1, id: 'toolu_b', type: 'function', function: { name: 'weather', arguments: '' } },
          ],
        },
        null,
      ],
      [{ tool_calls: [{ index: 1, function: { arguments: '{"city":"Rome"}' } }] }, null],
      [{}, 'tool_calls'],
    ]);
    for (const c of chunks(out)) {
      assert.equal(c.id, 'msg_1');
      assert.equal(c.object, 'chat.completion.chunk');
      assert.equal(c.created, 1700000000);
      assert.equal(c.model, 'claude-x');
    }
    assert.equal(translator.done, true);
  });

  it('adds a usage chunk with empty choices when include_usage was requested', () => {
    const { out, translator } = run(toolStream, true);
    const last = chunks(out).at(-1);
    assert.deepEqual(last?.choices, []);
    assert.deepEqual(last?.usage, {
      prompt_tokens: 125,
      completion_tokens: 42,
      total_tokens: 167,
      prompt_tokens_details: { cached_tokens: 100, cache_write_tokens: 0 },
    });
    assert.deepEqual(translator.usage, {
      inputTokens: 125,
      outputTokens: 42,
      cacheReadTokens: 100,
      cacheWriteTokens: 0,
    });
  });

  it('maps stop reasons, unknown ones to stop', () => {
    for (const [reason, expected] of [
      ['end_turn', 'stop'],
      ['max_tokens', 'length'],
      ['stop_sequence', 'stop'],
      ['refusal', 'content_filter'],
      ['brand_new_reason', 'stop'],
    ]) {
      const { out } = run(
        [
          start,
          {
            type: 'message_delta',
            delta: { stop_reason: reason as 'end_turn', stop_sequence: null },
            usage: { output_tokens: 1 },
          },
          { type: 'message_stop' },
        ],
        false,
      );
      assert.equal(chunks(out).at(-1)?.choices[0]?.finish_reason, expected, reason);
    }
  });

  it('handles an empty answer and a message_stop without message_delta', () => {
    const { out } = run([start, { type: 'message_stop' }], false);
    assert.deepEqual(
      chunks(out).map((c) => c.choices[0]?.finish_reason),
      [null, 'stop'],
    );
  });

  it('turns an upstream error event into an OpenAI error event and stops', () => {
    const translator = new AnthropicToOpenAIStream({ created: 1, includeUsage: true });
    translator.push(start);
    const out = translator.push({
      type: 'error',
      error: { type: 'overloaded_error', message: 'Overloaded' },
    });
    assert.deepEqual(out, [
      { error: { message: 'Overloaded', type: 'overloaded_error', param: null, code: null } },
    ]);
    assert.equal(translator.done, true);
    assert.deepEqual(translator.push({ type: 'message_stop' }), []);
    assert.deepEqual(translator.end(), []);
  });

  it('reports a stream that ends before message_stop as an error', () => {
    const translator = new AnthropicToOpenAIStream({ created: 1, includeUsage: false });
    translator.push(start);
    translator.push({
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'text', text: '', citations: null },
    });
    const out = translator.end();
    assert.equal(out.length, 1);
    assert.ok('error' in (out[0] as object));
  });

  it('ignores malformed events instead of crashing', () => {
    const translator = new AnthropicToOpenAIStream({ created: 1, includeUsage: false });
    translator.push(start);
    const malformed = [
      null,
      { type: 'content_block_delta', index: 0 },
      { type: 'content_block_start', index: 0 },
    ];
    for (const event of malformed)
      assert.deepEqual(translator.push(event as unknown as AnthropicStreamEvent), []);
  });
});

describe('OpenAI SSE framing', () => {
  it('frames chunks as data-only events and ends with [DONE]', () => {
    const { out } = run([start, { type: 'message_stop' }], false);
    assert.equal(openAISSE(out[0] as OpenAIStreamEvent), `data: ${JSON.stringify(out[0])}\n\n`);
    assert.equal(OPENAI_SSE_DONE, 'data: [DONE]\n\n');
  });

  it('keeps one data line per event even when content has newlines', () => {
    const text = openAISSE(openAIStreamError('line1\nline2\r\nline3'));
    assert.equal(text.split('\n').length, 3);
    assert.ok(text.startsWith('data: {"error":{"message":"line1\\nline2\\r\\nline3","type":"server_error"'));
  });
});
