import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidParameterError, UnsupportedParameterError } from '../errors.ts';
import { anthropicRequestToOpenAI } from './anthropic-to-openai.ts';

const base = (extra: Record<string, unknown> = {}) => ({
  model: 'gpt-x',
  max_tokens: 256,
  messages: [{ role: 'user', content: 'hi' }],
  ...extra,
});

function assertRefused(
  fn: () => unknown,
  kind: typeof UnsupportedParameterError | typeof InvalidParameterError,
  param: string,
) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof kind, `expected ${kind.name}, got ${String(err)}`);
    assert.equal(err.param, param);
    return true;
  });
}

describe('anthropicRequestToOpenAI: messages', () => {
  it('maps a minimal request', () => {
    assert.deepEqual(anthropicRequestToOpenAI(base()), {
      model: 'gpt-x',
      messages: [{ role: 'user', content: 'hi' }],
      max_completion_tokens: 256,
    });
  });

  it('turns system (string or blocks) into a leading system message', () => {
    assert.deepEqual(anthropicRequestToOpenAI(base({ system: 'be brief' })).messages[0], {
      role: 'system',
      content: 'be brief',
    });
    const blocks = anthropicRequestToOpenAI(
      base({
        system: [
          { type: 'text', text: 'a', cache_control: { type: 'ephemeral' } },
          { type: 'text', text: 'b' },
        ],
      }),
    );
    assert.deepEqual(blocks.messages[0], { role: 'system', content: 'a\n\nb' });
    assert.equal(anthropicRequestToOpenAI(base({ system: '' })).messages.length, 1);
    const inline = anthropicRequestToOpenAI(
      base({
        messages: [
          { role: 'user', content: 'a' },
          { role: 'system', content: 'now be terse' },
        ],
      }),
    );
    assert.deepEqual(inline.messages[1], { role: 'system', content: 'now be terse' });
  });

  it('maps images to image_url parts (base64 as a data URL)', () => {
    const out = anthropicRequestToOpenAI(
      base({
        messages: [
          {
            role: 'user',
            content: [
              { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: '/9j/4AAQ' } },
              { type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } },
              { type: 'text', text: 'compare' },
            ],
          },
        ],
      }),
    );
    assert.deepEqual(out.messages, [
      {
        role: 'user',
        content: [
          { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,/9j/4AAQ' } },
          { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
          { type: 'text', text: 'compare' },
        ],
      },
    ]);
  });

  it('maps tool_use to tool_calls and tool_result blocks to tool messages placed first', () => {
    const out = anthropicRequestToOpenAI(
      base({
        messages: [
          { role: 'user', content: 'weather?' },
          {
            role: 'assistant',
            content: [
              { type: 'thinking', thinking: 'hmm', signature: 'sig' },
              { type: 'text', text: 'Checking.' },
              { type: 'tool_use', id: 'toolu_1', name: 'weather', input: { city: 'Paris' } },
              { type: 'tool_use', id: 'toolu_2', name: 'weather', input: { city: 'Rome' } },
            ],
          },
          {
            role: 'user',
            content: [
              { type: 'tool_result', tool_use_id: 'toolu_1', content: 'sunny' },
              {
                type: 'tool_result',
                tool_use_id: 'toolu_2',
                content: [{ type: 'text', text: 'no data' }],
                is_error: true,
              },
              { type: 'text', text: 'and tomorrow?' },
            ],
          },
        ],
      }),
    );
    assert.deepEqual(out.messages, [
      { role: 'user', content: 'weather?' },
      {
        role: 'assistant',
        content: 'Checking.',
        tool_calls: [
          { id: 'toolu_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
          { id: 'toolu_2', type: 'function', function: { name: 'weather', arguments: '{"city":"Rome"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'toolu_1', content: 'sunny' },
      { role: 'tool', tool_call_id: 'toolu_2', content: 'Error: no data' },
      { role: 'user', content: [{ type: 'text', text: 'and tomorrow?' }] },
    ]);
  });

  it('gives a tool-only assistant turn null content and keeps several text blocks as parts', () => {
    const out = anthropicRequestToOpenAI(
      base({
        messages: [
          { role: 'user', content: 'x' },
          { role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'f', input: {} }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't' }] },
          {
            role: 'assistant',
            content: [
              { type: 'text', text: 'a' },
              { type: 'text', text: 'b' },
            ],
          },
        ],
      }),
    );
    assert.deepEqual(out.messages[1], {
      role: 'assistant',
      content: null,
      tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: '{}' } }],
    });
    assert.deepEqual(out.messages[2], { role: 'tool', tool_call_id: 't', content: '' });
    assert.deepEqual(out.messages[3], {
      role: 'assistant',
      content: [
        { type: 'text', text: 'a' },
        { type: 'text', text: 'b' },
      ],
    });
  });

  it('names the field path of malformed input', () => {
    assertRefused(() => anthropicRequestToOpenAI([]), InvalidParameterError, 'body');
    assertRefused(
      () => anthropicRequestToOpenAI(base({ max_tokens: undefined })),
      InvalidParameterError,
      'max_tokens',
    );
    assertRefused(
      () => anthropicRequestToOpenAI(base({ max_tokens: 1.5 })),
      InvalidParameterError,
      'max_tokens',
    );
    assertRefused(() => anthropicRequestToOpenAI(base({ messages: [] })), InvalidParameterError, 'messages');
    assertRefused(
      () =>
        anthropicRequestToOpenAI(
          base({
            messages: [
              { role: 'user', content: 'a' },
              { role: 'user', content: 5 },
            ],
          }),
        ),
      InvalidParameterError,
      'messages[1].content',
    );
    assertRefused(
      () => anthropicRequestToOpenAI(base({ messages: [{ role: 'user', content: [{ type: 'text' }] }] })),
      InvalidParameterError,
      'messages[0].content[0].text',
    );
    assertRefused(
      () =>
        anthropicRequestToOpenAI(
          base({
            messages: [
              { role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'f', input: 'x' }] },
            ],
          }),
        ),
      InvalidParameterError,
      'messages[0].content[0].input',
    );
    assertRefused(
      () => anthropicRequestToOpenAI(base({ messages: [{ role: 'tool', content: 'x' }] })),
      InvalidParameterError,
      'messages[0].role',
    );
  });

  it('refuses content OpenAI cannot take', () => {
    const userBlock = (block: unknown) => base({ messages: [{ role: 'user', content: [block] }] });
    assertRefused(
      () => anthropicRequestToOpenAI(userBlock({ type: 'document', source: { type: 'base64' } })),
      UnsupportedParameterError,
      'messages[0].content[0].type',
    );
    assertRefused(
      () => anthropicRequestToOpenAI(userBlock({ type: 'image', source: { type: 'file', file_id: 'f' } })),
      UnsupportedParameterError,
      'messages[0].content[0].source.type',
    );
    assertRefused(
      () =>
        anthropicRequestToOpenAI(
          userBlock({
            type: 'tool_result',
            tool_use_id: 't',
            content: [{ type: 'image', source: { type: 'url', url: 'https://x' } }],
          }),
        ),
      UnsupportedParameterError,
      'messages[0].content[0].content[0].type',
    );
    assertRefused(
      () =>
        anthropicRequestToOpenAI(
          userBlock({ type: 'text', text: 'x', citations: [{ type: 'char_location' }] }),
        ),
      UnsupportedParameterError,
      'messages[0].content[0].citations',
    );
    assertRefused(
      () =>
        anthropicRequestToOpenAI(
          base({ messages: [{ role: 'assistant', content: [{ type: 'server_tool_use' }] }] }),
        ),
      UnsupportedParameterError,
      'messages[0].content[0].type',
    );
  });
});

