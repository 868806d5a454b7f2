import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FastifyRequest } from 'fastify';
import { PortcullisError } from '../errors/catalogue.ts';
import { createJsonSchemaValidators } from '../guardrails/json-schema.ts';
import { DEFAULT_POLICY, type JsonSchemaPolicy } from '../guardrails/policy.ts';
import type { AnswerFilter } from './stream-guard.ts';
import {
  createStructuredCheck,
  type StructuredOutput,
  structuredOutputOf,
  structuredStreamFilter,
  structuredTexts,
} from './structured.ts';

const validators = createJsonSchemaValidators();
const logged: unknown[] = [];
const request = { id: 'req_1', log: { info: (o: unknown) => logged.push(o) } } as unknown as FastifyRequest;
const schema = { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] };
const PASS: AnswerFilter = {
  push: (text) => ({ text, blocked: false, counts: {} }),
  end: () => ({ text: '', blocked: false, counts: {} }),
};
const output = (s: unknown = schema): StructuredOutput =>
  structuredOutputOf(
    'chat',
    { response_format: { type: 'json_schema', json_schema: { name: 'x', schema: s } } },
    validators,
    'ws',
  ) as StructuredOutput;
const policy = (p: Partial<JsonSchemaPolicy> = {}): JsonSchemaPolicy => ({
  ...DEFAULT_POLICY['json-schema'],
  ...p,
});

describe('structured output requests', () => {
  it('finds the schema in each wire format, and nothing where text is asked for', () => {
    assert.equal(output().kind, 'json_schema');
    const responses = structuredOutputOf(
      'responses',
      { text: { format: { type: 'json_schema', name: 'x', schema } } },
      validators,
      'ws',
    );
    assert.equal(responses?.check('{"n":1}').outcome, 'valid');
    const messages = structuredOutputOf(
      'messages',
      { output_config: { format: { type: 'json_schema', schema } } },
      validators,
      'ws',
    );
    assert.equal(messages?.check('{"n":"1"}').outcome, 'invalid');
    assert.equal(
      structuredOutputOf('chat', { response_format: { type: 'json_object' } }, validators, 'ws')?.kind,
      'json_object',
    );
    assert.equal(
      structuredOutputOf('responses', { text: { format: { type: 'json_object' } } }, validators, 'ws')?.kind,
      'json_object',
    );
    for (const body of [
      {},
      { response_format: { type: 'text' } },
      { response_format: null },
      { response_format: 'json' },
    ])
      assert.equal(structuredOutputOf('chat', body, validators, 'ws'), undefined);
    assert.equal(
      structuredOutputOf('embeddings', { response_format: { type: 'json_object' } }, validators, 'ws'),
      undefined,
    );
    // No schema at all: any JSON will do.
    const loose = structuredOutputOf(
      'chat',
      { response_format: { type: 'json_schema', json_schema: { name: 'x' } } },
      validators,
      'ws',
    );
    assert.equal(loose?.check('[1,2]').outcome, 'valid');
    assert.equal(loose?.check('nope').outcome, 'invalid');
  });

  it('refuses a malformed request as invalid_request naming the field', () => {
    const refusal = (body: Record<string, unknown>, format: 'chat' | 'responses', param: string) =>
      assert.throws(
        () => structuredOutputOf(format, body, validators, 'ws'),
        (err: unknown) =>
          err instanceof PortcullisError && err.code === 'invalid_request' && err.param === param,
      );
    refusal({ response_format: { type: 'json_schema' } }, 'chat', 'response_format.json_schema');
    refusal(
      { response_format: { type: 'json_schema', json_schema: { schema: 'string' } } },
      'chat',
      'response_format.json_schema.schema',
    );
    refusal(
      { text: { format: { type: 'json_schema', schema: { type: 7 } } } },
      'responses',
      'text.format.schema',
    );
  });

  it('checks message text only: not tool calls, not refusals', () => {
    const chat = {
      choices: [
        { message: { content: '{"n":1}' } },
        { message: { content: null, tool_calls: [{ function: { arguments: '{}' } }] } },
        { message: { content: null, refusal: 'no' } },
      ],
    };
    assert.deepEqual(structuredTexts('chat', chat), ['{"n":1}']);
    const responses = {
      output: [
        { type: 'function_call', arguments: '{}' },
        {
          type: 'message',
          content: [
            { type: 'refusal', refusal: 'no' },
            { type: 'output_text', text: '{}' },
          ],
        },
      ],
    };
    assert.deepEqual(structuredTexts('responses', responses), ['{}']);
    assert.deepEqual(
      structuredTexts('messages', {
        content: [
          { type: 'tool_use', input: {} },
          { type: 'text', text: '{}' },
        ],
      }),
      ['{}'],
    );
  });
});

