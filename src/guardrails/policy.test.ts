import assert from 'node:assert/strict';
import { test } from 'node:test';
import { appliesTo, DEFAULT_POLICY, mergePolicy, validatePolicyOverride } from './policy.ts';

test('default policy: secrets redacted both ways, high-confidence injection blocked, PII logged, fail closed', () => {
  assert.equal(DEFAULT_POLICY.secrets.action, 'redact');
  assert.equal(DEFAULT_POLICY.secrets.where, 'both');
  assert.equal(DEFAULT_POLICY['prompt-injection'].action, 'block');
  assert.ok(DEFAULT_POLICY['prompt-injection'].threshold >= 0.8);
  assert.equal(DEFAULT_POLICY.pii.action, 'log');
  for (const d of Object.values(DEFAULT_POLICY)) assert.equal(d.onError, 'block');
  assert.ok(Object.isFrozen(DEFAULT_POLICY.pii));
});

test('workspace then key overrides merge per field, without touching the base', () => {
  const ws = mergePolicy(DEFAULT_POLICY, { pii: { action: 'pseudonymize' } });
  const key = mergePolicy(ws, { pii: { where: 'input' }, secrets: { onError: 'allow' } });
  assert.equal(key.pii.action, 'pseudonymize');
  assert.equal(key.pii.where, 'input');
  assert.equal(key.secrets.onError, 'allow');
  assert.equal(key.secrets.action, 'redact');
  assert.equal(DEFAULT_POLICY.pii.action, 'log');
  assert.equal(appliesTo(key.pii, 'output'), false);
  assert.equal(appliesTo(key.pii, 'input'), true);
});

test('overrides are validated with readable reasons', () => {
  assert.deepEqual(validatePolicyOverride({ pii: { action: 'redact', threshold: 0.7 } }), []);
  const errs = validatePolicyOverride({
    'prompt-injection': { action: 'redact' },
    pii: { threshold: 2, entities: ['EMAIL', 'SHOE_SIZE'], custom: [{ name: 'X', pattern: '(a+)+' }] },
    nope: {},
  });
  assert.equal(errs.length, 5, errs.join('\n'));
});