describe('anthropicRequestToOpenAI: parameters', () => {
  it('maps stop_sequences, sampling, metadata.user_id and stream (asking for usage)', () => {
    const out = anthropicRequestToOpenAI(
      base({
        stop_sequences: ['###'],
        temperature: 0.3,
        top_p: 0.8,
        metadata: { user_id: 'u-9' },
        stream: true,
      }),
    );
    assert.deepEqual(out.stop, ['###']);
    assert.equal(out.temperature, 0.3);
    assert.equal(out.top_p, 0.8);
    assert.equal(out.user, 'u-9');
    assert.equal(out.stream, true);
    assert.deepEqual(out.stream_options, { include_usage: true });
    assert.equal(anthropicRequestToOpenAI(base({ stream: false })).stream, undefined);
  });

  it('maps custom tools and every tool_choice form', () => {
    const tools = [
      {
        name: 'weather',
        description: 'Get weather',
        input_schema: { type: 'object', properties: { city: { type: 'string' } } },
        cache_control: { type: 'ephemeral' },
      },
      { type: 'custom', name: 'now', input_schema: { type: 'object' }, strict: true },
    ];
    const out = anthropicRequestToOpenAI(base({ tools, tool_choice: { type: 'auto' } }));
    assert.deepEqual(out.tools, [
      {
        type: 'function',
        function: {
          name: 'weather',
          parameters: { type: 'object', properties: { city: { type: 'string' } } },
          description: 'Get weather',
        },
      },
      { type: 'function', function: { name: 'now', parameters: { type: 'object' }, strict: true } },
    ]);
    assert.equal(out.tool_choice, 'auto');
    assert.equal(
      anthropicRequestToOpenAI(base({ tools, tool_choice: { type: 'any' } })).tool_choice,
      'required',
    );
    assert.equal(
      anthropicRequestToOpenAI(base({ tools, tool_choice: { type: 'none' } })).tool_choice,
      'none',
    );
    assert.deepEqual(
      anthropicRequestToOpenAI(base({ tools, tool_choice: { type: 'tool', name: 'now' } })).tool_choice,
      {
        type: 'function',
        function: { name: 'now' },
      },
    );
    const serial = anthropicRequestToOpenAI(
      base({ tools, tool_choice: { type: 'auto', disable_parallel_tool_use: true } }),
    );
    assert.equal(serial.parallel_tool_calls, false);
  });

  it('maps output_config (effort, json_schema format) and service_tier', () => {
    const schema = { type: 'object', properties: {}, additionalProperties: false };
    const out = anthropicRequestToOpenAI(
      base({
        output_config: { effort: 'low', format: { type: 'json_schema', schema } },
        service_tier: 'standard_only',
      }),
    );
    assert.equal(out.reasoning_effort, 'low');
    assert.deepEqual(out.response_format, {
      type: 'json_schema',
      json_schema: { name: 'response', schema, strict: true },
    });
    assert.equal(out.service_tier, 'default');
  });

  it('accepts adaptive/disabled thinking and cache_control without effect', () => {
    const out = anthropicRequestToOpenAI(
      base({ thinking: { type: 'adaptive' }, cache_control: { type: 'ephemeral' } }),
    );
    assert.deepEqual(Object.keys(out).sort(), ['max_completion_tokens', 'messages', 'model']);
    anthropicRequestToOpenAI(base({ thinking: { type: 'disabled' } }));
  });

  it('refuses every parameter OpenAI cannot honour, naming it', () => {
    const refused: Array<[string, unknown, string]> = [
      ['top_k', 40, 'top_k'],
      ['thinking', { type: 'enabled', budget_tokens: 2048 }, 'thinking.type'],
      ['stop_sequences', ['a', 'b', 'c', 'd', 'e'], 'stop_sequences'],
      ['metadata', { user_id: 'u', other: 1 }, 'metadata.other'],
      ['container', 'c-1', 'container'],
      ['inference_geo', 'us', 'inference_geo'],
      ['speed', 'fast', 'speed'],
      ['tools', [{ type: 'web_search_20250305', name: 'web_search' }], 'tools[0].type'],
      [
        'tools',
        [{ name: 'f', input_schema: { type: 'object' }, defer_loading: true }],
        'tools[0].defer_loading',
      ],
      ['output_config', { task_budget: 5 }, 'output_config.task_budget'],
      ['max_tokens', 0, 'max_tokens'],
      ['some_future_param', 1, 'some_future_param'],
    ];
    for (const [key, value, param] of refused) {
      assertRefused(() => anthropicRequestToOpenAI(base({ [key]: value })), UnsupportedParameterError, param);
    }
    assertRefused(
      () => anthropicRequestToOpenAI(base({ temperature: 1.5 })),
      InvalidParameterError,
      'temperature',
    );
  });
});
