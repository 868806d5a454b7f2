import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import OpenAI from 'openai';
import { type DataPlaneFixture, startDataPlane } from '../helpers/dataplane.ts';

/**
 * Structured output through the gateway (issue 7 item 7, docs/guardrails.md): answers checked
 * against the schema the request sent — chat `response_format`, Responses `text.format`,
 * Anthropic `output_config.format` — streamed or not, with the official SDKs; the one retry;
 * untrusted schemas refused as the client's 400 and never fetched; the policy switch.
 */
const CANARY = `canary-${Math.random().toString(36).slice(2)}-quartz`;
const person = {
  type: 'object',
  properties: { name: { type: 'string' }, age: { type: 'integer', minimum: 0 } },
  required: ['name', 'age'],
  additionalProperties: false,
};
const chatFormat = (schema: unknown = person) => ({
  type: 'json_schema' as const,
  json_schema: { name: 'person', schema: schema as Record<string, unknown>, strict: true },
});
const ask = [{ role: 'user' as const, content: 'Describe a person.' }];
/** Right type at /name, wrong at /age; the text carries a canary that must never come back. */
const WRONG = JSON.stringify({ name: CANARY, age: 'forty' });

const violation = (pointer: string, keyword: string) => (err: unknown) => {
  const e = err as { code?: unknown; status?: unknown; message?: unknown };
  assert.equal(e.code, 'output_schema_violation', String(e.message));
  assert.ok(
    String(e.message).includes(`keyword "${keyword}" fails at JSON pointer "${pointer}"`),
    String(e.message),
  );
  assert.ok(!String(e.message).includes(CANARY), 'the answer is never quoted');
  return true;
};

