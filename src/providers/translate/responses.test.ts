import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UpstreamFormatError } from '../errors.ts';
import { anthropicMessageToOpenAI, openAICompletionToAnthropic } from './responses.ts';
import {
  finishReasonFromAnthropic,
  stopReasonFromOpenAI,
  toAnthropicUsage,
  usageFromOpenAI,
} from './shared.ts';

const anthropicMessage = (extra: Record<string, unknown> = {}) => ({
  id: 'msg_1',
  type: 'message',
  role: 'assistant',
  model: 'claude-x',
  content: [{ type: 'text', text: 'Hello', citations: null }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: {
    input_tokens: 10,
    output_tokens: 5,
    cache_creation_input_tokens: null,
    cache_read_input_tokens: null,
  },
  ...extra,
});

const completion = (message: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1,
  model: 'gpt-x',
  choices: [
    {
      index: 0,
      message: { role: 'assistant', refusal: null, ...message },
      finish_reason: 'stop',
      logprobs: null,
    },
  ],
  usage: { prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 },
  ...extra,
});

describe('anthropicMessageToOpenAI', () => {
  it('maps a text answer', () => {
    assert.deepEqual(anthropicMessageToOpenAI(anthropicMessage(), { created: 1700000000 }), {
      id: 'msg_1',
      object: 'chat.completion',
      created: 1700000000,
      model: 'claude-x',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Hello', refusal: null },
          finish_reason: 'stop',
          logprobs: null,
        },
      ],
      usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
    });
  });

  it('maps several tool_use blocks to tool_calls with JSON-string arguments, skipping thinking', () => {
    const out = anthropicMessageToOpenAI(
      anthropicMessage({
        content: [
          { type: 'thinking', thinking: 'private', signature: 's' },
          { type: 'text', text: 'Let me check. ', citations: null },
          { type: 'text', text: 'Both cities.', citations: null },
          { type: 'tool_use', id: 'toolu_1', name: 'weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 'toolu_2', name: 'weather', input: { city: 'Rome' } },
        ],
        stop_reason: 'tool_use',
      }),
      { created: 1 },
    );
    const choice = out.choices[0];
    assert.equal(choice?.finish_reason, 'tool_calls');
    assert.equal(choice?.message.content, 'Let me check. Both cities.');
    assert.deepEqual(choice?.message.tool_calls, [
      { id: 'toolu_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
      { id: 'toolu_2', type: 'function', function: { name: 'weather', arguments: '{"city":"Rome"}' } },
    ]);
  });

  it('gives null content to a tool-only answer and an empty string to an empty one', () => {
    const toolOnly = anthropicMessageToOpenAI(
      anthropicMessage({
        content: [{ type: 'tool_use', id: 't', name: 'f', input: {} }],
        stop_reason: 'tool_use',
      }),
      { created: 1 },
    );
    assert.equal(toolOnly.choices[0]?.message.content, null);
    const empty = anthropicMessageToOpenAI(anthropicMessage({ content: [] }), { created: 1 });
    assert.equal(empty.choices[0]?.message.content, '');
    assert.equal(empty.choices[0]?.message.tool_calls, undefined);
  });

  it('counts cache reads and writes in prompt_tokens and breaks them out', () => {
    const out = anthropicMessageToOpenAI(
      anthropicMessage({
        usage: {
          input_tokens: 10,
          output_tokens: 5,
          cache_creation_input_tokens: 100,
          cache_read_input_tokens: 1000,
        },
      }),
      { created: 1 },
    );
    assert.deepEqual(out.usage, {
      prompt_tokens: 1110,
      completion_tokens: 5,
      total_tokens: 1115,
      prompt_tokens_details: { cached_tokens: 1000, cache_write_tokens: 100 },
    });
  });

  it('raises UpstreamFormatError on an answer it cannot read', () => {
    assert.throws(() => anthropicMessageToOpenAI('nope', { created: 1 }), UpstreamFormatError);
    assert.throws(
      () => anthropicMessageToOpenAI(anthropicMessage({ content: null }), { created: 1 }),
      (err: unknown) => err instanceof UpstreamFormatError && err.param === 'content',
    );
  });
});

