import assert from 'node:assert/strict';
import { test } from 'node:test';
import { appliesTo, DEFAULT_POLICY, mergePolicy, validatePolicyOverride } from './policy.ts';
import { DETECTOR_NAMES } from './types.ts';

test('default policy: secrets redacted both ways, high-confidence injection blocked, PII logged, fail closed', () => {
  assert.equal(DEFAULT_POLICY.secrets.action, 'redact');
  assert.equal(DEFAULT_POLICY.secrets.where, 'both');
  assert.equal(DEFAULT_POLICY['prompt-injection'].action, 'block');
  // Above the 0.5 flag level: 0.6 is where held-out precision is ~100 % (docs/guardrails.md "Measured").
  assert.ok(DEFAULT_POLICY['prompt-injection'].threshold > 0.5);
  assert.equal(DEFAULT_POLICY.pii.action, 'log');
  for (const d of DETECTOR_NAMES) assert.equal(DEFAULT_POLICY[d].onError, 'block');
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

test('tool, hosted-tool and beta-flag allowlists: any tool and no hosted tool or flag by default', () => {
  assert.equal(DEFAULT_POLICY.tools.allow, null);
  assert.deepEqual(DEFAULT_POLICY.hostedTools.allow, []);
  assert.deepEqual(DEFAULT_POLICY.betaFlags.allow, []);
  const ws = mergePolicy(DEFAULT_POLICY, { tools: { allow: ['a', 'b'] } });
  assert.deepEqual(mergePolicy(ws, { tools: { allow: ['c'] } }).tools.allow, ['c'], 'a key list replaces');
  assert.deepEqual(
    validatePolicyOverride({ tools: { allow: null }, hostedTools: { allow: ['web_search'] } }),
    [],
  );
  assert.equal(
    validatePolicyOverride({ tools: { allow: ['has space'] }, betaFlags: { allow: null } }).length,
    2,
  );
  assert.equal(validatePolicyOverride({ tools: { deny: [] } }).length, 1);
});

test('json-schema: answers checked and non-matching ones refused by default, no retry; its own fields only', () => {
  assert.deepEqual(
    { ...DEFAULT_POLICY['json-schema'] },
    { enabled: true, where: 'output', action: 'block', retries: 0, timeBudgetMs: 100, onError: 'block' },
  );
  const key = mergePolicy(
    DEFAULT_POLICY,
    { 'json-schema': { retries: 1 } },
    { 'json-schema': { action: 'log' } },
  );
  assert.deepEqual([key['json-schema'].retries, key['json-schema'].action], [1, 'log']);
  assert.deepEqual(
    validatePolicyOverride({ 'json-schema': { enabled: false, retries: 1, onError: 'allow' } }),
    [],
  );
  const errs = validatePolicyOverride({
    'json-schema': { action: 'redact', where: 'input', retries: 3, threshold: 0.5, timeBudgetMs: 0 },
  });
  assert.equal(errs.length, 5, errs.join('\n'));
});
