import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isValidModelGlob, modelMatcher } from './glob.ts';

describe('modelMatcher', () => {
  it('matches prefixes, exact names and everything', () => {
    const m = modelMatcher(['gpt-4o*', 'o3']);
    assert.equal(m('gpt-4o'), true);
    assert.equal(m('gpt-4o-mini'), true);
    assert.equal(m('o3'), true);
    assert.equal(m('o3-mini'), false);
    assert.equal(m('claude-sonnet-4'), false);
    assert.equal(modelMatcher(['*'])('anything/with/slashes'), true);
  });

  it('lets * cross slashes in model names', () => {
    const m = modelMatcher(['meta-llama/*']);
    assert.equal(m('meta-llama/Llama-3.3-70B-Instruct'), true);
    assert.equal(modelMatcher(['*-instruct'])('org/model-instruct'), true);
  });

  it('is case-insensitive and matches nothing with no globs', () => {
    assert.equal(modelMatcher(['GPT-4o*'])('gpt-4o'), true);
    assert.equal(modelMatcher([])('gpt-4o'), false);
  });

  it('validates globs', () => {
    assert.equal(isValidModelGlob('gpt-4o*'), true);
    assert.equal(isValidModelGlob(''), false);
    assert.equal(isValidModelGlob('gpt 4'), false);
    assert.equal(isValidModelGlob('x'.repeat(201)), false);
  });
});
