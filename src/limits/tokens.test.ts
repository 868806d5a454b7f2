import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTokenEstimator, requestedMaxTokens } from './tokens.ts';

const exact = await createTokenEstimator({ exactUpToChars: 10_000 });
const cheap = await createTokenEstimator({ exactUpToChars: 0 });

describe('token estimates', () => {
  it('counts short text with o200k_base and long text as UTF-8 bytes / 3', () => {
    assert.equal(exact.count('Hello, world!'), 4);
    assert.equal(cheap.count('Hello, world!'), 5);
    assert.equal(cheap.count('日本語'), 3);
    assert.equal(exact.count(''), 0);
  });

  it('reads the prompt of every endpoint, adding per-message overhead and attachments', () => {
    const chat = {
      messages: [
        { role: 'system', content: 'Be brief.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Hello, world!' },
            { type: 'image_url', image_url: { url: 'x' } },
          ],
        },
      ],
    };
    assert.equal(exact.inputTokens('chat', chat), exact.count('Be brief.\nHello, world!') + 2 * 4 + 1024);
    assert.equal(exact.inputTokens('embeddings', { input: ['a b', 'c'] }), exact.count('a b\nc'));
    assert.equal(
      exact.inputTokens('messages', { system: 'S', messages: [{ role: 'user', content: 'U' }] }),
      exact.count('U\nS') + 4,
    );
    // The model name and other fields are not prompt text.
    assert.equal(exact.inputTokens('chat', { model: 'gpt-4o', messages: [] }), 0);
  });

  it('finds the output cap per endpoint', () => {
    assert.equal(requestedMaxTokens('chat', { max_tokens: 10 }), 10);
    assert.equal(requestedMaxTokens('chat', { max_completion_tokens: 7, max_tokens: 10 }), 7);
    assert.equal(requestedMaxTokens('responses', { max_output_tokens: 5 }), 5);
    assert.equal(requestedMaxTokens('embeddings', {}), 0);
    assert.equal(requestedMaxTokens('chat', {}), undefined);
  });
});
