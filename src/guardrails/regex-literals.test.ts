import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { createPatternMatcher } from './injection.ts';
import { INJECTION_PATTERNS } from './injection-patterns.ts';
import { normalize } from './normalize.ts';
import { requiredLiteralSets, requiredLiterals } from './regex-literals.ts';

describe('requiredLiterals', () => {
  it('finds the literal every match must contain, preferring the longest', () => {
    assert.deepEqual(requiredLiterals('\\b(?:you|dan)\\b.{0,60}\\bdo anything now\\b'), ['do anything now']);
    assert.deepEqual(requiredLiterals('\\bstart(?:ing)? with'), ['start with', 'starting with']);
    assert.deepEqual(requiredLiterals('"role"\\s?:'), ['"role"']);
    assert.deepEqual(requiredLiterals('console\\.log\\('), ['console.log(']);
    assert.deepEqual(requiredLiterals('a#{2,}b'), ['a#']);
    assert.deepEqual(requiredLiterals('(?:ab|cd)+x'), ['ab', 'cd']);
    assert.deepEqual(requiredLiterals('x(?=abc)y'), ['xy'], 'a lookahead consumes nothing');
    assert.deepEqual(requiredLiterals('foo|ba(?:r|z)')?.sort(), ['bar', 'baz', 'foo']);
    assert.deepEqual(requiredLiterals('Ignore'), ['ignore'], 'lower-cased');
  });

  it('gives none when a match may contain no fixed text', () => {
    for (const source of ['.*', 'a|.', '(?:abc)?', '\\d+', '[a-z]{3}', 'a?', '(?:a|\\w)', '\\1', 'x*']) {
      assert.equal(requiredLiterals(source), null, source);
    }
  });

  it('reads JavaScript the way JavaScript does: empty and negated-empty classes, \\c, octal escapes', () => {
    // Each source matches the text given, which lacks what a PCRE-style reading would require.
    for (const [source, text] of [
      ['abc[^]|xyz]', 'xyz]'],
      ['abc[]|xyz]', 'xyz]'],
      ['\\cJfoo', '\nfoo'],
      ['a\\12b', 'a\nb'],
      ['ignore[^]{0,20}instructions|system prompt[:\\]]', 'system prompt:'],
      ['a\\:b\\=c', 'a:b=c'],
    ] as const) {
      assert.ok(new RegExp(source).test(text), source);
      const literals = requiredLiterals(source);
      assert.ok(
        literals === null || literals.some((l) => text.toLowerCase().includes(l)),
        `${source}: ${literals}`,
      );
    }
  });

  it('refuses syntax it cannot read rather than guessing', () => {
    for (const source of [
      '(a',
      'a)',
      '[abc',
      '+a',
      '(?<x>a)\\',
      '(?P<x>a)',
      'zz\\u|abc',
      '\\xZ',
      '\\q',
      '\\p{L}',
    ]) {
      assert.throws(() => requiredLiterals(source), source);
    }
  });
});

/** Deterministic PRNG (mulberry32) so a failure reproduces. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('the pattern prefilter', () => {
  const matcher = createPatternMatcher(INJECTION_PATTERNS);
  const gated = (text: string): string[] => {
    const out: string[] = [];
    matcher.match(text, (p) => out.push(p.re.source));
    return out;
  };
  const every = (text: string): string[] =>
    INJECTION_PATTERNS.filter((p) => p.re.test(text)).map((p) => p.re.source);

  it('matches exactly what running every pattern matches, on many texts built from their own words', () => {
    // Texts assembled from the words the patterns are made of (so many match, partly or fully),
    // glued with the separators they use: a prefilter that dropped a needed pattern shows here.
    const vocabulary = new Set<string>();
    for (const p of INJECTION_PATTERNS) {
      for (const w of p.re.source.replace(/\\[bswd]/g, ' ').split(/[^a-z0-9'_.:<>|"[\]/!@-]+/)) {
        if (w) vocabulary.add(w);
      }
      for (const l of requiredLiterals(p.re.source) ?? []) vocabulary.add(l);
    }
    vocabulary.add('https://example.com/x?q={data}');
    vocabulary.add('![a](https://example.com/p?d=$');
    const words = [...vocabulary];
    const separators = [' ', ' ', ' ', ', ', '\n', ': ', ' "', "' ", '. '];
    const random = prng(7);
    let matched = 0;
    for (let n = 0; n < 20_000; n++) {
      const parts: string[] = [];
      const length = 2 + Math.floor(random() * 14);
      for (let i = 0; i < length; i++) {
        parts.push(words[Math.floor(random() * words.length)]!);
        parts.push(separators[Math.floor(random() * separators.length)]!);
      }
      const text = parts.join('');
      const want = every(text);
      matched += want.length > 0 ? 1 : 0;
      assert.deepEqual(gated(text), want, text);
    }
    assert.ok(matched > 2_000, `only ${matched} texts matched a pattern: the test would prove little`);
  });

  it('matches exactly what running every pattern matches on the fixtures, in every normalised view', () => {
    const fixtures = readFileSync(
      new URL('../../test/fixtures/guardrails/injection.jsonl', import.meta.url),
      'utf8',
    )
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { text: string }).text);
    for (const text of fixtures) {
      const n = normalize(text);
      for (const view of [n.text, n.leet, n.rot13, n.hidden, ...n.decoded]) {
        assert.deepEqual(gated(view), every(view), view);
      }
    }
  });
});

describe('requiredLiteralSets', () => {
  it('gives every necessary set of a sequence: longest shortest string first, then smaller sets', () => {
    const sets = requiredLiteralSets(
      '\\b(?:send|post)\\b.{0,60}\\b(?:chat|history)\\b.{0,9}(?:https?:|www\\.)',
    );
    assert.deepEqual(
      sets.map((set) => [...set].sort()),
      [
        ['post', 'send'],
        ['chat', 'history'],
        ['http:', 'https:', 'www.'],
      ],
    );
    assert.deepEqual(requiredLiteralSets('abc|d.e'), [['d', 'abc']]);
    assert.deepEqual(requiredLiteralSets('.*'), []);
  });
});
