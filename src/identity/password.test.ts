import assert from 'node:assert/strict';
import crypto, { randomBytes, randomInt } from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import { describe, it, mock } from 'node:test';
import {
  ARGON2_LIMITS,
  ARGON2_PARAMS,
  burnPasswordTime,
  checkPasswordPolicy,
  encodePhc,
  hashPassword,
  needsRehash,
  type PasswordPolicyResult,
  parsePhc,
  verifyPassword,
} from './password.ts';

/** A random password that passes every rule: 20 characters from letters, digits and symbols. */
function strongPassword(length = 20): string {
  const alphabet = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789!#%&*+-=?@^_~';
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

const ruleOf = (r: PasswordPolicyResult) => (r.ok ? null : r.rule);

const b64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64').replace(/=+$/, '');

describe('hashPassword / verifyPassword', () => {
  it('produces an OWASP-parameter argon2id PHC string that verifies', async () => {
    const pw = strongPassword();
    const phc = await hashPassword(pw);
    assert.match(phc, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    assert.ok(!phc.includes(pw));
    assert.equal(await verifyPassword(phc, pw), true);
    assert.equal(needsRehash(phc), false);
  });

  it('salts every hash: the same password hashes differently twice', async () => {
    const pw = strongPassword();
    const [a, b] = await Promise.all([hashPassword(pw), hashPassword(pw)]);
    assert.notEqual(a, b);
  });

  it('refuses a wrong password, including one differing by case or one character', async () => {
    const pw = strongPassword();
    const phc = await hashPassword(pw);
    assert.equal(await verifyPassword(phc, `${pw}x`), false);
    assert.equal(await verifyPassword(phc, pw.slice(0, -1)), false);
    assert.equal(
      await verifyPassword(phc, pw.toUpperCase() === pw ? pw.toLowerCase() : pw.toUpperCase()),
      false,
    );
    assert.equal(await verifyPassword(phc, ''), false);
  });

  it('verifies the reference implementation’s own argon2id vector (phc-winner-argon2 src/test.c)', async () => {
    // password "password", salt "somesalt", t=2, m=64 MiB, p=1 → this exact PHC string.
    const ref = '$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc';
    assert.equal(await verifyPassword(ref, 'password'), true);
    assert.equal(await verifyPassword(ref, 'Password'), false);
    // Same suite, m=256 KiB: parameters are read from the string, not assumed.
    const small = `$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$${b64('9dfeb910e80bad0311fee20f9c0e2b12c17987b4cac90c2ef54d5b3021c68bfe')}`;
    assert.equal(await verifyPassword(small, 'password'), true);
    assert.equal(needsRehash(small), true);
    const twoLanes = `$argon2id$v=19$m=256,t=2,p=2$c29tZXNhbHQ$${b64('6d093c501fd5999645e0ea3bf620d7b8be7fd2db59c20d9fff9539da2bf57037')}`;
    assert.equal(await verifyPassword(twoLanes, 'password'), true);
  });

  it('treats NFC and NFD spellings of a password as the same password (NIST SP 800-63B)', async () => {
    const nfc = 'caf\u00e9-cr\u00e8me-br\u00fbl\u00e9e';
    const nfd = nfc.normalize('NFD');
    assert.notEqual(nfc, nfd);
    assert.equal(await verifyPassword(await hashPassword(nfc), nfd), true);
  });

  it('returns false, never throws, for malformed or tampered strings', async () => {
    const pw = strongPassword();
    const phc = await hashPassword(pw);
    const parts = phc.split('$'); // ['', 'argon2id', 'v=19', 'm=..,t=..,p=..', salt, tag]
    const flipLast = (s: string) => s.slice(0, -1) + (s.endsWith('A') ? 'B' : 'A');
    const bad = [
      '',
      'not a hash',
      '$argon2id$',
      phc.replace('$argon2id$', '$argon2i$'),
      phc.replace('$argon2id$', '$argon2d$'),
      phc.replace('v=19', 'v=16'),
      phc.replace('$v=19', ''),
      phc.replace('m=19456,t=2,p=1', 't=2,m=19456,p=1'),
      phc.replace('m=19456', 'm=019456'),
      phc.replace('m=19456', 'm=-1'),
      phc.replace('m=19456,t=2,p=1', 'm=19456,t=2,p=1,keyid=x'),
      `${phc}=`,
      `${phc}$extra`,
      ` ${phc}`,
      [...parts.slice(0, 4), flipLast(parts[4] ?? ''), parts[5]].join('$'), // salt changed
      [...parts.slice(0, 5), flipLast(parts[5] ?? '')].join('$'), // tag changed
      [...parts.slice(0, 5), (parts[5] ?? '').slice(0, -2)].join('$'), // tag truncated
      [...parts.slice(0, 4), `${parts[4]}!`, parts[5]].join('$'),
      phc.replace(/\$([^$]*)$/, '$'),
    ];
    // The base64url spelling of the tag (only a different string when the tag has + or /).
    const tag = parts[5] ?? '';
    if (/[+/]/.test(tag))
      bad.push([...parts.slice(0, 5), tag.replace(/\+/g, '-').replace(/\//g, '_')].join('$'));
    for (const s of bad) {
      assert.equal(await verifyPassword(s, pw), false, `accepted: ${JSON.stringify(s.slice(0, 60))}`);
    }
    assert.equal(needsRehash('not a hash'), true);
    // Not a string at all (e.g. a NULL column read loosely).
    assert.equal(await verifyPassword(null as unknown as string, pw), false);
    assert.equal(await verifyPassword(undefined as unknown as string, pw), false);
  });

  it('refuses absurd parameters without running them (a tampered row cannot DoS a login)', async () => {
    const salt = randomBytes(16);
    const tag = randomBytes(32);
    const L = ARGON2_LIMITS;
    const absurd = [
      { memory: 4_194_304, passes: 2, parallelism: 1 }, // 4 GiB
      { memory: L.maxMemory + 4, passes: 2, parallelism: 1 },
      { memory: 19456, passes: 1_000_000, parallelism: 1 },
      { memory: 19456, passes: L.maxPasses + 1, parallelism: 1 },
      { memory: 19456, passes: 2, parallelism: 255 },
      { memory: 19456, passes: 0, parallelism: 1 },
      { memory: 19456, passes: 2, parallelism: 0 },
      { memory: 7, passes: 2, parallelism: 1 }, // fewer than 8 blocks per lane (RFC 9106 §3.1)
      { memory: 99_999_999, passes: 99_999_999, parallelism: 1 },
    ];
    for (const params of absurd) {
      const phc = encodePhc(params, salt, tag);
      assert.equal(parsePhc(phc), null, JSON.stringify(params));
      const started = performance.now();
      assert.equal(await verifyPassword(phc, 'whatever-password'), false);
      assert.ok(performance.now() - started < 20, `spent time on ${JSON.stringify(params)}`);
    }
    // Salt and tag lengths are bounded too.
    assert.equal(parsePhc(encodePhc(ARGON2_PARAMS, randomBytes(7), tag)), null);
    assert.equal(parsePhc(encodePhc(ARGON2_PARAMS, randomBytes(65), tag)), null);
    assert.equal(parsePhc(encodePhc(ARGON2_PARAMS, salt, randomBytes(15))), null);
    assert.equal(parsePhc(encodePhc(ARGON2_PARAMS, salt, randomBytes(65))), null);
    assert.equal(parsePhc(`$argon2id$v=19$m=19456,t=2,p=1$${'A'.repeat(500)}$AAAA`), null);
    // The bounds themselves are usable.
    assert.ok(parsePhc(encodePhc({ memory: L.maxMemory, passes: L.maxPasses, parallelism: 4 }, salt, tag)));
  });

  it('compares tags with crypto.timingSafeEqual', async () => {
    const pw = strongPassword();
    const phc = await hashPassword(pw);
    // Named imports of a builtin are live bindings to its exports object; syncBuiltinESMExports
    // pushes the spy into them, so this sees the call password.ts really makes.
    const spy = mock.method(crypto, 'timingSafeEqual');
    syncBuiltinESMExports();
    try {
      assert.equal(await verifyPassword(phc, pw), true);
      assert.equal(await verifyPassword(phc, `${pw}!`), false);
      assert.equal(spy.mock.callCount(), 2);
      const [a, b] = spy.mock.calls[0]?.arguments ?? [];
      assert.equal((a as Buffer).length, 32);
      assert.equal((b as Buffer).length, 32);
    } finally {
      spy.mock.restore();
      syncBuiltinESMExports();
    }
  });

  it('burnPasswordTime runs one argon2id at the current parameters', async () => {
    const spy = mock.method(crypto, 'argon2');
    syncBuiltinESMExports();
    try {
      await burnPasswordTime(strongPassword());
      assert.equal(spy.mock.callCount(), 1);
      const [algorithm, params] = spy.mock.calls[0]?.arguments ?? [];
      assert.equal(algorithm, 'argon2id');
      assert.deepEqual(
        {
          memory: params?.memory,
          passes: params?.passes,
          parallelism: params?.parallelism,
          tagLength: params?.tagLength,
        },
        { ...ARGON2_PARAMS, tagLength: 32 },
      );
    } finally {
      spy.mock.restore();
      syncBuiltinESMExports();
    }
  });

  it('burnPasswordTime takes about as long as verifying a real hash', async () => {
    const pw = strongPassword();
    const phc = await hashPassword(pw);
    const time = async (fn: () => Promise<unknown>) => {
      const t = performance.now();
      await fn();
      return performance.now() - t;
    };
    const burn: number[] = [];
    const verify: number[] = [];
    for (let i = 0; i < 5; i++) {
      burn.push(await time(() => burnPasswordTime(pw)));
      verify.push(await time(() => verifyPassword(phc, pw)));
    }
    // The fastest run is the least disturbed by other work on a shared machine.
    const ratio = Math.min(...burn) / Math.min(...verify);
    assert.ok(ratio > 0.4 && ratio < 2.5, `burn/verify time ratio ${ratio.toFixed(2)}`);
  });
});

describe('checkPasswordPolicy', () => {
  it('accepts a random strong password', () => {
    for (let i = 0; i < 20; i++) {
      assert.deepEqual(checkPasswordPolicy(strongPassword(), { email: 'someone@example.com' }), { ok: true });
    }
    assert.deepEqual(checkPasswordPolicy(strongPassword(12)), { ok: true });
  });

  it('too_short: fewer than 12 code points', () => {
    assert.equal(ruleOf(checkPasswordPolicy('Xk7#pQ2!mZ9')), 'too_short');
    assert.deepEqual(checkPasswordPolicy('Xk7#pQ2!mZ9w'), { ok: true });
  });

  it('too_long: more than 256 code points', () => {
    assert.equal(ruleOf(checkPasswordPolicy(strongPassword(257))), 'too_long');
    assert.deepEqual(checkPasswordPolicy(strongPassword(256)), { ok: true });
  });

  it('common: in the zxcvbn-ts common-password list, case-insensitively', () => {
    for (const pw of ['password1234', 'PassWord1234', 'qwerty123456', '1QAZ2WSX3EDC', 'leavemealone']) {
      assert.equal(ruleOf(checkPasswordPolicy(pw)), 'common', pw);
    }
    // Near misses are not refused by this rule (only exact list entries are).
    assert.deepEqual(checkPasswordPolicy(`password1234${strongPassword(4)}`), { ok: true });
  });

  it('contains_email: contains the email local part (≥ 4 characters), case-insensitively', () => {
    const email = 'Jane.Doe+gateway@example.com';
    const bad = ['xx-jane.doe+gateway-2024!', 'JANE.DOE-is-my-name-7', 'before Jane.Doe after'];
    for (const pw of bad) assert.equal(ruleOf(checkPasswordPolicy(pw, { email })), 'contains_email', pw);
    const good = strongPassword();
    assert.deepEqual(checkPasswordPolicy(good, { email }), { ok: true });
    // A local part shorter than 4 is too generic to forbid.
    assert.deepEqual(checkPasswordPolicy('bob-sleigh-run-9471', { email: 'bob@example.com' }), { ok: true });
    assert.equal(
      ruleOf(checkPasswordPolicy('xx-bobby-sleigh-9471', { email: 'bobby@example.com' })),
      'contains_email',
    );
    // The name is accepted but is not a rule.
    assert.deepEqual(checkPasswordPolicy(`Jane ${good}`, { name: 'Jane' }), { ok: true });
  });

  it('counts Unicode code points after NFKC, not UTF-16 units or bytes', () => {
    // 12 emoji: 24 UTF-16 units, 48 UTF-8 bytes, 12 code points → long enough.
    const emoji = ['🦊', '🐙', '🌵', '🚲', '🎻', '🧭', '🪁', '🍋', '🛶', '🧲', '🪐', '🦉'];
    assert.deepEqual(checkPasswordPolicy(emoji.join('')), { ok: true });
    assert.equal(ruleOf(checkPasswordPolicy(emoji.slice(0, 11).join(''))), 'too_short');
    // 11 × "é" written decomposed is 22 code points, 11 after NFKC composes them.
    const decomposed = 'e\u0301'.repeat(11);
    assert.equal([...decomposed].length, 22);
    assert.equal(ruleOf(checkPasswordPolicy(decomposed)), 'too_short');
    // 256 emoji is fine, 257 is too long, though .length says 512/514.
    assert.deepEqual(checkPasswordPolicy('🦊'.repeat(256)), { ok: true });
    assert.equal(ruleOf(checkPasswordPolicy('🦊'.repeat(257))), 'too_long');
    // Fullwidth forms fold to ASCII under NFKC, so they cannot dodge the common list.
    assert.equal(ruleOf(checkPasswordPolicy('ｐａｓｓｗｏｒｄ１２３４')), 'common');
    // Non-Latin passwords are fine.
    assert.deepEqual(checkPasswordPolicy('Дождь над Невой 1703'), { ok: true });
    assert.deepEqual(checkPasswordPolicy('雨の日の図書館で本を読む猫'), { ok: true });
  });

  it('messages name the rule and never echo the password or email', () => {
    const email = 'quentin.example@example.org';
    const cases = ['short1!', strongPassword(300), 'qwerty123456', 'my-quentin.example-pass'];
    const rules = new Set<string>();
    for (const pw of cases) {
      const r = checkPasswordPolicy(pw, { email });
      assert.equal(r.ok, false);
      if (r.ok) continue;
      rules.add(r.rule);
      assert.ok(r.message.length > 10);
      assert.ok(!r.message.includes(pw), r.rule);
      assert.ok(!r.message.toLowerCase().includes('quentin'), r.rule);
    }
    assert.deepEqual([...rules].sort(), ['common', 'contains_email', 'too_long', 'too_short']);
  });
});
