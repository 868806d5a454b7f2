import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createGuardrails } from '../guardrails/inspect.ts';
import { DEFAULT_POLICY } from '../guardrails/policy.ts';
import { createStreamFilter } from '../guardrails/stream.ts';
import { createOpenAIChunkGuard, createResponsesEventGuard } from './stream-guard.ts';

const guardrails = createGuardrails();
const newFilter = () => createStreamFilter({ guardrails, policy: DEFAULT_POLICY, mode: 'token' });
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const secret = `ghp_${Array.from({ length: 36 }, (_, i) => ALNUM[(i * 11) % 62]).join('')}`;

type Chunk = Record<string, unknown>;
const chunk = (choices: unknown[]): Chunk => ({ id: 'c', object: 'chat.completion.chunk', choices });

function run(chunks: Chunk[]): string {
  const guard = createOpenAIChunkGuard(newFilter);
  return chunks
    .flatMap((c) => {
      const g = guard(structuredClone(c));
      assert.equal(g.blocked, false);
      return g.events;
    })
    .map((e) => JSON.stringify(e))
    .join('\n');
}

describe('OpenAI chunk guard', () => {
  it('filters each choice on its own, so interleaved choices cannot smuggle a secret in pieces', () => {
    const half = secret.length / 2;
    const out = run([
      chunk([{ index: 0, delta: { content: `a ${secret.slice(0, half)}` }, finish_reason: null }]),
      chunk([{ index: 1, delta: { content: `b ${secret.slice(0, half)}` }, finish_reason: null }]),
      chunk([{ index: 0, delta: { content: `${secret.slice(half)} end` }, finish_reason: null }]),
      chunk([{ index: 1, delta: { content: `${secret.slice(half)} end` }, finish_reason: null }]),
      chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]),
      chunk([{ index: 1, delta: {}, finish_reason: 'stop' }]),
    ]);
    assert.ok(!out.includes(secret.slice(0, half)) && !out.includes(secret.slice(half)), out);
    assert.equal((out.match(/\[SECRET_1\]/g) ?? []).length, 2);
  });

  it('filters tool-call arguments and drops log probabilities', () => {
    const args = JSON.stringify({ token: secret });
    const out = run([
      chunk([
        {
          index: 0,
          delta: {
            tool_calls: [
              { index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: '' } },
            ],
          },
          logprobs: { content: [{ token: secret }] },
          finish_reason: null,
        },
      ]),
      chunk([
        {
          index: 0,
          delta: { tool_calls: [{ index: 0, function: { arguments: args.slice(0, 20) } }] },
          finish_reason: null,
        },
      ]),
      chunk([
        {
          index: 0,
          delta: { tool_calls: [{ index: 0, function: { arguments: args.slice(20) } }] },
          finish_reason: null,
        },
      ]),
      chunk([{ index: 0, delta: {}, finish_reason: 'tool_calls' }]),
    ]);
    assert.ok(!out.includes(secret), out);
    assert.match(out, /\[SECRET_1\]/);
    assert.match(out, /"logprobs":null/);
  });
});

describe('Responses event guard', () => {
  it('sends nothing unfiltered: not in the flushed delta, the *.done repeats, or log probabilities', () => {
    const text = `token ${secret} end`;
    const at = { item_id: 'msg_1', output_index: 0, content_index: 0 };
    const logprobs = (t: string) => [{ token: t, logprob: -0.1, bytes: [], top_logprobs: [] }];
    const part = { type: 'output_text', text, annotations: [], logprobs: logprobs(text) };
    const events: Chunk[] = [
      ...[text.slice(0, 15), text.slice(15)].map((delta) => ({
        type: 'response.output_text.delta',
        ...at,
        delta,
        logprobs: logprobs(delta),
      })),
      // The end of the text is still held back here: it is flushed as a delta built from this event.
      { type: 'response.output_text.done', ...at, text, logprobs: logprobs(text) },
      { type: 'response.content_part.done', ...at, part: structuredClone(part) },
      {
        type: 'response.output_item.done',
        output_index: 0,
        item: { type: 'message', content: [structuredClone(part)] },
      },
      {
        type: 'response.completed',
        response: { output: [{ type: 'message', content: [structuredClone(part)] }], output_text: text },
      },
    ];
    const guard = createResponsesEventGuard(newFilter);
    const out = events
      .flatMap((e) => {
        const g = guard(structuredClone(e));
        assert.equal(g.blocked, false);
        return g.events;
      })
      .map((e) => JSON.stringify(e))
      .join('\n');
    for (const piece of [secret.slice(0, 8), secret.slice(8, 20), secret.slice(20)]) {
      assert.ok(!out.includes(piece), out);
    }
    assert.match(out, /token \[SECRET_1\] end/);
  });
});
