import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32 } from 'node:zlib';
import { leadingLiterals } from '../../scripts/gen-secret-rules.ts';
import gitleaks from './rules/gitleaks.json' with { type: 'json' };
import {
  createSecretScanner,
  PORTCULLIS_RULES,
  portcullisKeyChecksumOk,
  type SecretRule,
} from './secrets.ts';

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
/** Like rnd, from the high bits (rnd's low bits repeat quickly for alphabets of 2^k characters). */
const draw = (alphabet: string, n: number, seed = 7): string => {
  let x = seed;
  let o = '';
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    o += alphabet[Math.floor((x / 2 ** 31) * alphabet.length)];
  }
  return o;
};
const B62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const B36 = '0123456789abcdefghijklmnopqrstuvwxyz';

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

test('finds Square OAuth secrets (square-secret, missing from the gitleaks config)', () => {
  // Base64url, and the alphabet gitleaks' own samples are drawn from (it adds `\ ] ^`).
  for (const body of [draw(`${B62}_-`, 43, 3), draw(`${B62}_\\]^`, 43, 5)]) {
    const secret = `sq0csp-${body}`;
    for (const text of [
      `squareToken = "${secret}"`,
      `SQUARE_SECRET=${secret}\n`,
      `<secret>\n  ${secret}\n</secret>`,
    ]) {
      const [s] = scanner.scan(text);
      assert.equal(s?.ruleId, 'square-secret', text);
      assert.equal(text.slice(s!.start, s!.end), secret);
    }
  }
  assert.deepEqual(ids(`square = "sq0csp-${draw(B62, 30)}"`), []); // too short for the format
});

test("a provider's token in the wrong shape is not reported as a generic key", () => {
  // Each value carries another rule's token prefix but not its format (cut short, placeholder):
  // that rule decides, and it says no.
  assert.deepEqual(ids(`"token1": "xoxp-${draw('0123456789', 10)}"`), []);
  assert.deepEqual(ids(`"token3": "xoxp-1234-5678-9012-${draw('0123456789abcdef', 32)}"`), []);
  assert.deepEqual(ids(`accessToken := "sm_pat_${draw(B36, 10)}"`), []);
  assert.deepEqual(ids(`export OP_SERVICE_ACCOUNT_TOKEN=ops_eyJ${draw(B62, 30)}`), []);
  // The same shapes in the right format are still found, by their own rule.
  const slack = `xoxp-${draw('0123456789', 12)}-${draw('0123456789', 12, 8)}-${draw('0123456789', 12, 9)}-${draw(B62, 32)}`;
  assert.deepEqual(ids(`"token1": "${slack}"`), ['slack-user-token']);
  assert.deepEqual(ids(`accessToken := "sm_pat_${draw(B62, 16)}"`), ['settlemint-personal-access-token']);
  // And a value with no provider prefix is still a generic key.
  assert.deepEqual(ids(`accessToken := "${draw(B36, 20)}"`), ['generic-api-key']);
});

test('elided and typed placeholder values are not secrets', () => {
  const value = draw(B62, 24);
  assert.deepEqual(ids(`secret_key = "${value}"`), ['generic-api-key']);
  assert.deepEqual(ids(`secret_key = "${value.slice(0, 12)}...${value.slice(-6)}"`), []);
  // A run of 10 consecutive letters or digits is typed by a person, not drawn at random.
  const typed =
    'abc123xyz-456def789ghij-klmnopqrstuvwx-3456yza789bcde-1234fghijklmnopby56aaaogaopaaaabc123xyz';
  assert.equal(typed.length, 93);
  assert.deepEqual(ids(`sk-ant-api03-${typed}AA`), []);
  assert.deepEqual(ids(`sk-ant-admin01-${typed}AA`), []);
  assert.deepEqual(ids(`sk-ant-api03-${draw(`${B62}_-`, 93)}AA`), ['anthropic-api-key']);
});

