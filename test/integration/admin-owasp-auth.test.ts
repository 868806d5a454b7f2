import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT } from 'jose';
import { systemClock } from '../../src/clock.ts';
import { JWT_PURPOSE, JWT_SECRET_ID } from '../../src/identity/access-tokens.ts';
import { totpCodeAt } from '../../src/identity/totp.ts';
import { createVault } from '../../src/secrets/vault.ts';
import { assertNothingLeaked, twoTenants } from '../helpers/admin-tenants.ts';
import {
  type AdminSuite,
  type Answer,
  type Credentials,
  type Person,
  randomIp,
  refusalOf,
  startAdminSuite,
} from '../helpers/admin-users.ts';

/**
 * OWASP API2 (2023), broken authentication, against the admin API through real HTTP: forged,
 * expired, `alg: none`, algorithm-confused and misaddressed access tokens; logout and session
 * revocation; refresh-token reuse (RFC 9700 §4.14.2); a password change ending the other
 * sessions; login failures that answer alike (no enumeration, and no hint that a password was
 * right when the code was not); TOTP replay (RFC 6238 §5.2) and single-use recovery codes; the
 * progressive delay and lock per account and per client IP. Ends with the same data-exposure
 * check as admin-owasp.test.ts, over these answers and logs.
 */

// Quick lockout: 3 free failures, then waits doubling from 1 s, a lock at 5 (config auth.login).
const LOGIN_ENV = {
  PORTCULLIS_AUTH_LOGIN_FREE_FAILURES: '3',
  PORTCULLIS_AUTH_LOGIN_IP_FREE_FAILURES: '3',
  PORTCULLIS_AUTH_LOGIN_ACCOUNT_LOCK_AFTER: '5',
  PORTCULLIS_AUTH_LOGIN_IP_LOCK_AFTER: '1000',
  PORTCULLIS_AUTH_LOGIN_WINDOW_MS: '60000',
  PORTCULLIS_AUTH_LOGIN_LOCK_MS: '60000',
};

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const decode = (part: string | undefined) =>
  JSON.parse(Buffer.from(part ?? '', 'base64url').toString()) as Record<string, unknown>;

/** Not within 3 s of a TOTP step boundary, so codes computed now keep their step while used. */
async function awayFromStepEdge(): Promise<void> {
  const into = Date.now() % 30_000;
  if (into > 27_000) await sleep(30_000 - into + 200);
}

