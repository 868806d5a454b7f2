import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { betaFlagsOf, hostedToolsOf, isAllowed } from './hosted-tools.ts';

describe('hosted tools', () => {
  it('treats every tool type but client functions as hosted (fail closed)', () => {
    const body = {
      tools: [{ type: 'function' }, { type: 'custom' }, { name: 'f' }, { type: 'shiny_new_tool' }],
    };
    assert.deepEqual(hostedToolsOf('messages', body), [{ name: 'shiny_new_tool', param: 'tools.3.type' }]);
    assert.deepEqual(hostedToolsOf('responses', { tools: [{ name: 'untyped' }] }), [
      { name: 'undefined', param: 'tools.0.type' },
    ]);
  });
  it('allows exact names, versioned names and * prefixes', () => {
    assert.ok(isAllowed('web_search_20250305', { allow: ['web_search'] }));
    assert.ok(isAllowed('computer_use_preview', { allow: ['computer*'] }));
    assert.ok(!isAllowed('web_searcher', { allow: ['web_search'] }));
    assert.ok(!isAllowed('web_search', { allow: [] }));
  });
  it('splits anthropic-beta headers', () => {
    assert.deepEqual(betaFlagsOf(['a, b', 'c']), ['a', 'b', 'c']);
    assert.deepEqual(betaFlagsOf(undefined), []);
  });
});
