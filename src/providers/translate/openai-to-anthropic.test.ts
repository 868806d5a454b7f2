import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidParameterError, UnsupportedParameterError } from '../errors.ts';
import {
  DEFAULT_ANTHROPIC_MAX_TOKENS,
  openAIRequestToAnthropic,
  openAIStreamIncludesUsage,
} from './openai-to-anthropic.ts';

const user = (content: unknown) => ({ role: 'user', content });
const base = (extra: Record<string, unknown> = {}) => ({
  model: 'claude-x',
  messages: [user('hi')],
  ...extra,
});

function assertUnsupported(fn: () => unknown, param: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(
      err instanceof UnsupportedParameterError,
      `expected UnsupportedParameterError, got ${String(err)}`,
    );
    assert.equal(err.param, param);
    assert.equal(err.code, 'unsupported_parameter');
    return true;
  });
}

function assertInvalid(fn: () => unknown, param: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InvalidParameterError, `expected InvalidParameterError, got ${String(err)}`);
    assert.equal(err.param, param);
    return true;
  });
}

describe('openAIRequestToAnthropic: messages', () => {
  it('maps a minimal request and applies the documented max_tokens default', () => {
    assert.deepEqual(openAIRequestToAnthropic(base()), {
      model: 'claude-x',
      max_tokens: DEFAULT_ANTHROPIC_MAX_TOKENS,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }],
    });
    assert.equal(openAIRequestToAnthropic(base(), { defaultMaxTokens: 99 }).max_tokens, 99);
  });

  it('gathers system and developer messages, wherever they are, into system', () => {
    const one = openAIRequestToAnthropic({
      model: 'm',
      messages: [{ role: 'system', content: 'be brief' }, user('hi')],
    });
    assert.equal(one.system, 'be brief');
    const many = openAIRequestToAnthropic({
      model: 'm',
      messages: [
        { role: 'developer', content: [{ type: 'text', text: 'a' }] },
        user('hi'),
        { role: 'system', content: 'b' },
      ],
    });
    assert.deepEqual(many.system, [
      { type: 'text', text: 'a' },
      { type: 'text', text: 'b' },
    ]);
    assert.equal(many.messages.length, 1);
  });

  it('merges consecutive same-role turns', () => {
    const out = openAIRequestToAnthropic({
      model: 'm',
      messages: [
        user('a'),
        user('b'),
        { role: 'assistant', content: 'c' },
        { role: 'assistant', content: 'd' },
        user('e'),
      ],
    });
    assert.deepEqual(
      out.messages.map((m) => [m.role, (m.content as Array<{ text: string }>).map((b) => b.text)]),
      [
        ['user', ['a', 'b']],
        ['assistant', ['c', 'd']],
        ['user', ['e']],
      ],
    );
  });

  it('skips empty text (Anthropic rejects empty text blocks) and drops empty assistant turns', () => {
    const out = openAIRequestToAnthropic({
      model: 'm',
      messages: [
        user('a'),
        { role: 'assistant', content: '' },
        user(''),
        user([{ type: 'text', text: 'b' }]),
      ],
    });
    assert.deepEqual(out.messages, [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'a' },
          { type: 'text', text: 'b' },
        ],
      },
    ]);
    assertInvalid(() => openAIRequestToAnthropic({ model: 'm', messages: [user('')] }), 'messages');
    assertInvalid(() => openAIRequestToAnthropic({ model: 'm', messages: [] }), 'messages');
  });

  it('maps images: data URLs to base64 sources, http(s) URLs to url sources', () => {
    const out = openAIRequestToAnthropic({
      model: 'm',
      messages: [
        user([
          { type: 'text', text: 'what is this?' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg', detail: 'high' } },
        ]),
      ],
    });
    assert.deepEqual(out.messages[0]?.content, [
      { type: 'text', text: 'what is this?' },
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
      { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
    ]);
  });

  it('refuses images it cannot send', () => {
    const image = (url: string, detail?: string) =>
      base({ messages: [user([{ type: 'image_url', image_url: { url, detail } }])] });
    const path = 'messages[0].content[0].image_url';
    assertUnsupported(() => openAIRequestToAnthropic(image('data:image/tiff;base64,AAAA')), `${path}.url`);
    assertInvalid(() => openAIRequestToAnthropic(image('data:image/png,rawbytes')), `${path}.url`);
    assertInvalid(() => openAIRequestToAnthropic(image('file:///etc/passwd')), `${path}.url`);
    assertUnsupported(() => openAIRequestToAnthropic(image('https://x/y.png', 'low')), `${path}.detail`);
    assertUnsupported(
      () => openAIRequestToAnthropic(base({ messages: [user([{ type: 'input_audio', input_audio: {} }])] })),
      'messages[0].content[0].type',
    );
  });

  it('maps assistant tool_calls to tool_use and tool messages to user tool_result blocks', () => {
    const out = openAIRequestToAnthropic({
      model: 'm',
      messages: [
        user('weather in Paris and Rome?'),
        {
          role: 'assistant',
          content: 'Checking.',
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
            { id: 'call_2', type: 'function', function: { name: 'weather', arguments: '' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
        { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: 'rain' }] },
        user('thanks'),
      ],
    });
    assert.deepEqual(out.messages, [
      { role: 'user', content: [{ type: 'text', text: 'weather in Paris and Rome?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Checking.' },
          { type: 'tool_use', id: 'call_1', name: 'weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 'call_2', name: 'weather', input: {} },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'call_1', content: [{ type: 'text', text: 'sunny' }] },
          { type: 'tool_result', tool_use_id: 'call_2', content: [{ type: 'text', text: 'rain' }] },
          { type: 'text', text: 'thanks' },
        ],
      },
    ]);
  });

  it('sends an empty tool result without content', () => {
    const out = openAIRequestToAnthropic({
      model: 'm',
      messages: [
        user('x'),
        {
          role: 'assistant',
          tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{}' } }],
        },
        { role: 'tool', tool_call_id: 'c', content: '' },
      ],
    });
    assert.deepEqual(out.messages[2], { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'c' }] });
  });

  it('maps an assistant refusal to text, and a null-content tool-call turn to tool_use only', () => {
    const out = openAIRequestToAnthropic({
      model: 'm',
      messages: [
        user('x'),
        { role: 'assistant', content: null, refusal: 'I cannot help with that.' },
        user('y'),
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{}' } }],
        },
      ],
    });
    assert.deepEqual(out.messages[1]?.content, [{ type: 'text', text: 'I cannot help with that.' }]);
    assert.deepEqual(out.messages[3]?.content, [{ type: 'tool_use', id: 'c', name: 'f', input: {} }]);
  });

  it('names the field path of malformed messages', () => {
    assertInvalid(() => openAIRequestToAnthropic(null), 'body');
    assertInvalid(() => openAIRequestToAnthropic({ messages: [user('x')] }), 'model');
    assertInvalid(() => openAIRequestToAnthropic({ model: 'm', messages: 'hi' }), 'messages');
    assertInvalid(() => openAIRequestToAnthropic(base({ messages: [user('a'), 'x'] })), 'messages[1]');
    assertInvalid(
      () => openAIRequestToAnthropic(base({ messages: [user('a'), { role: 'bot' }] })),
      'messages[1].role',
    );
    assertInvalid(
      () => openAIRequestToAnthropic(base({ messages: [user('a'), user('b'), user(42)] })),
      'messages[2].content',
    );
    assertInvalid(
      () => openAIRequestToAnthropic(base({ messages: [user([{ type: 'text', text: 1 }])] })),
      'messages[0].content[0].text',
    );
    assertInvalid(
      () => openAIRequestToAnthropic(base({ messages: [{ role: 'tool', content: 'x' }] })),
      'messages[0].tool_call_id',
    );
    const badArgs = {
      role: 'assistant',
      tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '[1,2]' } }],
    };
    assertInvalid(
      () => openAIRequestToAnthropic(base({ messages: [user('a'), badArgs] })),
      'messages[1].tool_calls[0].function.arguments',
    );
  });

  it('refuses message fields and roles with no Anthropic counterpart', () => {
    assertUnsupported(
      () => openAIRequestToAnthropic(base({ messages: [{ ...user('a'), name: 'bob' }] })),
      'messages[0].name',
    );
    assertUnsupported(
      () =>
        openAIRequestToAnthropic(
          base({ messages: [user('a'), { role: 'function', name: 'f', content: 'x' }] }),
        ),
      'messages[1].role',
    );
    assertUnsupported(
      () =>
        openAIRequestToAnthropic(
          base({ messages: [{ role: 'system', content: [{ type: 'image_url' }] }, user('a')] }),
        ),
      'messages[0].content[0].type',
    );
  });
});

