import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { type DataPlaneFixture, startDataPlane } from '../helpers/dataplane.ts';

/**
 * The per-key tool allowlist (OWASP LLM08, excessive agency): an answer calling a function tool
 * outside the list is blocked with guardrail_blocked (tools / tool_not_allowed) on every route,
 * streamed or not; a stream ends with the error event before the call's arguments are sent.
 * The mock provider calls the tool the last user message names.
 */
const schema = { type: 'object' as const, properties: { city: { type: 'string' } } };
const chatTools = ['get_weather', 'get_time'].map((name) => ({
  type: 'function' as const,
  function: { name, parameters: schema },
}));
const anthropicTools = ['get_weather', 'get_time'].map((name) => ({ name, input_schema: schema }));
const responsesTools = ['get_weather', 'get_time'].map((name) => ({
  type: 'function' as const,
  name,
  parameters: schema,
  strict: false,
}));
const BLOCKED = /tools guardrail \(tool_not_allowed\)/;

describe('tool allowlist', () => {
  let dp: DataPlaneFixture;
  let limited: string;
  before(async () => {
    dp = await startDataPlane();
    limited = await dp.newKey({ name: 'limited' });
    const keyId = (await dp.keys.list(dp.workspaceId)).find((k) => k.name === 'limited')?.id ?? '';
    await dp.gateway.dataPlane.policies.update(dp.workspaceId, { tools: { allow: ['get_time'] } }, keyId);
  });
  after(async () => {
    await dp.close();
  });
  beforeEach(() => dp.mock.clear());

  const isBlocked = (err: unknown): boolean => {
    assert.ok(err instanceof OpenAI.APIError || err instanceof Anthropic.APIError, String(err));
    assert.match(err.message, BLOCKED);
    return true;
  };
  const ask = (tool: string) => [{ role: 'user' as const, content: `${tool} please` }];

  it('blocks a chat completion calling a tool off the list, streamed or not, on either provider', async () => {
    for (const model of ['gpt-4o-mini', 'claude-haiku-4-5']) {
      await assert.rejects(
        dp.openai(limited).chat.completions.create({ model, messages: ask('get_weather'), tools: chatTools }),
        (err: unknown) => {
          assert.ok(err instanceof OpenAI.APIError);
          assert.equal(err.status, 400);
          assert.equal(err.code, 'guardrail_blocked');
          return isBlocked(err);
        },
      );
      const stream = await dp
        .openai(limited)
        .chat.completions.create({ model, messages: ask('get_weather'), tools: chatTools, stream: true });
      let args = '';
      await assert.rejects(async () => {
        for await (const chunk of stream)
          args += chunk.choices[0]?.delta.tool_calls?.[0]?.function?.arguments ?? '';
      }, isBlocked);
      assert.equal(args, '', `${model}: no argument of the refused call was sent`);
    }
  });

  it('lets a listed tool through, and keys without a list call anything', async () => {
    const allowed = await dp
      .openai(limited)
      .chat.completions.create({ model: 'gpt-4o-mini', messages: ask('get_time'), tools: chatTools });
    assert.equal(allowed.choices[0]?.message.tool_calls?.[0]?.type, 'function');
    const open = await dp
      .openai()
      .chat.completions.create({ model: 'gpt-4o-mini', messages: ask('get_weather'), tools: chatTools });
    assert.equal(open.choices[0]?.finish_reason, 'tool_calls');
    const streamed = await dp
      .openai(limited)
      .chat.completions.stream({ model: 'gpt-4o-mini', messages: ask('get_time'), tools: chatTools })
      .finalMessage();
    const call = streamed.tool_calls?.[0];
    assert.equal(call?.type === 'function' && call.function.name, 'get_time');
  });

  it('blocks Anthropic messages calling a tool off the list, streamed or not', async () => {
    const request = { model: 'claude-haiku-4-5', max_tokens: 100, tools: anthropicTools };
    await assert.rejects(
      dp.anthropic(limited).messages.create({ ...request, messages: ask('get_weather') }),
      isBlocked,
    );
    await assert.rejects(
      dp
        .anthropic(limited)
        .messages.stream({ ...request, messages: ask('get_weather') })
        .finalMessage(),
      isBlocked,
    );
    const ok = await dp.anthropic(limited).messages.create({ ...request, messages: ask('get_time') });
    assert.equal(ok.stop_reason, 'tool_use');
  });

  it('blocks Responses API answers calling a tool off the list, streamed or not', async () => {
    const request = { model: 'gpt-4o-mini', tools: responsesTools };
    await assert.rejects(
      dp.openai(limited).responses.create({ ...request, input: 'get_weather now' }),
      isBlocked,
    );
    await assert.rejects(
      dp
        .openai(limited)
        .responses.stream({ ...request, input: 'get_weather now' })
        .finalResponse(),
      // The SDK rejects with the stream's error event itself, not an APIError.
      (err: unknown) => {
        assert.deepEqual(
          { code: (err as { code?: unknown }).code, blocked: BLOCKED.test(String((err as Error).message)) },
          { code: 'guardrail_blocked', blocked: true },
        );
        return true;
      },
    );
    const ok = await dp.openai(limited).responses.create({ ...request, input: 'get_time now' });
    assert.ok(ok.output.some((item) => item.type === 'function_call' && item.name === 'get_time'));
  });
});