test('a key whose name says its value is not real is not reported', () => {
  const value = draw(B36, 24, 11);
  assert.deepEqual(ids(`apiToken := "${value}"`), ['generic-api-key']);
  for (const name of ['nonMatchingToken', 'fake_api_key', 'dummyPassword', 'INVALID_SECRET', 'token_mock'])
    assert.deepEqual(ids(`${name} := "${value}"`), [], name);
});

test('keywords are found anywhere, also across the middle of the text and in any case', () => {
  const gh = `ghp_${draw(B62, 36)}`;
  for (let pad = 0; pad < 90; pad++) {
    const text = `${'é'.repeat(pad)} ${gh} ${'x'.repeat(90 - pad)}`;
    assert.deepEqual(ids(text), ['github-pat'], `offset ${pad}`);
  }
  assert.deepEqual(ids(`API_KEY = "${draw(B36, 20)}"`), ['generic-api-key']);
  // A keyword counts when the lower-cased text holds it: U+212A KELVIN SIGN lower-cases to "k".
  const token = `${draw('0123456789', 15)}|${draw(B36, 32)}`;
  assert.deepEqual(ids(`faceboo\u212A: ${token}`), ['facebook-access-token']);
  assert.deepEqual(ids(`faceboo: ${token}`), []);
});

test('trying anchored rules only where a keyword starts finds what a search over the text finds', () => {
  // The same rules with `anchored` off (searched across the whole text) must give the same spans.
  const all = [...(gitleaks.rules as SecretRule[]), ...PORTCULLIS_RULES];
  const searched = createSecretScanner({
    disabled: all.map((r) => r.id),
    extraRules: all.map((r) => ({ ...r, id: `${r.id}~`, anchored: false })),
  });
  const keywords = [...new Set(all.flatMap((r) => r.keywords))];
  const parts = [' = ', '=', ': ', ' := "', '"', "'", '\n', ' ', ',', '\\n', '`', ';', 'é', '\u212A'];
  let x = 17;
  const pick = (n: number): number => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return Math.floor((x / 2 ** 31) * n);
  };
  let found = 0;
  for (let n = 0; n < 4000; n++) {
    let text = '';
    for (let p = 3 + pick(8); p > 0; p--) {
      const kind = pick(4);
      const keyword = keywords[pick(keywords.length)]!;
      const value = draw(`${B62}_-.`, pick(3) ? 8 + pick(50) : 1 + pick(5), pick(100000));
      if (kind === 0) text += pick(2) ? keyword : keyword.toUpperCase();
      else if (kind === 1) text += parts[pick(parts.length)];
      else if (kind === 2) text += value;
      else text += keyword + value; // a token with a provider prefix
    }
    const a = scanner.scan(text);
    const b = searched.scan(text).map((s) => ({ ...s, ruleId: s.ruleId?.slice(0, -1) }));
    assert.deepEqual(a, b, text);
    if (a.length > 0) found++;
  }
  assert.ok(found > 100, `only ${found} texts with findings`);
});

test('the generator reads which literal a regex match starts with', () => {
  assert.deepEqual(leadingLiterals(String.raw`\b(ghp_[0-9a-zA-Z]{36})`), ['ghp_']);
  assert.deepEqual(leadingLiterals('xox[pe](?:-[0-9]{10,13}){3}'), ['xoxp-', 'xoxe-']);
  assert.deepEqual(leadingLiterals(String.raw`(?:key|passw(?:or)?d)\s*=`), ['key', 'password', 'passwd']);
  assert.deepEqual(leadingLiterals(String.raw`\d{15}(?:facebook)`), ['']);
  assert.deepEqual(leadingLiterals('(?<=x)abc|def'), ['', 'def']);
  // Every rule the generator marked anchored starts each match with one of its keywords.
  for (const r of gitleaks.rules)
    if (r.anchored)
      for (const p of leadingLiterals(r.source))
        assert.ok(
          r.keywords.some((k) => p.startsWith(k)),
          r.id,
        );
});

