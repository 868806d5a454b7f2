import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { decodeProtectedHeader, SignJWT } from 'jose';
import { dumpDatabase, ManualClock } from '../../test/contract/keys-helpers.ts';
import { dialects, type IdentityPlace, openIdentityPlace } from '../../test/helpers/identity.ts';
import { keyIdOf, SIGNING_PURPOSE, SIGNING_SECRET_ID } from '../audit/signer.ts';
import {
  type AccessTokens,
  accessTokensWith,
  JWT_PURPOSE,
  JWT_SECRET_ID,
  loadAccessTokens,
} from './access-tokens.ts';

/**
 * User access tokens (RFC 9068 JWTs, EdDSA): a round trip, and every way a forged, stale or
 * malformed token must be refused — as `undefined`, never an exception (RFC 8725 §2: algorithm
 * confusion, `alg: none`, missing claims).
 */

const TTL = 900;
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function fixture(ttl = TTL) {
  const clock = new ManualClock();
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const tokens = accessTokensWith(privateKey, clock, ttl);
  const kid = keyIdOf(publicKey);
  const nowS = () => Math.floor(clock.now() / 1000);
  /** A token signed with the real key, with any header and claims a forger might choose. */
  const signed = (
    claims: Record<string, unknown>,
    header: Record<string, unknown> = {},
    key: KeyObject = privateKey,
  ) => new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid, ...header }).sign(key);
  const good = () => ({
    iss: 'portcullis',
    aud: 'portcullis-admin',
    sub: 'usr_1',
    sid: 'ses_1',
    amr: ['pwd'],
    iat: nowS(),
    exp: nowS() + ttl,
  });
  return { clock, tokens, privateKey, publicKey, kid, signed, good };
}

const issue = (tokens: AccessTokens) =>
  tokens.issue({ userId: 'usr_1', sessionId: 'ses_1', amr: ['pwd', 'otp'] });

describe('access tokens', () => {
  it('round trip: the claims come back, typed at+jwt, EdDSA, at most the ttl', async () => {
    const { tokens, clock, kid } = fixture();
    const { token, expiresAt } = await issue(tokens);
    assert.deepEqual(decodeProtectedHeader(token), { alg: 'EdDSA', typ: 'at+jwt', kid });
    assert.equal(expiresAt, Math.floor(clock.now() / 1000) * 1000 + TTL * 1000);
    assert.deepEqual(await tokens.verify(token), {
      userId: 'usr_1',
      sessionId: 'ses_1',
      amr: ['pwd', 'otp'],
      expiresAt,
    });
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString());
    assert.equal(payload.exp - payload.iat, TTL);
    assert.match(payload.jti, /^req_/);
    assert.notEqual((await issue(tokens)).token, token, 'every token is unique (jti)');
  });

  it('expires: valid one second before exp, refused at exp and after', async () => {
    const { tokens, clock } = fixture();
    const { token } = await issue(tokens);
    clock.advance(TTL * 1000 - 1000);
    assert.ok(await tokens.verify(token));
    clock.advance(1000);
    assert.equal(await tokens.verify(token), undefined);
    clock.advance(365 * 86_400_000);
    assert.equal(await tokens.verify(token), undefined);
  });

  it('refuses a token signed by another key, even one claiming our kid', async () => {
    const ours = fixture();
    const theirs = fixture();
    assert.equal(await ours.tokens.verify((await issue(theirs.tokens)).token), undefined);
    const forged = await ours.signed(ours.good(), {}, theirs.privateKey);
    assert.equal(await ours.tokens.verify(forged), undefined);
  });

  it('refuses alg none and HS256 keyed with the public key (algorithm confusion)', async () => {
    const { tokens, publicKey, kid, good } = fixture();
    const claims = b64(good());
    for (const alg of ['none', 'None', 'NONE']) {
      const header = b64({ alg, typ: 'at+jwt', kid });
      assert.equal(await tokens.verify(`${header}.${claims}.`), undefined, alg);
      assert.equal(await tokens.verify(`${header}.${claims}`), undefined, alg);
    }
    // RFC 8725 §2.1: a verifier that lets the token pick the algorithm would check this HMAC with
    // the public key bytes as the secret. Try every form a confused verifier might use.
    const secrets = [
      publicKey.export({ format: 'pem', type: 'spki' }),
      publicKey.export({ format: 'der', type: 'spki' }),
      Buffer.from(publicKey.export({ format: 'jwk' }).x ?? '', 'base64url'),
    ];
    for (const secret of secrets) {
      for (const alg of ['HS256', 'HS512']) {
        const header = b64({ alg, typ: 'at+jwt', kid });
        const mac = createHmac(`sha${alg.slice(2)}`, secret)
          .update(`${header}.${claims}`)
          .digest('base64url');
        assert.equal(await tokens.verify(`${header}.${claims}.${mac}`), undefined, alg);
      }
    }
  });

  it('refuses a wrong typ, audience, issuer, or a missing kid', async () => {
    const { tokens, signed, good } = fixture();
    assert.ok(await tokens.verify(await signed(good())), 'the fixture itself is valid');
    assert.ok(
      await tokens.verify(await signed(good(), { typ: 'application/at+jwt' })),
      'RFC 9068 §2.1 long form',
    );
    for (const typ of ['JWT', 'jwt', 'dpop+jwt', 'at+jwt2']) {
      assert.equal(await tokens.verify(await signed(good(), { typ })), undefined, typ);
    }
    for (const aud of ['portcullis', 'other', ['other']]) {
      assert.equal(await tokens.verify(await signed({ ...good(), aud })), undefined, JSON.stringify(aud));
    }
    for (const iss of ['evil', 'Portcullis', '']) {
      assert.equal(await tokens.verify(await signed({ ...good(), iss })), undefined, iss);
    }
    assert.equal(await tokens.verify(await signed(good(), { kid: undefined })), undefined, 'no kid');
    assert.equal(await tokens.verify(await signed(good(), { kid: 'other' })), undefined, 'other kid');
  });

  it('refuses a tampered payload or header', async () => {
    const { tokens } = fixture();
    const { token } = await issue(tokens);
    const [header, payload, sig] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    for (const change of [
      { sub: 'usr_admin' },
      { sid: 'ses_2' },
      { exp: claims.exp + 1 },
      { amr: ['pwd', 'otp', 'x'] },
    ]) {
      assert.equal(await tokens.verify(`${header}.${b64({ ...claims, ...change })}.${sig}`), undefined);
    }
    const h = JSON.parse(Buffer.from(header, 'base64url').toString());
    assert.equal(await tokens.verify(`${b64({ ...h, typ: 'JWT' })}.${payload}.${sig}`), undefined);
    // Flip one bit of the signature.
    const bytes = Buffer.from(sig, 'base64url');
    bytes[0] = (bytes[0] ?? 0) ^ 1;
    assert.equal(await tokens.verify(`${header}.${payload}.${bytes.toString('base64url')}`), undefined);
  });

  it('refuses a lifetime longer than the ttl and missing or mistyped claims', async () => {
    const { tokens, signed, good } = fixture();
    const base = good();
    assert.equal(await tokens.verify(await signed({ ...base, exp: base.iat + TTL + 1 })), undefined);
    assert.equal(await tokens.verify(await signed({ ...base, iat: base.iat - 3600 })), undefined);
    for (const claim of ['sid', 'sub', 'iat', 'exp'] as const) {
      const { [claim]: _dropped, ...rest } = base;
      assert.equal(await tokens.verify(await signed(rest)), undefined, `missing ${claim}`);
    }
    for (const change of [
      { sid: 42 },
      { sid: null },
      { sub: ['usr_1'] },
      { exp: String(base.exp) },
      { iat: 'x' },
    ]) {
      assert.equal(
        await tokens.verify(await signed({ ...base, ...change })),
        undefined,
        JSON.stringify(change),
      );
    }
    assert.ok(await tokens.verify(await signed({ ...base, nbf: base.iat })), 'nbf is allowed');
    assert.equal(
      await tokens.verify(await signed({ ...base, nbf: base.iat + 60 })),
      undefined,
      'not yet valid',
    );
    const noisyAmr = await tokens.verify(await signed({ ...base, amr: ['pwd', 7, { x: 1 }] }));
    assert.deepEqual(noisyAmr?.amr, ['pwd'], 'non-string methods are dropped');
  });

  it('answers undefined, never throws, for garbage of any size', async () => {
    const { tokens, kid } = fixture();
    const { token } = await issue(tokens);
    const junk = [
      '',
      '.',
      '..',
      '...',
      'a.b.c',
      'Bearer x',
      token.slice(0, -1),
      `${token}.`,
      `${token}x`,
      ` ${token}`,
      token.replaceAll('.', ''),
      '\u0000\u0000\u0000',
      '💥.💥.💥',
      `${b64({ alg: 'EdDSA', typ: 'at+jwt', kid })}.${'A'.repeat(5000)}.${'A'.repeat(86)}`,
      'x'.repeat(5 * 1024),
      `${'e'.repeat(2048)}.${'e'.repeat(2048)}.${'e'.repeat(1024)}`,
      `${b64({ alg: 'EdDSA', crit: ['b64'], b64: false })}.${b64({})}.`,
      `${b64('not an object')}.${b64('x')}.AAAA`,
    ];
    for (const value of junk) {
      assert.equal(await tokens.verify(value), undefined, JSON.stringify(value.slice(0, 40)));
    }
  });
});

