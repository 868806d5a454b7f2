import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { FastifyRequest } from 'fastify';
import { createGuardrails } from '../guardrails/inspect.ts';
import { DEFAULT_POLICY } from '../guardrails/policy.ts';
import { createRequestGuard } from './guard.ts';

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const secret = `ghp_${Array.from({ length: 36 }, (_, i) => ALNUM[(i * 7) % 62]).join('')}`;
/** Only what the guard reads: the log for findings and the headers for beta flags. */
const request = { log: { info: () => undefined }, headers: {} } as unknown as FastifyRequest;

it('a Responses answer loses its log probabilities, which repeat the unfiltered text token by token', () => {
  const guard = createRequestGuard(createGuardrails(), DEFAULT_POLICY, request);
  const tokens = [secret.slice(0, 10), secret.slice(10)].map((token) => ({
    token,
    logprob: -0.5,
    bytes: [...Buffer.from(token)],
    top_logprobs: [{ token, logprob: -0.5, bytes: [] }],
  }));
  const body: Record<string, unknown> = {
    object: 'response',
    output: [
      {
        type: 'message',
        role: 'assistant',
        content: [{ type: 'output_text', text: `use ${secret}`, annotations: [], logprobs: tokens }],
      },
    ],
  };
  guard.inspectAnswer('responses', body);
  const out = JSON.stringify(body);
  assert.ok(!out.includes(secret.slice(0, 10)) && !out.includes(secret.slice(10)), out);
  assert.match(out, /use \[SECRET_1\]/);
  assert.match(out, /"logprobs":\[\]/);
});
