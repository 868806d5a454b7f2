import assert from 'node:assert/strict';
import { describe, it, test } from 'node:test';
import { createVault } from './actions.ts';
import { createGuardrails } from './inspect.ts';
import { DEFAULT_POLICY, mergePolicy } from './policy.ts';
import { createStreamFilter } from './stream.ts';

const guardrails = createGuardrails();
const gh = `ghp_${'aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5'}`;
const filler = 'The quick brown fox jumps over the lazy dog. '.repeat(8);

function run(deltas: string[], policy = DEFAULT_POLICY, holdBack = 64, vault = createVault()) {
  const f = createStreamFilter({ guardrails, policy, holdBack, minFlush: 1, vault });
  let out = '';
  let blocked = false;
  const seen: string[] = [];
  for (const d of deltas) {
    const c = f.push(d);
    out += c.text;
    seen.push(out);
    blocked ||= c.blocked;
    if (c.blocked) break;
  }
  if (!blocked) {
    const c = f.end();
    out += c.text;
    blocked = c.blocked;
  }
  return { out, blocked, seen };
}

test('a secret split across two deltas at every offset is never emitted in clear', () => {
  const text = `${filler}here: ${gh} and ${filler}`;
  const at = text.indexOf(gh);
  for (let cut = at - 3; cut <= at + gh.length + 3; cut++) {
    const { out, seen } = run([text.slice(0, cut), text.slice(cut)]);
    assert.ok(!out.includes(gh.slice(4, 20)), `cut ${cut}`);
    assert.ok(out.includes('[SECRET_1]'), `cut ${cut}`);
    assert.equal(out.replace('[SECRET_1]', gh), text);
    for (const s of seen) assert.ok(!s.includes(gh.slice(4, 12)), `partial leak at cut ${cut}`);
  }
});

test('a secret delivered one character at a time, and "api_key = value" across deltas', () => {
  const text = `${filler}token ${gh} end`;
  const { out } = run([...text]);
  assert.equal(out, `${filler}token [SECRET_1] end`);
  const kv = `${filler}API_KEY="Zx81kQ2mW9pL4sT7vB3n" done ${filler}`;
  for (let cut = filler.length; cut < filler.length + 30; cut++) {
    const r = run([kv.slice(0, cut), kv.slice(cut)]);
    assert.ok(!r.out.includes('Zx81kQ2m'), `cut ${cut}`);
  }
});

test('PII split across deltas is redacted when the policy redacts output PII', () => {
  const policy = mergePolicy(DEFAULT_POLICY, { pii: { action: 'redact' } });
  const text = `${filler}mail jane.doe@corp.example now`;
  const at = text.indexOf('jane');
  for (let cut = at; cut < at + 22; cut++) {
    const { out } = run([text.slice(0, cut), text.slice(cut)], policy);
    assert.equal(out, `${filler}mail [EMAIL_1] now`, `cut ${cut}`);
  }
});

test('a block stops the stream and emits nothing more', () => {
  const policy = mergePolicy(DEFAULT_POLICY, { secrets: { action: 'block' } });
  const r = run([filler, ` ${gh} `, filler, filler], policy);
  assert.equal(r.blocked, true);
  assert.ok(!r.out.includes('ghp_'));
});

test('pseudonyms in the answer are restored even when the placeholder is split', () => {
  const vault = createVault();
  vault.placeholderFor('EMAIL', 'jane@corp.example');
  const text = `${filler}I wrote to <EMAIL_1> today. ${filler}`;
  const at = text.indexOf('<EMAIL_1>');
  for (let cut = at; cut <= at + 9; cut++) {
    const { out } = run([text.slice(0, cut), text.slice(cut)], DEFAULT_POLICY, 64, vault);
    assert.equal(out, text.replace('<EMAIL_1>', 'jane@corp.example'), `cut ${cut}`);
  }
});

test('text without findings passes through unchanged whatever the chunking', () => {
  const text = filler.repeat(3);
  const { out } = run(text.match(/.{1,7}/gs) ?? []);
  assert.equal(out, text);
});

describe('stream filter, token mode', () => {
  const guardrails = createGuardrails();
  const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const secret = `ghp_${Array.from({ length: 36 }, (_, i) => ALNUM[(i * 7) % 62]).join('')}`;

  it('releases finished words at once and never a secret split across deltas, at any offset', () => {
    const text = `the token is ${secret} and that is all`;
    for (let split = 1; split < text.length; split++) {
      const filter = createStreamFilter({ guardrails, policy: DEFAULT_POLICY, mode: 'token' });
      let out = filter.push(text.slice(0, split)).text;
      out += filter.push(text.slice(split)).text;
      out += filter.end().text;
      assert.ok(!out.includes(secret), `split at ${split}`);
      assert.equal(out, 'the token is [SECRET_1] and that is all');
    }
    const filter = createStreamFilter({ guardrails, policy: DEFAULT_POLICY, mode: 'token' });
    assert.equal(filter.push('Hello there, ').text, 'Hello there, ', 'whole words are not held back');
  });

  it('holds an unclosed PEM block, with work per delta independent of its length', () => {
    const filter = createStreamFilter({ guardrails, policy: DEFAULT_POLICY, mode: 'token' });
    assert.equal(filter.push('key: -----BEGIN RSA PRIVATE KEY-----\n').text, 'key: ');
    const started = performance.now();
    let released = '';
    for (let i = 0; i < 20_000; i++) released += filter.push('abcd').text;
    assert.ok(performance.now() - started < 3_000, 'no quadratic rescans of the held block');
    assert.ok(released.length > 0, 'past the cap the block is inspected and released');
  });
});
