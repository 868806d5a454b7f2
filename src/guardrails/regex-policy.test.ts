import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileSafeRegex } from './regex-policy.ts';

test('accepts ordinary entity patterns', () => {
  for (const p of [
    'EMP-\\d{6}',
    '\\b[A-Z]{2}\\d{6}\\b',
    '(?:ACME|acme)-[0-9a-f]{8}',
    '[a-z]+@corp\\.example',
  ]) {
    assert.equal(compileSafeRegex(p).ok, true, p);
  }
});

test('refuses catastrophic-backtracking shapes, backreferences, lookbehind', () => {
  for (const p of [
    '(a+)+$',
    '(\\w*)*x',
    '(a|aa)+b',
    '(.*a){2,}',
    '(a)\\1',
    '(?<=x)y',
    '(?:[a-z]+\\s?)+!',
    '',
  ]) {
    assert.equal(compileSafeRegex(p).ok, false, p);
  }
  assert.equal(compileSafeRegex('x'.repeat(600)).ok, false);
  assert.equal(compileSafeRegex('a', 'y').ok, false);
});