describe('structured output (json-schema guardrail)', () => {
  let dp: DataPlaneFixture;
  before(async () => {
    dp = await startDataPlane({ PORTCULLIS_AUDIT_FLUSH_MS: '20' });
  });
  after(async () => {
    await dp.close();
  });
  beforeEach(() => {
    dp.mock.clear();
    dp.mock.setScenario({});
  });
  afterEach(async () => {
    await dp.gateway.dataPlane.policies.update(dp.workspaceId, {
      'json-schema': { enabled: true, action: 'block', retries: 0 },
    });
  });

  it('passes answers that match, in every format, streamed or not', async () => {
    const chat = await dp
      .openai()
      .chat.completions.create({ model: 'gpt-4o', messages: ask, response_format: chatFormat() });
    assert.equal(typeof JSON.parse(chat.choices[0]?.message.content ?? '').name, 'string');
    const parsed = await dp
      .openai()
      .chat.completions.parse({ model: 'gpt-4o', messages: ask, response_format: chatFormat() });
    assert.equal(typeof (parsed.choices[0]?.message.parsed as { age?: unknown } | null)?.age, 'number');
    const streamed = await dp
      .openai()
      .chat.completions.stream({ model: 'gpt-4o', messages: ask, response_format: chatFormat() })
      .finalChatCompletion();
    assert.deepEqual(Object.keys(JSON.parse(streamed.choices[0]?.message.content ?? '')), ['name', 'age']);
    const translated = await dp
      .openai()
      .chat.completions.create({ model: 'claude-haiku-4-5', messages: ask, response_format: chatFormat() });
    assert.equal(typeof JSON.parse(translated.choices[0]?.message.content ?? '').age, 'number');
    const text = { format: { type: 'json_schema' as const, name: 'person', schema: person, strict: true } };
    const response = await dp.openai().responses.create({ model: 'gpt-4o-mini', input: 'A person.', text });
    assert.equal(typeof JSON.parse(response.output_text).name, 'string');
    const responseStream = await dp
      .openai()
      .responses.stream({ model: 'gpt-4o-mini', input: 'A person.', text })
      .finalResponse();
    assert.equal(typeof JSON.parse(responseStream.output_text).name, 'string');
    const message = await dp.anthropic().messages.create({
      model: 'claude-haiku-4-5',
      max_tokens: 100,
      messages: ask,
      output_config: { format: { type: 'json_schema', schema: person } },
    });
    const block = message.content[0];
    assert.equal(typeof JSON.parse(block?.type === 'text' ? block.text : '').name, 'string');
  });

  it('refuses a non-matching answer with output_schema_violation (502), naming pointer and keyword only', async () => {
    dp.mock.setScenario({ answers: [WRONG] });
    await assert.rejects(
      dp.openai().chat.completions.create({ model: 'gpt-4o', messages: ask, response_format: chatFormat() }),
      (err: unknown) =>
        err instanceof OpenAI.InternalServerError && err.status === 502 && violation('/age', 'type')(err),
    );
    dp.mock.setScenario({ answers: [JSON.stringify({ name: 'x' })] });
    await assert.rejects(
      dp.openai().responses.create({
        model: 'gpt-4o-mini',
        input: 'A person.',
        text: { format: { type: 'json_schema', name: 'p', schema: person } },
      }),
      violation('/age', 'required'),
    );
    // A key the model made up is answer text: it shows as *.
    dp.mock.setScenario({ answers: [JSON.stringify({ scores: { [CANARY]: 'high' } })] });
    const scores = {
      type: 'object',
      properties: { scores: { type: 'object', additionalProperties: { type: 'number' } } },
    };
    await assert.rejects(
      dp
        .openai()
        .chat.completions.create({ model: 'gpt-4o', messages: ask, response_format: chatFormat(scores) }),
      violation('/scores/*', 'type'),
    );
    assert.ok(!dp.logs.text().includes(CANARY), 'nor is it logged');
    assert.match(dp.logs.text(), /"detector":"json-schema","action":"block","counts":\{"type":1\}/);

    // Accounted like any other call (the tokens were spent), and audited like a refusal.
    await dp.gateway.auditing.events.flush();
    const usage = await dp.gateway.store.db
      .selectFrom('usage_records')
      .selectAll()
      .where('status', '=', 502)
      .execute();
    assert.ok(usage.length >= 3 && usage.every((u) => (u.output_tokens ?? 0) > 0), JSON.stringify(usage));
    const audit = await dp.gateway.store.db
      .selectFrom('audit_log')
      .selectAll()
      .where('action', '=', 'request.refused')
      .execute();
    const codes = audit.map((e) => JSON.parse(e.details) as { code: string; status: number });
    assert.ok(
      codes.some((d) => d.code === 'output_schema_violation' && d.status === 502),
      JSON.stringify(codes),
    );
  });

  it('holds a streamed answer until it is checked: a non-matching one ends in the error event, none of it sent', async () => {
    dp.mock.setScenario({ answers: [WRONG], chunks: 8 });
    let sent = '';
    await assert.rejects(
      (async () => {
        const stream = await dp.openai().chat.completions.create({
          model: 'gpt-4o',
          messages: ask,
          response_format: chatFormat(),
          stream: true,
        });
        for await (const chunk of stream) sent += chunk.choices[0]?.delta.content ?? '';
      })(),
      violation('/age', 'type'),
    );
    assert.equal(sent, '', 'no part of the answer reached the client');

    dp.mock.setScenario({ answers: [WRONG], chunks: 8 });
    let deltas = '';
    const responses = dp.openai().responses.stream({
      model: 'gpt-4o-mini',
      input: 'A person.',
      text: { format: { type: 'json_schema', name: 'p', schema: person } },
    });
    responses.on('response.output_text.delta', (e) => {
      deltas += e.delta;
    });
    await assert.rejects(responses.finalResponse(), (err: unknown) => {
      assert.equal((err as { code?: unknown }).code, 'output_schema_violation');
      return true;
    });
    assert.equal(deltas, '');

    dp.mock.setScenario({ answers: [WRONG], chunks: 8 });
    await assert.rejects(
      dp
        .anthropic()
        .messages.stream({
          model: 'claude-haiku-4-5',
          max_tokens: 100,
          messages: ask,
          output_config: { format: { type: 'json_schema', schema: person } },
        })
        .finalMessage(),
      (err: unknown) => /does not match the requested JSON schema/.test(String((err as Error).message)),
    );
    await dp.gateway.auditing.events.flush();
    const rows = await dp.gateway.store.db.selectFrom('usage_records').select(['status', 'stream']).execute();
    assert.ok(rows.filter((r) => r.status === 502 && Boolean(r.stream)).length >= 3, JSON.stringify(rows));
  });

  it('json_object: the answer must parse as one JSON object', async () => {
    for (const [answer, keyword] of [
      [`Here you go: ${CANARY}`, 'json'],
      ['[{"a":1}]', 'type'],
    ] as const) {
      dp.mock.setScenario({ answers: [answer] });
      await assert.rejects(
        dp.openai().chat.completions.create({
          model: 'gpt-4o',
          messages: ask,
          response_format: { type: 'json_object' },
        }),
        violation('', keyword),
      );
    }
    const ok = await dp
      .openai()
      .chat.completions.create({ model: 'gpt-4o', messages: ask, response_format: { type: 'json_object' } });
    assert.equal(typeof JSON.parse(ok.choices[0]?.message.content ?? ''), 'object');
  });

  it('retries once when the policy says so: the second, matching answer is delivered and both are accounted', async () => {
    await dp.gateway.dataPlane.policies.update(dp.workspaceId, { 'json-schema': { retries: 1 } });
    dp.mock.setScenario({ answers: [WRONG] });
    const chat = await dp
      .openai()
      .chat.completions.create({ model: 'gpt-4o', messages: ask, response_format: chatFormat() });
    assert.equal(typeof JSON.parse(chat.choices[0]?.message.content ?? '').age, 'number');
    assert.equal(dp.mock.requests.length, 2, 'one retry');
    await dp.gateway.auditing.events.flush();
    const [row] = await dp.gateway.store.db
      .selectFrom('usage_records')
      .selectAll()
      .where('request_id', '=', chat._request_id ?? '')
      .execute();
    assert.equal(row?.status, 200);
    assert.equal(row?.input_tokens, 2 * (chat.usage?.prompt_tokens ?? 0), 'both calls were paid for');

    dp.mock.clear();
    dp.mock.setScenario({ answers: [WRONG, WRONG, WRONG] });
    await assert.rejects(
      dp.openai().chat.completions.create({ model: 'gpt-4o', messages: ask, response_format: chatFormat() }),
      violation('/age', 'type'),
    );
    assert.equal(dp.mock.requests.length, 2, 'only one retry');
  });

  it('refuses an unusable schema as the client’s 400, naming the field, before any provider call', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ type: 'object', properties: { a: { type: 'nonsense' } } }, /schema is invalid/],
      [{ type: 'string', pattern: '^(a+)+$' }, /nested quantifiers/],
      [{ type: 'string', pattern: '[z-a]' }, /not a valid regular expression/],
      [{ $ref: '#/$defs/missing' }, /cannot be resolved/],
      [{ $schema: 'http://json-schema.org/draft-04/schema#' }, /draft-07 or 2020-12/],
    ];
    for (const [schema, reason] of cases) {
      await assert.rejects(
        dp
          .openai()
          .chat.completions.create({ model: 'gpt-4o', messages: ask, response_format: chatFormat(schema) }),
        (err: unknown) => {
          assert.ok(err instanceof OpenAI.BadRequestError, String(err));
          assert.equal(err.code, 'invalid_request');
          assert.equal(err.param, 'response_format.json_schema.schema');
          assert.match(err.message, reason);
          return true;
        },
      );
    }
    await assert.rejects(
      dp.openai().responses.create({
        model: 'gpt-4o-mini',
        input: 'x',
        text: { format: { type: 'json_schema', name: 'p', schema: { type: 'bogus' } } },
      }),
      (err: unknown) => err instanceof OpenAI.BadRequestError && err.param === 'text.format.schema',
    );
    assert.equal(dp.mock.requests.length, 0, 'the provider was never called');
  });

  it('never fetches a remote $ref', async () => {
    let fetched = 0;
    const server = createServer((_req, res) => {
      fetched++;
      res.setHeader('content-type', 'application/schema+json');
      res.end('{"type":"string"}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/schema.json`;
    try {
      await assert.rejects(
        dp.openai().chat.completions.create({
          model: 'gpt-4o',
          messages: ask,
          response_format: chatFormat({ type: 'object', properties: { a: { $ref: url } } }),
        }),
        (err: unknown) => err instanceof OpenAI.BadRequestError && /nothing is fetched/.test(err.message),
      );
      assert.equal(fetched, 0);
      assert.equal(dp.mock.requests.length, 0);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('with the detector off nothing is checked; with action log a mismatch is delivered and logged', async () => {
    await dp.gateway.dataPlane.policies.update(dp.workspaceId, { 'json-schema': { enabled: false } });
    dp.mock.setScenario({ answers: [WRONG] });
    const off = await dp
      .openai()
      .chat.completions.create({ model: 'gpt-4o', messages: ask, response_format: chatFormat() });
    assert.equal(off.choices[0]?.message.content, WRONG);
    // Not compiled either: a schema the gateway would refuse goes to the provider as sent.
    await dp.openai().chat.completions.create({
      model: 'gpt-4o',
      messages: ask,
      response_format: chatFormat({ type: 'nonsense' }),
    });
    assert.equal(dp.mock.requests.length, 2);

    await dp.gateway.dataPlane.policies.update(dp.workspaceId, {
      'json-schema': { enabled: true, action: 'log' },
    });
    dp.mock.setScenario({ answers: [WRONG, WRONG], chunks: 5 });
    const logged = await dp
      .openai()
      .chat.completions.create({ model: 'gpt-4o', messages: ask, response_format: chatFormat() });
    assert.equal(logged.choices[0]?.message.content, WRONG);
    const streamed = await dp
      .openai()
      .chat.completions.stream({ model: 'gpt-4o', messages: ask, response_format: chatFormat() })
      .finalChatCompletion();
    assert.equal(streamed.choices[0]?.message.content, WRONG);
    assert.match(dp.logs.text(), /"detector":"json-schema","action":"log","counts":\{"type":1\}/);
  });

  it('validates policy changes for the detector', async () => {
    await assert.rejects(
      dp.gateway.dataPlane.policies.update(dp.workspaceId, {
        'json-schema': { retries: 2, where: 'both', threshold: 0.5 } as never,
      }),
      (err: unknown) => (err as { problems?: string[] }).problems?.length === 3,
    );
  });
});