describe('structured output checks', () => {
  it('blocks with output_schema_violation, or only logs, by policy', () => {
    const blocking = createStructuredCheck(output(), policy(), request);
    assert.equal(blocking('{"n":1}'), undefined);
    const error = blocking('{"n":"canary"}');
    assert.ok(error instanceof PortcullisError);
    assert.equal(error.code, 'output_schema_violation');
    assert.equal(error.status, 502);
    assert.match(error.message, /keyword "type" fails at JSON pointer "\/n" \(request id req_1\)/);
    assert.ok(!JSON.stringify(logged).includes('canary'));
    assert.equal(createStructuredCheck(output(), policy({ action: 'log' }), request)('{"n":"x"}'), undefined);
  });

  it('treats a check over its time budget as an error, refused unless onError allows', () => {
    let t = 0;
    const slow = () => (t += 50);
    const strict = createStructuredCheck(output(), policy({ timeBudgetMs: 10 }), request, slow);
    assert.match(strict('{"n":1}')?.message ?? '', /could not be checked/);
    const lenient = createStructuredCheck(
      output(),
      policy({ timeBudgetMs: 10, onError: 'allow' }),
      request,
      slow,
    );
    assert.equal(lenient('{"n":1}'), undefined);
  });
});

describe('structured stream filter', () => {
  const run = (filter: AnswerFilter, pieces: string[]) => {
    const out = pieces.map((p) => filter.push(p));
    return { pushed: out, end: filter.end() };
  };

  it('holds everything until the end, then releases a matching answer whole', () => {
    const check = createStructuredCheck(output(), policy(), request);
    const { pushed, end } = run(structuredStreamFilter(PASS, check, true), ['{"n"', ':', '4}']);
    assert.ok(pushed.every((c) => c.text === '' && !c.blocked));
    assert.deepEqual([end.text, end.blocked], ['{"n":4}', false]);
  });

  it('ends a non-matching answer blocked with its error, having sent nothing', () => {
    const check = createStructuredCheck(output(), policy(), request);
    const { pushed, end } = run(structuredStreamFilter(PASS, check, true), ['{"n"', ':"x"}']);
    assert.ok(pushed.every((c) => c.text === ''));
    assert.equal(end.blocked, true);
    assert.equal(end.error?.code, 'output_schema_violation');
  });

  it('in log mode lets text flow and still checks at the end', () => {
    const before = logged.length;
    const check = createStructuredCheck(output(), policy({ action: 'log' }), request);
    const { pushed, end } = run(structuredStreamFilter(PASS, check, false), ['{"n"', ':"x"}']);
    assert.equal(pushed.map((c) => c.text).join('') + end.text, '{"n":"x"}');
    assert.equal(end.blocked, false);
    assert.equal(logged.length, before + 1);
  });

  it('bounds what it holds: too large is an error, refused or (onError allow) released', () => {
    const big = ['{"n":', '1'.repeat(30), '}'];
    const refuse = structuredStreamFilter(PASS, createStructuredCheck(output(), policy(), request), true, 20);
    const refused = run(refuse, big);
    assert.equal(refused.pushed[1]?.blocked, true);
    assert.match(refused.pushed[1]?.error?.message ?? '', /too long to check/);
    const allow = createStructuredCheck(output(), policy({ onError: 'allow' }), request);
    const released = run(structuredStreamFilter(PASS, allow, true, 20), big);
    assert.equal(released.pushed.map((c) => c.text).join('') + released.end.text, big.join(''));
  });

  it('checks what the inner guardrail filter lets out, and passes its blocks on', () => {
    const upper: AnswerFilter = {
      push: (text) => ({ text: text.replace('"x"', '1'), blocked: false, counts: {} }),
      end: () => ({ text: '', blocked: false, counts: {} }),
    };
    const check = createStructuredCheck(output(), policy(), request);
    assert.equal(run(structuredStreamFilter(upper, check, true), ['{"n":"x"}']).end.text, '{"n":1}');
    const blocking: AnswerFilter = {
      push: () => ({
        text: '',
        blocked: true,
        blockedBy: { detector: 'secrets', category: 'x' },
        counts: {},
      }),
      end: () => ({ text: '', blocked: false, counts: {} }),
    };
    const stopped = structuredStreamFilter(blocking, check, true).push('{');
    assert.deepEqual(
      [stopped.blocked, stopped.blockedBy?.detector, stopped.error],
      [true, 'secrets', undefined],
    );
  });
});
