import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { createGuardrails } from '../guardrails/inspect.ts';
import { type CapturedCall, createContentCapture } from './capture.ts';
import { redactForStorage } from './redact.ts';

test('a non-streaming answer is read from the payload the client gets; errors keep no answer', () => {
  const saved: CapturedCall[] = [];
  const body = { model: 'm', messages: [{ role: 'user', content: 'hello there' }] };
  const capture = createContentCapture('chat', body, (c) => saved.push(c));
  const payload = JSON.stringify({
    choices: [{ index: 0, message: { role: 'assistant', content: 'hi back' } }],
  });
  assert.equal(capture.tap(payload, 200), payload);
  assert.deepEqual(saved, [{ endpoint: 'chat', status: 200, prompt: 'hello there', answer: 'hi back' }]);
  const failed: CapturedCall[] = [];
  createContentCapture('chat', body, (c) => failed.push(c)).tap('{"error":{"message":"x"}}', 502);
  assert.equal(failed[0]?.answer, '');
});

test('a stream is relayed unchanged while its text deltas are collected', async () => {
  const saved: CapturedCall[] = [];
  const capture = createContentCapture('messages', { messages: [{ role: 'user', content: 'q' }] }, (c) =>
    saved.push(c),
  );
  const events = [
    'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"type":"text_delta","text":"Hel"}}\n\n',
    'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"type":"text_delta","text":"lo"}}\n\n',
  ];
  const out = capture.tap(Readable.from(events.map((e) => Buffer.from(e))), 200) as Readable;
  let relayed = '';
  for await (const chunk of out) relayed += chunk.toString();
  assert.equal(relayed, events.join(''));
  assert.deepEqual(saved, [{ endpoint: 'messages', status: 200, prompt: 'q', answer: 'Hello' }]);
});

test('storage redaction covers every PII type and secrets, whatever the workspace policy', () => {
  const guardrails = createGuardrails();
  const [out] = redactForStorage(guardrails, ['mail jane.doe@example.com, card 4111 1111 1111 1111']) ?? [];
  assert.equal(out, 'mail [EMAIL_1], card [CREDIT_CARD_1]');
  const failing = createGuardrails({
    createPiiDetector: () => ({
      scan: () => {
        throw new Error('boom');
      },
    }),
  });
  assert.equal(redactForStorage(failing, ['x@example.com']), undefined, 'fail closed: nothing to store');
});
