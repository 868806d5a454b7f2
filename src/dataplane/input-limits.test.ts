import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jsonDepth } from './input-limits.ts';

describe('jsonDepth', () => {
  it('counts nesting of objects and arrays, scalars as 0', () => {
    assert.equal(jsonDepth('x'), 0);
    assert.equal(jsonDepth({}), 1);
    assert.equal(jsonDepth({ a: [1, { b: [] }] }), 4);
  });
  it('stops early once past the limit', () => {
    let deep: unknown = [];
    for (let i = 0; i < 100_000; i++) deep = [deep];
    assert.equal(jsonDepth(deep, 32), 33);
  });
});