describe('portcullis guardrails set --allow-tools', () => {
  it('sets a key or workspace allowlist, lifts it with "any", and refuses bad names', async () => {
    const { spawnSync } = await import('node:child_process');
    const path = await import('node:path');
    const { tempDir } = await import('../helpers/gateway.ts');
    const tmp = tempDir();
    const cli = (...args: string[]) =>
      spawnSync(
        process.execPath,
        ['--disable-warning=ExperimentalWarning', path.resolve('src/cli/run.ts'), ...args],
        { env: { PATH: process.env.PATH, PORTCULLIS_DATA_DIR: tmp.dir }, encoding: 'utf8' },
      );
    type Shown = { policy: { tools: { allow: string[] | null } } };
    try {
      assert.equal(cli('workspaces', 'create', '--name', 'acme').status, 0);
      const set = cli(
        'guardrails',
        'set',
        '--workspace',
        'acme',
        '--allow-tools',
        'a,b',
        '--key',
        'k1',
        '--json',
      );
      assert.equal(set.status, 0, set.stderr);
      assert.deepEqual((JSON.parse(set.stdout) as Shown).policy.tools.allow, ['a', 'b']);
      const show = cli('guardrails', 'show', '--workspace', 'acme', '--key', 'k1');
      assert.match(show.stdout, /tools\s+a, b/);
      const other = cli('guardrails', 'show', '--workspace', 'acme', '--json');
      assert.equal((JSON.parse(other.stdout) as Shown).policy.tools.allow, null, 'other keys: any tool');
      const lifted = cli(
        'guardrails',
        'set',
        '--workspace',
        'acme',
        '--allow-tools',
        'any',
        '--key',
        'k1',
        '--json',
      );
      assert.equal((JSON.parse(lifted.stdout) as Shown).policy.tools.allow, null);
      const hosted = cli(
        'guardrails',
        'set',
        '--workspace',
        'acme',
        '--allow-hosted-tools',
        'web_search',
        '--allow-beta-flags',
        'none',
        '--json',
      );
      const policy = (JSON.parse(hosted.stdout) as { policy: Record<string, { allow: unknown }> }).policy;
      assert.deepEqual([policy.hostedTools?.allow, policy.betaFlags?.allow], [['web_search'], []]);
      const bad = cli('guardrails', 'set', '--workspace', 'acme', '--allow-tools', 'has space');
      assert.notEqual(bad.status, 0);
      assert.match(bad.stderr, /tools\.allow/);
    } finally {
      tmp.remove();
    }
  });
});

