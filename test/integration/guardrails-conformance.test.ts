import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import type { PolicyOverride } from '../../src/guardrails/policy.ts';
import { type DataPlaneFixture, startDataPlane } from '../helpers/dataplane.ts';

/**
 * The guardrail conformance matrix (issue 7, item 8): chat completions, the Responses API and
 * Anthropic messages (input and output) and embeddings (input), each streaming and not, pass
 * through the same guardrails. Every cell — route × streaming × direction × action — is its own
 * test, driven by the official `openai` / `@anthropic-ai/sdk` clients against the real gateway
 * and the mock provider. Cells that cannot exist are listed as skipped, with the reason, so the
 * whole matrix is visible in the report.
 *
 * The PII detector (an e-mail address, fresh per cell) stands in for every detector: the actions
 * are applied by one code path (src/guardrails/inspect.ts, stream.ts) whichever detector found
 * the value. Each (direction, action) pair is a key with its own override, so cells do not share
 * a policy. What each cell proves, on the side its direction names:
 *
 *   input  · block         400 guardrail_blocked before anything streams; the provider is never called
 *   input  · redact        the provider receives `[EMAIL_1]`, never the address
 *   input  · pseudonymize  the provider receives `<EMAIL_1>`, never the address
 *   output · block         the answer is refused (400, or a stream error event); the client never
 *                          receives the address, not even the part of a stream before the refusal
 *   output · redact        the client receives `[EMAIL_1]`, never the address
 *   output · pseudonymize  the model answers with the pseudonym it was given and the client
 *                          receives the original address (the round trip), never `<EMAIL_1>`
 */

type Direction = 'input' | 'output';
type Action = 'block' | 'redact' | 'pseudonymize';
const DIRECTIONS: readonly Direction[] = ['input', 'output'];
const ACTIONS: readonly Action[] = ['block', 'redact', 'pseudonymize'];

/** What one call gave the client. */
interface Outcome {
  /** The answer text (for a refusal mid-stream: what arrived before it). */
  text: string;
  /** Everything the client received, serialised: answer objects, every stream event, the error. */
  seen: string;
  refusal?: { status: number | undefined; code: string | undefined; message: string };
}

interface RouteCase {
  name: string;
  /** Embeddings carry no answer text and do not stream. */
  hasAnswer: boolean;
  streams: boolean;
  /** The Anthropic SDK's stream error event carries no `code` (its wire format has none). */
  anthropicClient: boolean;
  call(key: string, prompt: string, stream: boolean): Promise<Outcome>;
}

function refusalOf(err: unknown): NonNullable<Outcome['refusal']> {
  if (err instanceof OpenAI.APIError) {
    return {
      status: err.status,
      code: typeof err.code === 'string' ? err.code : undefined,
      message: err.message,
    };
  }
  if (err instanceof Anthropic.APIError) {
    const body = err.error as { error?: { code?: unknown } } | undefined;
    const code = body?.error?.code;
    return { status: err.status, code: typeof code === 'string' ? code : undefined, message: err.message };
  }
  throw err;
}

const freshEmail = (): string => `dana.${randomBytes(4).toString('hex')}@example.org`;

