import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32 } from 'node:zlib';
import gitleaks from './rules/gitleaks.json' with { type: 'json' };
import { createSecretScanner, portcullisKeyChecksumOk } from './secrets.ts';

const scanner = createSecretScanner();
const ids = (t: string): string[] => scanner.scan(t).map((s) => s.ruleId ?? '');
// Test tokens are assembled at run time so this file holds no secret-shaped literal.
const rnd = (alphabet: string, n: number, seed = 7): string => {
  let x = seed;
  let o = '';
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    o += alphabet[x % alphabet.length];
  }
  return o;
};
const B62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function portcullisKey(): string {
  const body = `pcx_live_${rnd(B62, 55)}`;
  let n = crc32(body);
  let c = '';
  for (let i = 0; i < 6; i++) {
    c = B62[n % 62] + c;
    n = Math.floor(n / 62);
  }
  return body + c;
}

test('ships the gitleaks rule set with attribution', () => {
  assert.ok(gitleaks.rules.length > 200);
  assert.match(gitleaks.license, /MIT/);
  assert.ok(scanner.ruleCount > 200);
});

test('finds provider keys and returns the secret span with its rule id', () => {
  const gh = `ghp_${rnd(B62, 36)}`;
  const text = `use token ${gh} for CI`;
  const [s] = scanner.scan(text);
  assert.equal(s?.ruleId, 'github-pat');
  assert.equal(text.slice(s!.start, s!.end), gh);
  assert.deepEqual(ids(`aws_access_key_id = ${['AKIA', 'Z7Q2', 'X5LM', 'R3TN', 'W6PB'].join('')}`), [
    'aws-access-token',
  ]);
  assert.deepEqual(ids(`export OPENAI_API_KEY=sk-proj-${rnd(B62, 74)}T3BlbkFJ${rnd(B62, 74, 9)}`), [
    'openai-api-key',
  ]);
  const jwt = ['eyJhbGciOiJIUzI1NiJ9', 'eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ', rnd(B62, 43)].join(
    '.',
  );
  assert.deepEqual(ids(`Authorization: ${jwt}`), ['jwt']);
  const pem = [
    '-----BEGIN RSA PRIVATE ',
    'KEY-----\n',
    rnd(`${B62}+/`, 64),
    '\n-----END RSA PRIVATE KEY-----',
  ].join('');
  assert.deepEqual(ids(pem), ['private-key']);
});

test('leaves placeholders and example values alone', () => {
  assert.deepEqual(ids('api_key = "your-api-key-here"'), []);
  assert.deepEqual(ids(`aws key ${['AKIA', 'IOSFODNN7', 'EXAMPLE'].join('')}`), []);
  assert.deepEqual(ids(`password = $${'{DB_PASSWORD}'}`), []);
  assert.deepEqual(ids('The key to success is consistency and a good night of sleep.'), []);
});

test('detects Portcullis keys and checks their CRC32', () => {
  const key = portcullisKey();
  assert.equal(portcullisKeyChecksumOk(key), true);
  const [s] = scanner.scan(`my gateway key is ${key}.`);
  assert.equal(s?.ruleId, 'portcullis-api-key');
  assert.equal(s?.confidence, 1);
  const typo = `${key.slice(0, 30)}${key[30] === 'a' ? 'b' : 'a'}${key.slice(31)}`;
  assert.equal(scanner.scan(typo)[0]?.confidence, 0.7);
});

test('finds passwords in connection strings, not placeholders', () => {
  const text = 'DATABASE_URL=postgres://app:Xk9!vR2qLm@db.internal:5432/prod';
  const [s] = scanner.scan(text);
  assert.equal(text.slice(s!.start, s!.end), 'Xk9!vR2qLm');
  assert.deepEqual(ids('postgres://user:password@localhost/db'), []);
  assert.deepEqual(ids(`redis://:$${'{REDIS_PASSWORD}'}@cache:6379`), []);
});

test('rules can be disabled', () => {
  const s = createSecretScanner({ disabled: ['github-pat'] });
  assert.deepEqual(
    s.scan(`token ghp_${rnd(B62, 36)}`).map((x) => x.ruleId),
    [],
  );
});

test('no rule backtracks badly on adversarial input (each rule < 50 ms on 20 KB)', () => {
  const inputs = [
    `curl ${'-H x '.repeat(4000)}`,
    `api_key=${'a'.repeat(20_000)}`,
    `${'key '.repeat(5000)}=`,
    `${'password = "'.repeat(1500)}`,
    `-----BEGIN PRIVATE KEY-----${'A'.repeat(20_000)}`,
    `eyJ${'a'.repeat(20_000)}`,
  ];
  for (const input of inputs) {
    const t = performance.now();
    scanner.scan(input);
    assert.ok(performance.now() - t < 500, `slow on ${input.slice(0, 20)}`);
  }
});