describe('openAICompletionToAnthropic', () => {
  it('maps a text answer', () => {
    assert.deepEqual(openAICompletionToAnthropic(completion({ content: 'Hi there' })), {
      id: 'chatcmpl-1',
      type: 'message',
      role: 'assistant',
      model: 'gpt-x',
      content: [{ type: 'text', text: 'Hi there', citations: null }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: {
        input_tokens: 12,
        output_tokens: 7,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
      },
    });
  });

  it('maps tool_calls to tool_use blocks with parsed input', () => {
    const out = openAICompletionToAnthropic({
      ...completion({
        content: null,
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
          { id: 'call_2', type: 'function', function: { name: 'now', arguments: '' } },
        ],
      }),
      choices: [
        {
          index: 0,
          finish_reason: 'tool_calls',
          message: {
            role: 'assistant',
            content: null,
            tool_calls: [
              {
                id: 'call_1',
                type: 'function',
                function: { name: 'weather', arguments: '{"city":"Paris"}' },
              },
              { id: 'call_2', type: 'function', function: { name: 'now', arguments: '' } },
            ],
          },
        },
      ],
    });
    assert.equal(out.stop_reason, 'tool_use');
    assert.deepEqual(out.content, [
      { type: 'tool_use', id: 'call_1', name: 'weather', input: { city: 'Paris' } },
      { type: 'tool_use', id: 'call_2', name: 'now', input: {} },
    ]);
  });

  it('maps a refusal to a text block with stop_reason refusal', () => {
    const out = openAICompletionToAnthropic(
      completion({ content: null, refusal: 'I cannot help with that.' }),
    );
    assert.equal(out.stop_reason, 'refusal');
    assert.deepEqual(out.content, [{ type: 'text', text: 'I cannot help with that.', citations: null }]);
  });

  it('subtracts cached tokens from input_tokens, as Anthropic counts them', () => {
    const out = openAICompletionToAnthropic(
      completion(
        { content: 'x' },
        {
          usage: {
            prompt_tokens: 2000,
            completion_tokens: 3,
            total_tokens: 2003,
            prompt_tokens_details: { cached_tokens: 1500, cache_write_tokens: 100 },
          },
        },
      ),
    );
    assert.deepEqual(out.usage, {
      input_tokens: 400,
      output_tokens: 3,
      cache_creation_input_tokens: 100,
      cache_read_input_tokens: 1500,
    });
  });

  it('refuses tool arguments that are not a JSON object, and answers without choices', () => {
    const bad = completion({
      content: null,
      tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{"a":' } }],
    });
    assert.throws(
      () => openAICompletionToAnthropic(bad),
      (err: unknown) =>
        err instanceof UpstreamFormatError &&
        err.param === 'choices[0].message.tool_calls[0].function.arguments',
    );
    assert.throws(
      () => openAICompletionToAnthropic(completion({ content: 'x' }, { choices: [] })),
      UpstreamFormatError,
    );
  });
});

describe('stop reasons and usage', () => {
  it('maps every Anthropic stop_reason, and unknown ones to stop', () => {
    const table: Array<[unknown, string]> = [
      ['end_turn', 'stop'],
      ['stop_sequence', 'stop'],
      ['max_tokens', 'length'],
      ['model_context_window_exceeded', 'length'],
      ['tool_use', 'tool_calls'],
      ['refusal', 'content_filter'],
      ['pause_turn', 'stop'],
      ['something_new', 'stop'],
      [null, 'stop'],
    ];
    for (const [reason, expected] of table)
      assert.equal(finishReasonFromAnthropic(reason), expected, String(reason));
  });

  it('maps every OpenAI finish_reason, and unknown ones to end_turn', () => {
    const table: Array<[unknown, string]> = [
      ['stop', 'end_turn'],
      ['length', 'max_tokens'],
      ['tool_calls', 'tool_use'],
      ['function_call', 'tool_use'],
      ['content_filter', 'refusal'],
      ['something_new', 'end_turn'],
    ];
    for (const [reason, expected] of table)
      assert.equal(stopReasonFromOpenAI(reason), expected, String(reason));
  });

  it('never reports negative Anthropic input tokens from inconsistent upstream usage', () => {
    const usage = usageFromOpenAI({
      prompt_tokens: 5,
      completion_tokens: 1,
      prompt_tokens_details: { cached_tokens: 9 },
    });
    assert.equal(toAnthropicUsage(usage).input_tokens, 0);
    assert.deepEqual(usageFromOpenAI(undefined), {
      inputTokens: 0,
      outputTokens: 0,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
    });
  });
});