describe('guardrail conformance matrix: route × streaming × direction × action', () => {
  let dp: DataPlaneFixture;
  /** One key per (direction, action), carrying that cell's policy as its override. */
  const keys = new Map<string, string>();
  const upstreamText = (): string => JSON.stringify(dp.mock.requests.map((r) => r.body));

  /** Runs `work`, collecting what the client saw; an SDK error becomes the refusal. */
  async function observe(work: (seen: (value: unknown, text?: string) => void) => Promise<void>) {
    const out: Outcome = { text: '', seen: '' };
    const seen = (value: unknown, text = ''): void => {
      out.seen += JSON.stringify(value);
      out.text += text;
    };
    try {
      await work(seen);
    } catch (err) {
      out.refusal = refusalOf(err);
      out.seen += out.refusal.message;
    }
    return out;
  }

  const openAIChat = (name: string, model: string): RouteCase => ({
    name,
    hasAnswer: true,
    streams: true,
    anthropicClient: false,
    call: (key, prompt, stream) =>
      observe(async (seen) => {
        const client = dp.openai(key);
        const messages = [{ role: 'user' as const, content: prompt }];
        if (!stream) {
          const c = await client.chat.completions.create({ model, messages });
          return seen(c, c.choices[0]?.message.content ?? '');
        }
        const s = await client.chat.completions.create({ model, messages, stream: true });
        for await (const chunk of s) seen(chunk, chunk.choices[0]?.delta.content ?? '');
      }),
  });

  const anthropicMessages = (name: string, model: string): RouteCase => ({
    name,
    hasAnswer: true,
    streams: true,
    anthropicClient: true,
    call: (key, prompt, stream) =>
      observe(async (seen) => {
        const client = dp.anthropic(key);
        const request = { model, max_tokens: 256, messages: [{ role: 'user' as const, content: prompt }] };
        if (!stream) {
          const m = await client.messages.create(request);
          return seen(m, m.content.map((b) => (b.type === 'text' ? b.text : '')).join(''));
        }
        const s = await client.messages.create({ ...request, stream: true });
        for await (const event of s) {
          const text =
            event.type === 'content_block_delta' && event.delta.type === 'text_delta' ? event.delta.text : '';
          seen(event, text);
        }
      }),
  });

  const responses: RouteCase = {
    name: 'responses (OpenAI provider)',
    hasAnswer: true,
    streams: true,
    anthropicClient: false,
    call: (key, prompt, stream) =>
      observe(async (seen) => {
        const client = dp.openai(key);
        if (!stream) {
          const r = await client.responses.create({ model: 'gpt-4o-mini', input: prompt });
          return seen(r, r.output_text);
        }
        const s = await client.responses.create({ model: 'gpt-4o-mini', input: prompt, stream: true });
        for await (const event of s) {
          // The SDK yields the Responses API's `error` event rather than throwing it.
          if (event.type === 'error') throw new OpenAI.APIError(undefined, event, event.message, undefined);
          seen(event, event.type === 'response.output_text.delta' ? event.delta : '');
        }
      }),
  };

  const embeddings: RouteCase = {
    name: 'embeddings (OpenAI provider)',
    hasAnswer: false,
    streams: false,
    anthropicClient: false,
    call: (key, prompt) =>
      observe(async (seen) => {
        const e = await dp.openai(key).embeddings.create({ model: 'text-embedding-3-small', input: prompt });
        seen(e.usage);
      }),
  };

  const ROUTES: readonly RouteCase[] = [
    openAIChat('chat completions (OpenAI provider)', 'gpt-4o-mini'),
    openAIChat('chat completions (Anthropic provider, translated)', 'claude-haiku-4-5'),
    responses,
    anthropicMessages('messages (Anthropic provider)', 'claude-haiku-4-5'),
    anthropicMessages('messages (OpenAI provider, translated)', 'gpt-4o-mini'),
    embeddings,
  ];

  /** The cell's policy: PII (e-mail only) with this action on this side; generous time budgets. */
  function policyFor(direction: Direction, action: Action): PolicyOverride {
    // Output pseudonyms only mean something for values pseudonymized on the way in.
    const where = direction === 'output' && action === 'pseudonymize' ? 'both' : direction;
    // The cells test actions, not timing: a loaded test machine must not trip the 20 ms default
    // budget (which fails closed and would pass a block cell for the wrong reason).
    const budget = { timeBudgetMs: 5000 };
    return {
      pii: { enabled: true, action, where, threshold: 0.5, entities: ['EMAIL'], ...budget },
      secrets: budget,
      'prompt-injection': budget,
    };
  }

  before(async () => {
    dp = await startDataPlane();
    for (const direction of DIRECTIONS) {
      for (const action of ACTIONS) {
        const { key, record } = await dp.keys.create({
          workspaceId: dp.workspaceId,
          name: `${direction}-${action}`,
        });
        await dp.gateway.dataPlane.policies.update(dp.workspaceId, policyFor(direction, action), record.id);
        keys.set(`${direction}:${action}`, key);
      }
    }
  });
  after(async () => {
    await dp?.close();
  });
  beforeEach(() => {
    dp.mock.clear();
    dp.mock.setScenario({});
  });

  function assertBlocked(out: Outcome, route: RouteCase, where: 'request' | 'answer', stream: boolean) {
    const refusal = out.refusal;
    assert.ok(refusal, `refused (got the answer ${JSON.stringify(out.text)})`);
    const message = new RegExp(`The ${where} was blocked by the workspace's pii guardrail`);
    assert.match(refusal.message, message);
    // Before a stream starts the refusal is a plain 400; mid-stream it is the stream's error event.
    const midStream = stream && where === 'answer' && refusal.status === undefined;
    if (!midStream) assert.equal(refusal.status, 400, refusal.message);
    if (!(midStream && route.anthropicClient)) assert.equal(refusal.code, 'guardrail_blocked');
  }

  async function inputCell(route: RouteCase, stream: boolean, action: Action): Promise<void> {
    const email = freshEmail();
    const out = await route.call(
      keys.get(`input:${action}`) ?? '',
      `Please write to ${email} today.`,
      stream,
    );
    if (action === 'block') {
      assertBlocked(out, route, 'request', stream);
      assert.equal(out.text, '', 'nothing was streamed');
      assert.equal(dp.mock.requests.length, 0, 'the provider was never called');
      return;
    }
    assert.equal(out.refusal, undefined, out.refusal?.message);
    assert.equal(dp.mock.requests.length, 1);
    const sent = upstreamText();
    assert.ok(!sent.includes(email), 'the provider never saw the address');
    assert.match(sent, action === 'redact' ? /\[EMAIL_1\]/ : /<EMAIL_1>/);
  }

  async function outputCell(route: RouteCase, stream: boolean, action: Action): Promise<void> {
    const email = freshEmail();
    const key = keys.get(`output:${action}`) ?? '';
    // Enough deltas that the address arrives split across several of them.
    if (action === 'pseudonymize') {
      dp.mock.setScenario({ say: 'I will write to <EMAIL_1> today.', chunks: 9 });
      const out = await route.call(key, `Please write to ${email} about the invoice.`, stream);
      assert.equal(out.refusal, undefined, out.refusal?.message);
      assert.ok(!upstreamText().includes(email), 'the provider saw only the pseudonym');
      assert.match(out.text, new RegExp(`I will write to ${email.replaceAll('.', '\\.')} today\\.`));
      assert.ok(!out.seen.includes('<EMAIL_1>'), 'no pseudonym reached the client');
      return;
    }
    dp.mock.setScenario({ say: `Write to ${email} for the invoice.`, chunks: 9 });
    const out = await route.call(key, 'Who handles invoices?', stream);
    assert.equal(dp.mock.requests.length, 1, 'the provider was asked');
    assert.ok(!out.seen.includes(email), 'the client never received the address');
    if (action === 'block') {
      assertBlocked(out, route, 'answer', stream);
      return;
    }
    assert.equal(out.refusal, undefined, out.refusal?.message);
    assert.match(out.text, /Write to \[EMAIL_1\] for the invoice\./);
  }

  for (const route of ROUTES) {
    describe(route.name, () => {
      for (const stream of [false, true]) {
        for (const direction of DIRECTIONS) {
          for (const action of ACTIONS) {
            const name = `${stream ? 'streaming' : 'non-streaming'} · ${direction} · ${action}`;
            const skip =
              stream && !route.streams
                ? 'the endpoint does not stream'
                : direction === 'output' && !route.hasAnswer
                  ? 'the endpoint answers with vectors, no text'
                  : false;
            it(name, { skip }, () =>
              direction === 'input' ? inputCell(route, stream, action) : outputCell(route, stream, action),
            );
          }
        }
      }
    });
  }
});