describe('openAIRequestToAnthropic: parameters', () => {
  it('maps sampling, stop, stream, user and max tokens', () => {
    const out = openAIRequestToAnthropic(
      base({
        temperature: 0.2,
        top_p: 0.9,
        stop: 'END',
        stream: true,
        stream_options: { include_usage: true },
        user: 'u-1',
        max_tokens: 100,
        n: 1,
        presence_penalty: 0,
        logprobs: false,
        seed: null,
      }),
    );
    assert.equal(out.temperature, 0.2);
    assert.equal(out.top_p, 0.9);
    assert.deepEqual(out.stop_sequences, ['END']);
    assert.equal(out.stream, true);
    assert.deepEqual(out.metadata, { user_id: 'u-1' });
    assert.equal(out.max_tokens, 100);
    assert.equal(
      openAIRequestToAnthropic(base({ max_tokens: 10, max_completion_tokens: 20 })).max_tokens,
      20,
    );
    assert.deepEqual(openAIRequestToAnthropic(base({ stop: ['a', 'b'] })).stop_sequences, ['a', 'b']);
    assert.equal(openAIRequestToAnthropic(base({ stream: false })).stream, undefined);
    assert.deepEqual(openAIRequestToAnthropic(base({ user: 'a', safety_identifier: 'b' })).metadata, {
      user_id: 'b',
    });
  });

  it('refuses temperature above Anthropic range, and sampling altogether when configured to', () => {
    assertUnsupported(() => openAIRequestToAnthropic(base({ temperature: 1.5 })), 'temperature');
    assertInvalid(() => openAIRequestToAnthropic(base({ temperature: 3 })), 'temperature');
    assertUnsupported(
      () => openAIRequestToAnthropic(base({ temperature: 0.5 }), { samplingParameters: 'refuse' }),
      'temperature',
    );
    assertUnsupported(
      () => openAIRequestToAnthropic(base({ top_p: 0.5 }), { samplingParameters: 'refuse' }),
      'top_p',
    );
  });

  it('maps function tools and every tool_choice form', () => {
    const tools = [
      {
        type: 'function',
        function: {
          name: 'weather',
          description: 'Get weather',
          parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
          strict: true,
        },
      },
      { type: 'function', function: { name: 'now' } },
    ];
    const out = openAIRequestToAnthropic(base({ tools, tool_choice: 'auto' }));
    assert.deepEqual(out.tools, [
      {
        name: 'weather',
        description: 'Get weather',
        input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
        strict: true,
      },
      { name: 'now', input_schema: { type: 'object', properties: {} } },
    ]);
    assert.deepEqual(out.tool_choice, { type: 'auto' });
    assert.deepEqual(openAIRequestToAnthropic(base({ tools, tool_choice: 'none' })).tool_choice, {
      type: 'none',
    });
    assert.deepEqual(openAIRequestToAnthropic(base({ tools, tool_choice: 'required' })).tool_choice, {
      type: 'any',
    });
    assert.deepEqual(
      openAIRequestToAnthropic(base({ tools, tool_choice: { type: 'function', function: { name: 'now' } } }))
        .tool_choice,
      { type: 'tool', name: 'now' },
    );
    assert.deepEqual(openAIRequestToAnthropic(base({ tools, parallel_tool_calls: false })).tool_choice, {
      type: 'auto',
      disable_parallel_tool_use: true,
    });
    assert.deepEqual(
      openAIRequestToAnthropic(base({ tools, tool_choice: 'required', parallel_tool_calls: false }))
        .tool_choice,
      { type: 'any', disable_parallel_tool_use: true },
    );
  });

  it('refuses tools it cannot express', () => {
    assertUnsupported(
      () => openAIRequestToAnthropic(base({ tools: [{ type: 'custom', custom: { name: 'x' } }] })),
      'tools[0].type',
    );
    assertInvalid(
      () =>
        openAIRequestToAnthropic(
          base({ tools: [{ type: 'function', function: { name: 'x', parameters: { type: 'array' } } }] }),
        ),
      'tools[0].function.parameters.type',
    );
    assertUnsupported(
      () => openAIRequestToAnthropic(base({ tool_choice: { type: 'allowed_tools', allowed_tools: {} } })),
      'tool_choice.type',
    );
  });

  it('maps response_format json_schema to structured output and refuses json_object', () => {
    const schema = { type: 'object', properties: { a: { type: 'string' } }, additionalProperties: false };
    const out = openAIRequestToAnthropic(
      base({
        response_format: { type: 'json_schema', json_schema: { name: 'thing', schema, strict: true } },
      }),
    );
    assert.deepEqual(out.output_config, { format: { type: 'json_schema', schema } });
    assert.equal(
      openAIRequestToAnthropic(base({ response_format: { type: 'text' } })).output_config,
      undefined,
    );
    assertUnsupported(
      () => openAIRequestToAnthropic(base({ response_format: { type: 'json_object' } })),
      'response_format',
    );
    assertInvalid(
      () =>
        openAIRequestToAnthropic(
          base({ response_format: { type: 'json_schema', json_schema: { name: 'x' } } }),
        ),
      'response_format.json_schema.schema',
    );
  });

  it('maps reasoning_effort and service_tier', () => {
    const out = openAIRequestToAnthropic(base({ reasoning_effort: 'high', service_tier: 'default' }));
    assert.deepEqual(out.output_config, { effort: 'high' });
    assert.equal(out.service_tier, 'standard_only');
    assertUnsupported(
      () => openAIRequestToAnthropic(base({ reasoning_effort: 'minimal' })),
      'reasoning_effort',
    );
    assertUnsupported(() => openAIRequestToAnthropic(base({ service_tier: 'flex' })), 'service_tier');
  });

  it('refuses every parameter Anthropic cannot honour, naming it', () => {
    const refused: Array<[string, unknown]> = [
      ['n', 2],
      ['logprobs', true],
      ['top_logprobs', 3],
      ['presence_penalty', 0.5],
      ['frequency_penalty', -1],
      ['logit_bias', { '50256': -100 }],
      ['seed', 7],
      ['store', true],
      ['metadata', { k: 'v' }],
      ['modalities', ['text', 'audio']],
      ['audio', { voice: 'alloy', format: 'mp3' }],
      ['prediction', { type: 'content', content: 'x' }],
      ['functions', [{ name: 'f' }]],
      ['function_call', 'auto'],
      ['verbosity', 'low'],
      ['web_search_options', {}],
      ['prompt_cache_key', 'k'],
      ['some_future_param', true],
    ];
    for (const [param, value] of refused)
      assertUnsupported(() => openAIRequestToAnthropic(base({ [param]: value })), param);
    assertUnsupported(
      () => openAIRequestToAnthropic(base({ stream: true, stream_options: { other: true } })),
      'stream_options.other',
    );
  });

  it('never puts a refused value or prompt text in the error message', () => {
    try {
      openAIRequestToAnthropic(base({ messages: [user('a'), { role: 'sk-secret-role-value' }] }));
      assert.fail('expected an error');
    } catch (err) {
      assert.ok(err instanceof InvalidParameterError);
      assert.doesNotMatch(err.message, /sk-secret-role-value/);
    }
  });
});

describe('openAIStreamIncludesUsage', () => {
  it('reads stream_options.include_usage', () => {
    assert.equal(
      openAIStreamIncludesUsage(base({ stream: true, stream_options: { include_usage: true } })),
      true,
    );
    assert.equal(openAIStreamIncludesUsage(base({ stream: true })), false);
    assert.equal(openAIStreamIncludesUsage(null), false);
  });
});