describe('admin API: OWASP API2 broken authentication', () => {
  let s: AdminSuite;
  let acme: string;
  let ownerA: Person;
  let adminA: Person;
  let userA: Person;
  let ownerB: Person;
  let mfa: Person & { secret: string; recoveryCodes: string[] };
  let signingKey: KeyObject;
  let header: Record<string, unknown>;
  let claims: Record<string, unknown>;
  const inA = (p: Person): Credentials => ({ token: p.token, workspace: acme });
  /** Logins expected to fail come from fresh addresses, so the per-IP throttle does not carry over. */
  const login = (email: string, password: string, code?: string) =>
    s.login(email, password, { clientIp: randomIp(), ...(code === undefined ? {} : { code }) });
  const me = (authorization: string) => s.call({ authorization }, { method: 'GET', path: '/auth/me' });
  const sign = (
    h: Record<string, unknown>,
    c: Record<string, unknown>,
    key: KeyObject | Uint8Array = signingKey,
  ) => new SignJWT(c).setProtectedHeader(h as { alg: string }).sign(key);

  before(async () => {
    s = await startAdminSuite('admin_owasp_auth', LOGIN_ENV);
    ({ acme, ownerA, adminA, userA, ownerB } = await twoTenants(s));

    // A member of A with MFA on (confirmed one step back, so the current step is free for a login).
    const m = await s.invite(inA(ownerA), {
      email: s.email('mfa'),
      role: 'user',
      password: s.password(),
    });
    const enroll = await s.call(inA(m), {
      method: 'POST',
      path: '/auth/mfa/enroll',
      body: { password: m.password },
    });
    await awayFromStepEdge();
    const confirm = await s.call(inA(m), {
      method: 'POST',
      path: '/auth/mfa/confirm',
      body: { code: totpCodeAt(enroll.body.secret, Date.now() - 30_000) },
    });
    assert.equal(confirm.status, 200, confirm.text);
    mfa = { ...m, secret: enroll.body.secret, recoveryCodes: confirm.body.recoveryCodes };

    // The real signing key, so each forged token below differs from a valid one in one property only.
    const vault = createVault({ store: s.dp.gateway.store, keys: s.dp.gateway.keys, clock: systemClock });
    const pkcs8 = await vault.get(JWT_SECRET_ID, JWT_PURPOSE);
    signingKey = createPrivateKey({ key: Buffer.from(pkcs8, 'base64'), format: 'der', type: 'pkcs8' });
    const [h, c] = userA.token.split('.');
    header = decode(h);
    claims = decode(c);
  });

  after(async () => {
    await s?.close();
  });

  it('refuses expired, forged, alg:none, HS256-with-the-public-key, mistyped and misaddressed tokens alike (401)', async () => {
    const now = Math.floor(Date.now() / 1000);
    const fresh = { ...claims, iat: now, exp: now + 600 };
    const control = await me(`Bearer ${await sign(header, fresh)}`);
    assert.equal(
      control.status,
      200,
      'a token made like ours, with our key, works: the forgeries differ in one thing each',
    );

    const publicKey = createPublicKey(signingKey);
    const spkiPem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const spkiDer = publicKey.export({ format: 'der', type: 'spki' });
    const rawX = Buffer.from(String(publicKey.export({ format: 'jwk' }).x), 'base64url');
    const [h0, c0, sig0] = userA.token.split('.');
    const tokens: Record<string, string> = {
      expired: await sign(header, { ...claims, iat: now - 1000, exp: now - 100 }),
      'lifetime longer than ours': await sign(header, { ...claims, iat: now, exp: now + 3600 }),
      'wrong issuer': await sign(header, { ...fresh, iss: 'someone-else' }),
      'wrong audience': await sign(header, { ...fresh, aud: 'portcullis-dataplane' }),
      'wrong typ': await sign({ ...header, typ: 'JWT' }, fresh),
      'no typ': await sign({ alg: 'EdDSA', kid: header.kid }, fresh),
      'unknown kid': await sign({ ...header, kid: 'feedfacefeedface' }, fresh),
      'no session': await sign(header, { ...fresh, sid: undefined }),
      "another user's session": await sign(header, { ...fresh, sid: ownerB.sessionId }),
      'another user, this session': await sign(header, { ...fresh, sub: ownerB.id }),
      'signed by another key': await sign(header, fresh, generateKeyPairSync('ed25519').privateKey),
      'payload swapped under a real signature': `${h0}.${b64({ ...decode(c0), sub: ownerA.id })}.${sig0}`,
      'alg none': `${b64({ ...header, alg: 'none' })}.${b64(fresh)}.`,
      'HS256 keyed with the public key (PEM)': await sign(
        { ...header, alg: 'HS256' },
        fresh,
        new TextEncoder().encode(spkiPem),
      ),
      'HS256 keyed with the public key (DER)': await sign({ ...header, alg: 'HS256' }, fresh, spkiDer),
      'HS256 keyed with the raw public key': await sign({ ...header, alg: 'HS256' }, fresh, rawX),
      garbage: 'not-a-jwt',
      huge: `${h0}.${'A'.repeat(5000)}.${sig0}`,
    };
    const first = await me('Bearer not-a-jwt');
    for (const [what, token] of Object.entries(tokens)) {
      const res = await me(`Bearer ${token}`);
      assert.equal(res.status, 401, `${what}: ${res.text}`);
      assert.deepEqual(refusalOf(res), refusalOf(first), what);
      assert.equal(res.body.error.code, 'invalid_access_token', what);
      assert.equal(res.headers.get('www-authenticate'), 'Bearer error="invalid_token"', what);
    }
    // The same forgeries get no further on a workspace route.
    const keys = await s.call(
      { authorization: `Bearer ${tokens['alg none']}`, workspace: acme },
      { method: 'GET', path: '/keys' },
    );
    assert.equal(keys.status, 401);
  });

  it('a logged-out session, and a revoked one, are refused at once', async () => {
    const session = await s.person(userA.email, userA.password);
    const other = await s.person(userA.email, userA.password);
    assert.equal(
      (await s.call({ token: session.token }, { method: 'POST', path: '/auth/logout' })).status,
      200,
    );
    assert.equal((await me(`Bearer ${session.token}`)).status, 401);
    const refreshed = await s.call(
      { anonymous: true },
      { method: 'POST', path: '/auth/refresh', body: { refreshToken: session.refreshToken } },
    );
    assert.equal(refreshed.status, 401);
    const revoke = await s.call(
      { token: userA.token },
      { method: 'DELETE', path: `/auth/sessions/${other.sessionId}` },
    );
    assert.equal(revoke.status, 200, revoke.text);
    assert.equal((await me(`Bearer ${other.token}`)).status, 401);
  });

  it('a reused refresh token is 401 refresh_token_reused and ends the whole session', async () => {
    const session = await s.person(userA.email, userA.password);
    const rotated = await s.call(
      { anonymous: true },
      { method: 'POST', path: '/auth/refresh', body: { refreshToken: session.refreshToken } },
    );
    assert.equal(rotated.status, 200, rotated.text);
    assert.notEqual(rotated.body.refreshToken, session.refreshToken);
    assert.equal((await me(`Bearer ${rotated.body.accessToken}`)).status, 200);
    const reused = await s.call(
      { anonymous: true },
      { method: 'POST', path: '/auth/refresh', body: { refreshToken: session.refreshToken } },
    );
    assert.equal(reused.status, 401);
    assert.equal(reused.body.error.code, 'refresh_token_reused');
    assert.equal(
      (await me(`Bearer ${rotated.body.accessToken}`)).status,
      401,
      'the access token of that session stops',
    );
    assert.equal((await me(`Bearer ${session.token}`)).status, 401);
    const next = await s.call(
      { anonymous: true },
      { method: 'POST', path: '/auth/refresh', body: { refreshToken: rotated.body.refreshToken } },
    );
    assert.equal(next.status, 401, 'and so does the newest refresh token of the family');
    assert.equal((await me(`Bearer ${userA.token}`)).status, 200, 'other sessions are not touched');
  });

  it('a password change ends every other session and keeps the one that made it', async () => {
    const oldPassword = s.password();
    const rotator = await s.invite(inA(ownerA), {
      email: s.email('rotator'),
      role: 'user',
      password: oldPassword,
    });
    const elsewhere = await s.person(rotator.email, oldPassword);
    const newOne = s.password();
    const wrong = await s.call(
      { token: rotator.token },
      {
        method: 'POST',
        path: '/auth/password',
        body: { currentPassword: `${oldPassword}x`, newPassword: newOne },
        clientIp: randomIp(),
      },
    );
    assert.equal(wrong.status, 401, 'the current password is checked');
    const changed = await s.call(
      { token: rotator.token },
      {
        method: 'POST',
        path: '/auth/password',
        body: { currentPassword: oldPassword, newPassword: newOne },
      },
    );
    assert.equal(changed.status, 200, changed.text);
    assert.equal(changed.body.revokedSessions, 1);
    assert.equal((await me(`Bearer ${elsewhere.token}`)).status, 401, 'the other session is over');
    const stale = await s.call(
      { anonymous: true },
      { method: 'POST', path: '/auth/refresh', body: { refreshToken: elsewhere.refreshToken } },
    );
    assert.equal(stale.status, 401);
    assert.equal((await me(`Bearer ${rotator.token}`)).status, 200, 'the session that changed it goes on');
    const refreshed = await s.call(
      { anonymous: true },
      { method: 'POST', path: '/auth/refresh', body: { refreshToken: rotator.refreshToken } },
    );
    assert.equal((await me(`Bearer ${refreshed.body.accessToken}`)).status, 200);
    assert.equal((await login(rotator.email, oldPassword)).status, 401);
    assert.equal((await login(rotator.email, newOne)).status, 200);
  });

  it('login failures answer identically: unknown email, wrong password, missing code, wrong code', async () => {
    const valid = new Set([-30_000, 0, 30_000].map((d) => totpCodeAt(mfa.secret, Date.now() + d)));
    const wrongCode = ['123456', '654321', '000001'].find((c) => !valid.has(c)) ?? '999999';
    const attempts = {
      'unknown email': await login(s.email('nobody'), s.password()),
      'wrong password': await login(userA.email, s.password()),
      'missing code': await login(mfa.email, mfa.password),
      'wrong code': await login(mfa.email, mfa.password, wrongCode),
      'wrong password, right code': await login(mfa.email, s.password(), totpCodeAt(mfa.secret, Date.now())),
    };
    const expected = refusalOf(attempts['unknown email']);
    assert.equal(expected.status, 401);
    assert.equal(expected.code, 'invalid_credentials');
    for (const [what, res] of Object.entries(attempts)) assert.deepEqual(refusalOf(res), expected, what);
  });

  it('a TOTP code works once (replay refused), and so does each recovery code', async () => {
    await awayFromStepEdge();
    const now = Date.now();
    assert.equal((await login(mfa.email, mfa.password, totpCodeAt(mfa.secret, now))).status, 200);
    const replay = await login(mfa.email, mfa.password, totpCodeAt(mfa.secret, now));
    assert.equal(replay.status, 401, 'the same code again');
    assert.equal(replay.body.error.code, 'invalid_credentials');
    assert.equal(
      (await login(mfa.email, mfa.password, totpCodeAt(mfa.secret, now - 30_000))).status,
      401,
      'an older code',
    );
    assert.equal(
      (await login(mfa.email, mfa.password, totpCodeAt(mfa.secret, now + 30_000))).status,
      200,
      'the next one is fine',
    );

    const [first, second] = mfa.recoveryCodes;
    const used = await login(mfa.email, mfa.password, first);
    assert.equal(used.status, 200, used.text);
    assert.equal((await login(mfa.email, mfa.password, first)).status, 401, 'a recovery code is spent');
    const typed = (second ?? '').toUpperCase().replace('-', ' ');
    assert.equal((await login(mfa.email, mfa.password, typed)).status, 200, 'typed in capitals with a space');
  });

  it('MFA cannot be bypassed: enrolling needs the password, an invitation needs the code of an MFA account', async () => {
    // A stolen access token alone cannot attach the thief's authenticator.
    const noPassword = await s.call(inA(userA), { method: 'POST', path: '/auth/mfa/enroll', body: {} });
    assert.equal(noPassword.status, 400, noPassword.text);
    const wrong = await s.call(inA(userA), {
      method: 'POST',
      path: '/auth/mfa/enroll',
      body: { password: s.password() },
    });
    assert.equal(wrong.status, 401, wrong.text);
    assert.equal(wrong.body.error.code, 'invalid_credentials');

    // Another workspace's Owner invites the MFA user's email: its password alone does not join.
    const invited = await s.call(
      { token: ownerB.token },
      { method: 'POST', path: '/members', body: { email: mfa.email, role: 'user' } },
    );
    assert.equal(invited.status, 201, invited.text);
    const accept = (code?: string) =>
      s.call(
        { anonymous: true },
        {
          method: 'POST',
          path: '/auth/invitations/accept',
          body: { token: invited.body.token, password: mfa.password, ...(code ? { code } : {}) },
        },
      );
    const passwordOnly = await accept();
    assert.equal(passwordOnly.status, 401, passwordOnly.text);
    assert.equal(passwordOnly.body.error.code, 'invalid_credentials');
    // The TOTP steps near now were spent by the replay test: a recovery code is the second factor.
    const withCode = await accept(mfa.recoveryCodes[2]);
    assert.equal(withCode.status, 200, withCode.text);
  });

  it('repeated failures wait, then lock (429 too_many_login_failures, retry-after) per account, unknown or not, and per IP', async () => {
    const lockedPassword = s.password();
    const locked = await s.invite(inA(ownerA), {
      email: s.email('locked'),
      role: 'user',
      password: lockedPassword,
    });
    const unknown = s.email('ghost');
    const throttled: Answer[] = [];
    for (const email of [locked.email, unknown]) {
      for (let i = 1; i <= 4; i++)
        assert.equal((await login(email, s.password())).status, 401, `${email} failure ${i}`);
      const waiting = await login(email, s.password());
      assert.equal(waiting.status, 429, waiting.text);
      assert.equal(waiting.body.error.code, 'too_many_login_failures');
      assert.ok(Number(waiting.headers.get('retry-after')) >= 1);
      throttled.push(waiting);
    }
    assert.deepEqual(
      refusalOf(throttled[0] as Answer),
      refusalOf(throttled[1] as Answer),
      'an unknown email is throttled alike',
    );

    await sleep(Number(throttled[0]?.headers.get('retry-after')) * 1000 + 100);
    assert.equal((await login(locked.email, s.password())).status, 401, 'the fifth failure');
    const lockedOut = await login(locked.email, lockedPassword);
    assert.equal(lockedOut.status, 429, 'now even the right password waits');
    assert.ok(Number(lockedOut.headers.get('retry-after')) > 30);

    // Per client IP: failures on different accounts from one address add up.
    const ip = randomIp();
    for (let i = 0; i < 4; i++) await s.login(`spray-${i}-${unknown}`, s.password(), { clientIp: ip });
    const sprayed = await s.login(adminA.email, adminA.password, { clientIp: ip });
    assert.equal(sprayed.status, 429);
    assert.equal(
      (await s.login(adminA.email, adminA.password, { clientIp: randomIp() })).status,
      200,
      'elsewhere it works',
    );

    await s.dp.gateway.auditing.events.flush();
    const locks = await s.dp.gateway.store.db
      .selectFrom('audit_log')
      .selectAll()
      .where('action', '=', 'auth.locked')
      .execute();
    assert.ok(locks.length >= 1, 'the lock is audited');
    assert.ok(
      locks.every((l) => !JSON.stringify(l).includes('locked@')),
      'without the email',
    );
  });

  it('excessive data exposure: nothing of the above leaks into an answer or a log line', () => {
    assertNothingLeaked(s);
  });
});