test('a 1 MB adversarial text scans in linear time (regression guard: < 2 s each)', () => {
  // Hits of one keyword arrive from the two halves of the text in turn (an insertion sort of them
  // took 13 s on 420 KB), and many matches on one long line once each read the whole line.
  const MB = 2 ** 20;
  const fill = (piece: (i: number) => string): string => {
    const parts: string[] = [];
    let n = 0;
    for (let i = 0; n < MB; i++) {
      const p = piece(i);
      parts.push(p);
      n += p.length;
    }
    return parts.join('').slice(0, MB);
  };
  const keywords = [...new Set(gitleaks.rules.flatMap((r) => r.keywords))];
  const shapes: Record<string, string> = {
    '"ey " repeated': 'ey '.repeat(Math.floor(MB / 3)),
    '"key=" repeated': 'key='.repeat(MB / 4),
    'keyword-dense random': fill(
      (i) => keywords[(i * 7919) % keywords.length]! + draw(`${B62} ="'_-.:`, 3, i),
    ),
    'generic secrets on one line': fill((i) => `api_key=${draw(B62, 20, i + 1)} `),
    'provider tokens on one line': fill((i) => `ghp_${draw(B62, 36, i + 1)} `),
  };
  for (const [name, text] of Object.entries(shapes)) {
    const t = performance.now();
    scanner.scan(text);
    const ms = performance.now() - t;
    assert.ok(ms < 2000, `${name}: ${ms.toFixed(0)} ms for 1 MB`);
  }
});

test('a line allowlist reads the line of each match, also among many matches', () => {
  const v = (seed: number): string => draw(B62, 24, seed);
  // gitleaks allows generic keys on a Docker `--mount=type=secret,` line.
  const text = `api_key=${v(1)} x\nRUN --mount=type=secret,id=a api_key=${v(2)} api_key=${v(3)}\napi_key=${v(4)}`;
  const found = scanner.scan(text).map((s) => text.slice(s.start, s.end));
  assert.deepEqual(found, [v(1), v(4)]);
});

test('"not real" words count only as whole segments of the key name', () => {
  const value = draw(B36, 24, 13);
  // Words that merely contain "mock" or "invalid" name real keys.
  for (const name of [
    'MOCKAROO_API_KEY',
    'CLOUDFRONT_INVALIDATION_TOKEN',
    'cache_invalidation_secret',
    'HAMMOCK_API_KEY',
    'SMOCKER_AUTH_TOKEN',
    'mockarooApiKey',
    'hammockToken',
  ])
    assert.deepEqual(ids(`${name}: "${value}"`), ['generic-api-key'], name);
  // A whole segment, split at _ . - and camelCase, says the value is not real.
  for (const name of [
    'fakeToken',
    'FAKE_TOKEN',
    'fake-token',
    'FakeToken',
    'FAKEToken',
    'my.mock.api_key',
    'nonMatchingToken',
    'NOT_REAL_API_KEY',
    'notValidSecret',
    'api_key_wrong',
    'placeholderPassword',
    'mock2_secret',
  ])
    assert.deepEqual(ids(`${name}: "${value}"`), [], name);
  // Only the name counts: our words in the value do not hide it ("mock" and "fake" in a value are
  // gitleaks' own stopwords, so "invalid" stands for them here).
  const withWord = `${draw(B36, 10, 17)}_invalid_${draw(B36, 10, 19)}`;
  assert.deepEqual(ids(`api_token = "${withWord}"`), ['generic-api-key']);
});

test('a short or version-like token prefix does not hide a generic key', () => {
  // Another rule's prefix defers a value to that rule only when it is distinctive (xoxp-, sm_pat_);
  // these start many values that are nobody's token, so the value is still a generic key.
  const body = draw(B62, 24, 29);
  for (const prefix of ['api-', 'pat.', 'sat.', 'ico-', 'pul-', 'v1.0-', 'npm_', 'gho_'])
    assert.deepEqual(ids(`api_key = "${prefix}${body}"`), ['generic-api-key'], prefix);
  assert.deepEqual(ids(`SECRET_KEY=ico-${body}`), ['generic-api-key']);
});
