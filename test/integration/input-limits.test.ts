import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import OpenAI from 'openai';
import { type DataPlaneFixture, startDataPlane } from '../helpers/dataplane.ts';

/**
 * Input limits (guardrails.input) through the gateway: each one a 400 input_limit_exceeded that
 * names the limit, the value and the field, refused before the provider is called.
 */
describe('input limits', () => {
  let dp: DataPlaneFixture;
  before(async () => {
    dp = await startDataPlane({
      PORTCULLIS_GUARDRAILS_INPUT_MAX_MESSAGES: '3',
      PORTCULLIS_GUARDRAILS_INPUT_MAX_TEXT_CHARS: '1000',
      PORTCULLIS_GUARDRAILS_INPUT_MAX_PROMPT_TOKENS: '1500',
      PORTCULLIS_GUARDRAILS_INPUT_MAX_TOOLS: '2',
      PORTCULLIS_GUARDRAILS_INPUT_MAX_DEPTH: '10',
      PORTCULLIS_GUARDRAILS_INPUT_MAX_OUTPUT_TOKENS: '1000',
    });
  });
  after(async () => {
    await dp.close();
  });
  beforeEach(() => dp.mock.clear());

  const refused = async (call: Promise<unknown>, limit: RegExp, param: string | null): Promise<void> => {
    await assert.rejects(call, (err: unknown) => {
      assert.ok(err instanceof OpenAI.APIError, String(err));
      assert.equal(err.status, 400);
      assert.equal(err.code, 'input_limit_exceeded');
      assert.equal(err.param, param);
      assert.match(err.message, limit);
      return true;
    });
    assert.equal(dp.mock.requests.length, 0, 'the provider was never called');
  };
  const user = (content: string) => ({ role: 'user' as const, content });

  it('refuses too many messages, naming the count', async () => {
    const messages = [user('a'), user('b'), user('c'), user('d')];
    await refused(
      dp.openai().chat.completions.create({ model: 'gpt-4o-mini', messages }),
      /maxMessages.*4 is more than the 3 allowed/,
      'messages',
    );
    await refused(
      dp.openai().responses.create({
        model: 'gpt-4o-mini',
        input: messages.map((m) => ({ ...m, type: 'message' as const })),
      }),
      /maxMessages/,
      'input',
    );
  });

  it('refuses one text over the character limit, naming its field', async () => {
    await refused(
      dp.openai().chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [user('short'), { role: 'user', content: [{ type: 'text', text: 'x'.repeat(1001) }] }],
      }),
      /maxTextChars.*1001 is more than the 1000 allowed/,
      'messages.1.content.0.text',
    );
  });

  it('refuses an estimated prompt over the token limit', async () => {
    // 5 texts of 990 characters: each under the per-text limit, 1650 tokens estimated in all.
    await refused(
      dp
        .openai()
        .embeddings.create({ model: 'text-embedding-3-small', input: Array(5).fill('y'.repeat(990)) }),
      /maxPromptTokens.*1650 is more than the 1500 allowed/,
      null,
    );
  });

  it('refuses too many tools', async () => {
    const tool = (name: string) => ({ type: 'function' as const, function: { name, parameters: {} } });
    await refused(
      dp.openai().chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [user('hi')],
        tools: [tool('a'), tool('b'), tool('c')],
      }),
      /maxTools.*3 is more than the 2 allowed/,
      'tools',
    );
  });

  it('refuses deep JSON nesting', async () => {
    let deep: Record<string, unknown> = { type: 'object' };
    for (let i = 0; i < 12; i++) deep = { type: 'object', properties: { x: deep } };
    await refused(
      dp.openai().chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [user('hi')],
        tools: [{ type: 'function', function: { name: 'f', parameters: deep } }],
      }),
      /maxDepth/,
      null,
    );
  });

  it('refuses an output token ceiling above the limit, in every spelling', async () => {
    await refused(
      dp.openai().chat.completions.create({ model: 'gpt-4o-mini', messages: [user('hi')], max_tokens: 1001 }),
      /maxOutputTokens.*1001 is more than the 1000 allowed/,
      'max_tokens',
    );
    await refused(
      dp.openai().chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [user('hi')],
        max_completion_tokens: 5000,
      }),
      /maxOutputTokens/,
      'max_completion_tokens',
    );
    await refused(
      dp.openai().responses.create({ model: 'gpt-4o-mini', input: 'hi', max_output_tokens: 5000 }),
      /maxOutputTokens/,
      'max_output_tokens',
    );
    const res = await fetch(`${dp.gateway.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': dp.key, 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 5000, messages: [user('hi')] }),
    });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { error: { code: string; param: string } };
    assert.equal(body.error.code, 'input_limit_exceeded');
    assert.equal(body.error.param, 'max_tokens');
  });

  it('lets a request within every limit through', async () => {
    const answer = await dp.openai().chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [user('a'), user('b'), user('c'.repeat(1000))],
      max_tokens: 1000,
    });
    assert.ok(answer.choices[0]);
    assert.equal(dp.mock.requests.length, 1);
  });
});
