import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createVault, pseudonymize, redact } from './actions.ts';
import type { Span } from './types.ts';

const spansOf = (text: string, values: Array<[string, string]>): Span[] =>
  values.flatMap(([type, v]) => {
    const out: Span[] = [];
    for (let i = text.indexOf(v); i >= 0; i = text.indexOf(v, i + 1))
      out.push({ type, start: i, end: i + v.length, confidence: 1 });
    return out;
  });

test('redact uses typed, numbered placeholders; the same value gets the same number', () => {
  const t = 'mail a@x.example, b@y.example and a@x.example again';
  const out = redact(
    t,
    spansOf(t, [
      ['EMAIL', 'a@x.example'],
      ['EMAIL', 'b@y.example'],
    ]),
  );
  assert.equal(out, 'mail [EMAIL_1], [EMAIL_2] and [EMAIL_1] again');
});

test('pseudonymize is reversible per request; placeholders are deterministic', () => {
  const vault = createVault();
  const t = 'Call +1 415 555 2671 about jane@corp.example';
  const out = pseudonymize(
    t,
    spansOf(t, [
      ['PHONE', '+1 415 555 2671'],
      ['EMAIL', 'jane@corp.example'],
    ]),
    vault,
  );
  assert.equal(out, 'Call <PHONE_1> about <EMAIL_1>');
  assert.equal(
    vault.restore('I emailed <EMAIL_1> and called <PHONE_1>; <EMAIL_9> unknown'),
    'I emailed jane@corp.example and called +1 415 555 2671; <EMAIL_9> unknown',
  );
  assert.equal(vault.placeholderFor('EMAIL', 'jane@corp.example'), '<EMAIL_1>');
  assert.equal(createVault().restore('<EMAIL_1>'), '<EMAIL_1>'); // another request's vault knows nothing
});
