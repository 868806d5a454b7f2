import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createJsonSchemaValidators, SchemaRefusedError } from './json-schema.ts';

const person = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1 },
    born: { type: 'string', format: 'date' },
    tags: { type: 'array', items: { type: 'string', pattern: '^[a-z]+$' } },
  },
  required: ['name', 'tags'],
  additionalProperties: false,
};

const refused = (fn: () => unknown, reason: RegExp): void => {
  assert.throws(fn, (err: unknown) => err instanceof SchemaRefusedError && reason.test(err.message));
};

describe('structured-output validator', () => {
  const v = createJsonSchemaValidators();

  it('passes a matching answer and names the pointer and keyword of the first failure', () => {
    const check = v.compile(person, 'ws');
    assert.deepEqual(check('{"name":"Ada","tags":["math"]}'), { outcome: 'valid' });
    assert.deepEqual(check('{"name":"Ada","tags":["math","Bad"]}'), {
      outcome: 'invalid',
      pointer: '/tags/1',
      keyword: 'pattern',
    });
    assert.deepEqual(check('{"name":"Ada"}'), { outcome: 'invalid', pointer: '/tags', keyword: 'required' });
    assert.deepEqual(check('{"name":"Ada","tags":[],"born":"yesterday"}'), {
      outcome: 'invalid',
      pointer: '/born',
      keyword: 'format',
    });
    assert.deepEqual(check('[1]'), { outcome: 'invalid', pointer: '', keyword: 'type' });
    const inherited = v.compile({ type: 'object', properties: { constructor: { type: 'number' } } }, 'ws');
    assert.deepEqual(
      inherited('{}'),
      { outcome: 'valid' },
      "Object.prototype's constructor is not the answer's",
    );
  });

  it('refuses text that is not JSON, without quoting it', () => {
    const check = v.compile(person, 'ws');
    const result = check('Sure! {"name": "canary-7781"');
    assert.deepEqual(result, { outcome: 'invalid', pointer: '', keyword: 'json' });
    assert.deepEqual(v.jsonObject('{"a":1}'), { outcome: 'valid' });
    assert.deepEqual(v.jsonObject('[{"a":1}]'), { outcome: 'invalid', pointer: '', keyword: 'type' });
    assert.deepEqual(v.jsonObject('"just a string'), { outcome: 'invalid', pointer: '', keyword: 'json' });
  });

  it('never echoes a key the model chose: keys the schema does not declare show as *', () => {
    const check = v.compile(
      {
        type: 'object',
        properties: { scores: { type: 'object', additionalProperties: { type: 'number' } } },
      },
      'ws',
    );
    const result = check(JSON.stringify({ scores: { 'jane.doe@example.com': 'high' } }));
    assert.deepEqual(result, { outcome: 'invalid', pointer: '/scores/*', keyword: 'type' });
    const closed = v.compile(person, 'ws')(JSON.stringify({ name: 'x', tags: [], 'secret-canary': 1 }));
    assert.deepEqual(closed, { outcome: 'invalid', pointer: '', keyword: 'additionalProperties' });
  });

  it('reports the deciding combinator, not one of its branches', () => {
    const check = v.compile({ anyOf: [{ type: 'string' }, { type: 'number' }] }, 'ws');
    assert.deepEqual(check('true'), { outcome: 'invalid', pointer: '', keyword: 'anyOf' });
    assert.deepEqual(check('3'), { outcome: 'valid' });
  });

  it('follows references inside the schema ($defs, definitions, recursion) and fetches nothing', () => {
    const tree = {
      $ref: '#/$defs/node',
      $defs: {
        node: {
          type: 'object',
          properties: { v: { type: 'integer' }, kids: { type: 'array', items: { $ref: '#/$defs/node' } } },
          required: ['v'],
        },
      },
    };
    const check = v.compile(tree, 'ws');
    assert.deepEqual(check('{"v":1,"kids":[{"v":2,"kids":[{"v":3}]}]}'), { outcome: 'valid' });
    assert.deepEqual(check('{"v":1,"kids":[{"v":2,"kids":[{"v":"x"}]}]}'), {
      outcome: 'invalid',
      pointer: '/kids/0/kids/0/v',
      keyword: 'type',
    });
    const children = { type: 'array', items: { $ref: '#' } };
    const root = v.compile({ type: 'object', properties: { v: { type: 'integer' }, children } }, 'ws');
    assert.deepEqual(root('{"v":1,"children":[{"children":[{"v":"x"}]}]}'), {
      outcome: 'invalid',
      pointer: '/children/0/children/0/v',
      keyword: 'type',
    });
    const named = { $id: 'https://tenant.example/tree', type: 'object', properties: { children } };
    assert.deepEqual(v.compile(named, 'ws')('{"children":[{}]}'), { outcome: 'valid' });
    assert.deepEqual(
      v.compile(named, 'ws2')('{"children":[{}]}'),
      { outcome: 'valid' },
      'the same $id again',
    );
    refused(
      () => v.compile({ $ref: 'https://schemas.example/evil.json' }, 'ws'),
      /cannot be resolved.*nothing is fetched/,
    );
    refused(() => v.compile({ properties: { a: { $ref: '#/$defs/missing' } } }, 'ws'), /cannot be resolved/);
  });

  it("keeps one schema's $id out of reach of every later schema, and refuses a borrowed meta-schema id", () => {
    v.compile(
      {
        $id: 'https://tenant-a.example/s',
        properties: { x: { $id: 'https://tenant-a.example/x', type: 'number' } },
      },
      'a',
    );
    refused(() => v.compile({ $ref: 'https://tenant-a.example/s' }, 'b'), /cannot be resolved/);
    refused(() => v.compile({ $ref: 'https://tenant-a.example/x' }, 'b'), /cannot be resolved/);
    refused(
      () => v.compile({ $id: 'http://json-schema.org/draft-07/schema', type: 'string' }, 'a'),
      /already exists/,
    );
    assert.deepEqual(v.compile({ type: 'integer' }, 'b')('2'), { outcome: 'valid' });
    refused(() => v.compile({ type: 'nonsense' }, 'b'), /schema is invalid/);
  });

  it('admits patterns only under the safe-regex policy', () => {
    const ok = v.compile({ type: 'string', pattern: '^[A-Z]{2}-\\d{4}$' }, 'ws');
    assert.deepEqual(ok('"AB-1234"'), { outcome: 'valid' });
    assert.deepEqual(ok('"AB-12345"'), { outcome: 'invalid', pointer: '', keyword: 'pattern' });
    refused(() => v.compile({ type: 'string', pattern: '^(a+)+$' }, 'ws'), /nested quantifiers/);
    refused(() => v.compile({ patternProperties: { '(x|xy)*': { type: 'string' } } }, 'ws'), /alternatives/);
    refused(() => v.compile({ type: 'string', pattern: '(a)\\1' }, 'ws'), /backreferences/);
    refused(() => v.compile({ type: 'string', pattern: 'a'.repeat(600) }, 'ws'), /1\.\.512/);
    refused(() => v.compile({ type: 'string', pattern: '(' }, 'ws'), /pattern|regular expression/i);
  });

  it('refuses what is not a schema object, too large, too deep, or of an unknown dialect', () => {
    const small = createJsonSchemaValidators({ maxSchemaChars: 200, maxSchemaDepth: 6 });
    refused(() => small.compile('{"type":"object"}', 'ws'), /JSON Schema object/);
    refused(() => small.compile([], 'ws'), /JSON Schema object/);
    refused(
      () => small.compile({ enum: Array.from({ length: 50 }, (_, i) => `value-${i}`) }, 'ws'),
      /larger than 200/,
    );
    let deep: Record<string, unknown> = { type: 'string' };
    for (let i = 0; i < 8; i++) deep = { type: 'array', items: deep };
    refused(() => small.compile(deep, 'ws'), /deeper than 6/);
    refused(
      () => v.compile({ $schema: 'http://json-schema.org/draft-04/schema#' }, 'ws'),
      /draft-07 or 2020-12/,
    );
  });

  it('speaks 2020-12 when the schema says so', () => {
    const check = v.compile(
      {
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        type: 'array',
        prefixItems: [{ type: 'string' }, { type: 'number' }],
        items: false,
      },
      'ws',
    );
    assert.deepEqual(check('["a",1]'), { outcome: 'valid' });
    assert.deepEqual(check('["a",1,2]'), { outcome: 'invalid', pointer: '', keyword: 'items' });
  });

  it('caches per scope and canonical JSON, bounded, and keeps working across Ajv instances', () => {
    const small = createJsonSchemaValidators({ cacheSize: 2, recycleAfter: 2 });
    const a = small.compile({ type: 'object', required: ['a'] }, 'ws1');
    assert.equal(small.compile({ required: ['a'], type: 'object' }, 'ws1'), a, 'key order does not matter');
    assert.notEqual(
      small.compile({ type: 'object', required: ['a'] }, 'ws2'),
      a,
      'another scope compiles its own',
    );
    small.compile({ type: 'number' }, 'ws1');
    assert.notEqual(small.compile({ type: 'object', required: ['a'] }, 'ws1'), a, 'evicted (LRU of 2)');
    for (let i = 0; i < 10; i++) small.compile({ type: 'object', required: [`k${i}`] }, 'ws1');
    assert.deepEqual(a('{"a":1}'), { outcome: 'valid' }, 'an old validator outlives its Ajv instance');
    assert.deepEqual(a('{}'), { outcome: 'invalid', pointer: '/a', keyword: 'required' });
    refused(() => small.compile({ type: 'string', pattern: '(a*)*' }, 'ws1'), /nested/);
    refused(() => small.compile({ type: 'string', pattern: '(a*)*' }, 'ws1'), /nested/);
  });

  it('bounds the answer it will look at, and never throws on hostile input', () => {
    const small = createJsonSchemaValidators({ maxAnswerChars: 100 });
    const check = small.compile({ type: 'array' }, 'ws');
    assert.deepEqual(check(`[${'1,'.repeat(60)}1]`), { outcome: 'error', reason: 'too_large' });
    const recursive = v.compile(
      { $ref: '#/$defs/a', $defs: { a: { type: 'array', items: { $ref: '#/$defs/a' } } } },
      'ws',
    );
    const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    const outcome = recursive(deep).outcome;
    assert.ok(outcome === 'valid' || outcome === 'error', outcome);
  });
});
