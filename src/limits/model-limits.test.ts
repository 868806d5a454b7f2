import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyError } from '../keys/errors.ts';
import { modelLimitsFor, validateWorkspaceLimits } from './model-limits.ts';

describe('workspace limits with per-model limits', () => {
  it('keeps valid model limits and the workspace fields, drops empty entries', () => {
    assert.deepEqual(
      validateWorkspaceLimits({ rpm: 10, models: { 'gpt-4o': { rpm: 5, tpm: 900 }, 'claude-x': {} } }),
      { rpm: 10, models: { 'gpt-4o': { rpm: 5, tpm: 900 } } },
    );
    assert.deepEqual(validateWorkspaceLimits({ models: {} }), {});
  });

  it('refuses bad names, unknown or malformed fields with the field named', () => {
    const field = (value: unknown): string | undefined => {
      try {
        validateWorkspaceLimits(value);
      } catch (err) {
        assert.ok(err instanceof KeyError);
        return err.field;
      }
      assert.fail('accepted');
    };
    assert.equal(field({ models: [] }), 'limits.models');
    assert.equal(field(JSON.parse('{"models":{"__proto__":{"rpm":1}}}')), 'limits.models');
    assert.equal(field({ models: { '../x': { rpm: 1 } } }), 'limits.models');
    assert.equal(field({ models: { m: { concurrency: 1 } } }), 'limits.models.m.concurrency');
    assert.equal(field({ models: { m: { rpm: 0 } } }), 'limits.models.m.rpm');
    assert.equal(field({ models: { m: 5 } }), 'limits.models.m');
    assert.equal(field({ rpm: 1.5 }), 'limits.rpm');
  });

  it('finds a model limit by own property only', () => {
    const limits = { models: { 'gpt-4o': { rpm: 1 } } };
    assert.deepEqual(modelLimitsFor(limits, 'gpt-4o'), { rpm: 1 });
    assert.equal(modelLimitsFor(limits, 'constructor'), undefined);
    assert.equal(modelLimitsFor({}, 'gpt-4o'), undefined);
  });
});
