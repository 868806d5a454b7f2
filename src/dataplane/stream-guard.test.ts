import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createGuardrails } from '../guardrails/inspect.ts';
import { DEFAULT_POLICY } from '../guardrails/policy.ts';
import { createStreamFilter } from '../guardrails/stream.ts';
import { createOpenAIChunkGuard } from './stream-guard.ts';

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