describe('loadAccessTokens', () => {
  const places: IdentityPlace[] = [];
  after(async () => {
    for (const p of places) await p.close();
  });

  for (const d of dialects) {
    it(`creates the signing key once, even under concurrent loads (${d.name})`, {
      skip: d.skip,
    }, async () => {
      const clock = new ManualClock();
      const place = await openIdentityPlace(d.name, clock);
      places.push(place);
      const load = () => loadAccessTokens({ vault: place.vault, clock, ttlSeconds: TTL });
      const [a, b, c] = await Promise.all([load(), load(), load()]);
      assert.ok(a && b && c);
      for (const [issuer, verifier] of [
        [a, b],
        [b, c],
        [c, a],
      ] as const) {
        assert.ok(await verifier.verify((await issue(issuer)).token), 'one key for every loader');
      }
      const later = await load();
      assert.ok(await later.verify((await issue(a)).token), 'a restart keeps the key');
      const rows = await place.store.db.selectFrom('secrets').select(['id', 'purpose']).execute();
      assert.deepEqual(
        rows.filter((r) => r.id === JWT_SECRET_ID),
        [{ id: JWT_SECRET_ID, purpose: JWT_PURPOSE }],
      );
      // Never the audit checkpoint key: a token signature must not double as a checkpoint signature.
      const checkpointKey = await place.vault.get(SIGNING_SECRET_ID, SIGNING_PURPOSE);
      assert.notEqual(await place.vault.get(JWT_SECRET_ID, JWT_PURPOSE), checkpointKey);
      // Stored sealed: the private key's bytes appear nowhere in the database.
      const pkcs8 = await place.vault.get(JWT_SECRET_ID, JWT_PURPOSE);
      const dump = await dumpDatabase(place.store);
      assert.ok(!dump.includes(pkcs8));
      assert.ok(!dump.includes(Buffer.from(pkcs8, 'base64').subarray(16).toString('base64url')));
    });
  }
});