describe('provider-hosted tools and beta flags', () => {
  let dp: DataPlaneFixture;
  before(async () => {
    dp = await startDataPlane();
  });
  after(async () => {
    await dp.close();
  });
  beforeEach(() => dp.mock.clear());

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${dp.gateway.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${dp.key}`, ...headers },
      body: JSON.stringify(body),
    });
  const refused = async (res: Response, code: string, name: string, param: string | null): Promise<void> => {
    const body = (await res.json()) as { error: { code: string; message: string; param: string | null } };
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(body.error.code, code);
    assert.ok(body.error.message.includes(`"${name}"`), body.error.message);
    assert.equal(body.error.param, param);
    assert.equal(dp.mock.requests.length, 0, 'nothing reached the provider');
  };
  const messages = (extra: Record<string, unknown>) => ({
    model: 'claude-haiku-4-5',
    max_tokens: 20,
    messages: [{ role: 'user', content: 'hi' }],
    ...extra,
  });

  it('refuses OpenAI built-in tools by default, naming the tool and its field', async () => {
    for (const type of [
      'web_search',
      'file_search',
      'code_interpreter',
      'computer_use_preview',
      'mcp',
      'local_shell',
    ]) {
      const res = await post('/v1/responses', {
        model: 'gpt-4o-mini',
        input: 'hi',
        tools: [{ type: 'function', name: 'f', parameters: {} }, { type }],
      });
      await refused(res, 'hosted_tool_not_allowed', type, 'tools.1.type');
    }
    const chat = await post('/v1/chat/completions', {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
      web_search_options: {},
    });
    await refused(chat, 'hosted_tool_not_allowed', 'web_search_options', 'web_search_options');
  });

  it('refuses Anthropic server tools, MCP servers and beta flags by default', async () => {
    for (const type of [
      'web_search_20250305',
      'web_fetch_20250910',
      'code_execution_20250825',
      'bash_20250124',
    ]) {
      const res = await post(
        '/v1/messages',
        messages({
          tools: [
            { name: 'x', input_schema: {} },
            { type, name: 'x' },
          ],
        }),
      );
      await refused(res, 'hosted_tool_not_allowed', type, 'tools.1.type');
    }
    await refused(
      await post(
        '/v1/messages',
        messages({ mcp_servers: [{ type: 'url', url: 'https://mcp.example', name: 'm' }] }),
      ),
      'hosted_tool_not_allowed',
      'mcp_servers',
      'mcp_servers',
    );
    await refused(
      await post('/v1/messages', messages({}), {
        'anthropic-beta': 'prompt-caching-2024-07-31, computer-use-2025-01-24',
      }),
      'beta_flag_not_allowed',
      'prompt-caching-2024-07-31',
      null,
    );
  });

  it('lets through what the workspace allows, and only that', async () => {
    await dp.gateway.dataPlane.policies.update(dp.workspaceId, {
      hostedTools: { allow: ['web_search'] },
      betaFlags: { allow: ['prompt-caching-2024-07-31'] },
    });
    const res = await post(
      '/v1/messages',
      messages({ tools: [{ type: 'web_search_20250305', name: 'web_search' }] }),
      { 'anthropic-beta': 'prompt-caching-2024-07-31' },
    );
    assert.equal(res.status, 200, await res.text());
    assert.equal(dp.mock.requests.length, 1);
    assert.equal(dp.mock.requests[0]?.headers['anthropic-beta'], 'prompt-caching-2024-07-31');
    dp.mock.clear();
    await refused(
      await post('/v1/messages', messages({ tools: [{ type: 'code_execution_20250825', name: 'c' }] })),
      'hosted_tool_not_allowed',
      'code_execution_20250825',
      'tools.0.type',
    );
    await refused(
      await post('/v1/messages', messages({}), { 'anthropic-beta': 'computer-use-2025-01-24' }),
      'beta_flag_not_allowed',
      'computer-use-2025-01-24',
      null,
    );
  });
});
