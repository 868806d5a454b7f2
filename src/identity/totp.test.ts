import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  newTotpSecret,
  TOTP_PERIOD_SECONDS,
  totpCodeAt,
  totpQrSvg,
  totpStepAt,
  totpUri,
  verifyTotp,
} from './totp.ts';

/** RFC 6238 Appendix B: the SHA-1 seed is the ASCII string "12345678901234567890", here in base32. */
const RFC_SEED_BASE32 = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';

/**
 * RFC 6238 Appendix B, SHA1 rows: (time in seconds, 8-digit TOTP). With 6 digits the code is
 * the HOTP value mod 10^6, i.e. the last six digits of the 8-digit value (RFC 4226 §5.3).
 */
const RFC_VECTORS: [number, string][] = [
  [59, '94287082'],
  [1111111109, '07081804'],
  [1111111111, '14050471'],
  [1234567890, '89005924'],
  [2000000000, '69279037'],
  [20000000000, '65353130'],
];

const PERIOD_MS = TOTP_PERIOD_SECONDS * 1000;
/** Some instant well inside a step (not on a boundary), so ±1 step is unambiguous. */
const NOW = 1_767_225_600_000 + 12_345;

describe('TOTP secret and URI', () => {
  it('makes 160-bit base32 secrets, different every time', () => {
    const a = newTotpSecret();
    const b = newTotpSecret();
    assert.match(a, /^[A-Z2-7]{32}$/); // 32 × 5 bits = 160 bits, no padding needed
    assert.notEqual(a, b);
  });

  it('builds an otpauth URI in the Key Uri Format with every parameter explicit', () => {
    const secret = newTotpSecret();
    const uri = totpUri({ secret, account: 'ada+ops@example.com', issuer: 'Portcullis Prod' });
    assert.equal(
      uri,
      `otpauth://totp/Portcullis%20Prod:ada%2Bops%40example.com?secret=${secret}&issuer=Portcullis%20Prod&algorithm=SHA1&digits=6&period=30`,
    );
    const parsed = new URL(uri);
    assert.equal(parsed.protocol, 'otpauth:');
    assert.equal(parsed.searchParams.get('secret'), secret);
    assert.equal(parsed.searchParams.get('issuer'), 'Portcullis Prod');
  });

  it('refuses a colon in issuer or account, and empty values', () => {
    const secret = newTotpSecret();
    assert.throws(() => totpUri({ secret, account: 'a:b@example.com', issuer: 'Portcullis' }), TypeError);
    assert.throws(() => totpUri({ secret, account: 'a@example.com', issuer: 'Port:cullis' }), TypeError);
    assert.throws(() => totpUri({ secret, account: '', issuer: 'Portcullis' }), TypeError);
  });

  it('renders the URI as an SVG QR code', async () => {
    const uri = totpUri({ secret: newTotpSecret(), account: 'ada@example.com', issuer: 'Portcullis' });
    const svg = await totpQrSvg(uri);
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]*viewBox="0 0 \d+ \d+"/);
    assert.match(svg, /<\/svg>\s*$/);
    assert.ok(!svg.includes('<script'));
  });
});

describe('totpCodeAt', () => {
  it('matches the RFC 6238 Appendix B SHA-1 vectors (last six digits)', () => {
    for (const [seconds, eight] of RFC_VECTORS) {
      assert.equal(totpCodeAt(RFC_SEED_BASE32, seconds * 1000), eight.slice(-6), `T=${seconds}`);
    }
  });

  it('is the same for the whole step', () => {
    const secret = newTotpSecret();
    const start = totpStepAt(NOW) * PERIOD_MS;
    assert.equal(totpCodeAt(secret, start), totpCodeAt(secret, start + PERIOD_MS - 1));
    assert.match(totpCodeAt(secret, start), /^[0-9]{6}$/);
  });
});

describe('verifyTotp', () => {
  it('accepts the RFC 6238 vectors at their own time and returns the step', () => {
    for (const [seconds, eight] of RFC_VECTORS) {
      const r = verifyTotp({ secret: RFC_SEED_BASE32, code: eight.slice(-6), now: seconds * 1000 });
      assert.deepEqual(r, { ok: true, step: Math.floor(seconds / 30) }, `T=${seconds}`);
    }
  });

  it('accepts the previous, current and next step (±1) and reports which one matched', () => {
    const secret = newTotpSecret();
    const step = totpStepAt(NOW);
    for (const offset of [-1, 0, 1]) {
      const code = totpCodeAt(secret, NOW + offset * PERIOD_MS);
      assert.deepEqual(
        verifyTotp({ secret, code, now: NOW }),
        { ok: true, step: step + offset },
        `${offset}`,
      );
    }
  });

  it('refuses codes two or more steps away (±2)', () => {
    const secret = newTotpSecret();
    for (const offset of [-3, -2, 2, 3]) {
      const code = totpCodeAt(secret, NOW + offset * PERIOD_MS);
      // A collision with the three accepted codes is possible (1 in ~333,000); skip it if it happens.
      const inWindow = [-1, 0, 1].some((o) => totpCodeAt(secret, NOW + o * PERIOD_MS) === code);
      if (inWindow) continue;
      assert.deepEqual(verifyTotp({ secret, code, now: NOW }), { ok: false }, `${offset}`);
    }
  });

  it('refuses a replay: the same code (same step) once its step is stored', () => {
    const secret = newTotpSecret();
    const code = totpCodeAt(secret, NOW);
    const first = verifyTotp({ secret, code, now: NOW, lastStep: null });
    assert.equal(first.ok, true);
    const lastStep = first.ok ? first.step : -1;
    assert.deepEqual(verifyTotp({ secret, code, now: NOW, lastStep }), { ok: false });
    // Still refused a few seconds later, within the code's window.
    assert.deepEqual(verifyTotp({ secret, code, now: NOW + 20_000, lastStep }), { ok: false });
  });

  it('refuses an older code once a newer one was used (step ≤ lastStep)', () => {
    const secret = newTotpSecret();
    const step = totpStepAt(NOW);
    const previous = totpCodeAt(secret, NOW - PERIOD_MS);
    assert.deepEqual(verifyTotp({ secret, code: previous, now: NOW, lastStep: step }), { ok: false });
    assert.deepEqual(verifyTotp({ secret, code: previous, now: NOW, lastStep: step - 1 }), { ok: false });
  });

  it('accepts a later step after a stored one', () => {
    const secret = newTotpSecret();
    const step = totpStepAt(NOW);
    const next = totpCodeAt(secret, NOW + PERIOD_MS);
    assert.deepEqual(verifyTotp({ secret, code: next, now: NOW, lastStep: step }), {
      ok: true,
      step: step + 1,
    });
    const later = totpCodeAt(secret, NOW + 10 * PERIOD_MS);
    assert.deepEqual(verifyTotp({ secret, code: later, now: NOW + 10 * PERIOD_MS, lastStep: step + 1 }), {
      ok: true,
      step: step + 10,
    });
  });

  it('refuses everything when the stored step is ahead of the window (clock went back)', () => {
    const secret = newTotpSecret();
    const code = totpCodeAt(secret, NOW);
    const step = totpStepAt(NOW);
    assert.deepEqual(verifyTotp({ secret, code, now: NOW, lastStep: step + 1 }), { ok: false });
    assert.deepEqual(verifyTotp({ secret, code, now: NOW, lastStep: step + 1000 }), { ok: false });
  });

  it('refuses malformed codes without computing anything', () => {
    const secret = newTotpSecret();
    const good = totpCodeAt(secret, NOW);
    const bad = [
      '',
      '12345',
      '1234567',
      `${good} `,
      ` ${good}`,
      `${good.slice(0, 3)} ${good.slice(3)}`,
      'abcdef',
      '12345a',
      '١٢٣٤٥٦', // Arabic-Indic digits are not ASCII digits
      '１２３４５６', // fullwidth digits
      '-12345',
      '1e5000',
      good.repeat(1000),
    ];
    for (const code of bad) assert.deepEqual(verifyTotp({ secret, code, now: NOW }), { ok: false }, code);
    assert.deepEqual(verifyTotp({ secret, code: 123456 as unknown as string, now: NOW }), { ok: false });
    assert.deepEqual(verifyTotp({ secret, code: null as unknown as string, now: NOW }), { ok: false });
  });

  it('refuses a wrong code and a code for another secret', () => {
    const secret = newTotpSecret();
    const good = totpCodeAt(secret, NOW);
    const wrong = String((Number(good) + 1) % 1_000_000).padStart(6, '0');
    const inWindow = [-1, 0, 1].some((o) => totpCodeAt(secret, NOW + o * PERIOD_MS) === wrong);
    if (!inWindow) assert.deepEqual(verifyTotp({ secret, code: wrong, now: NOW }), { ok: false });
    const other = newTotpSecret();
    const foreign = totpCodeAt(other, NOW);
    const collides = [-1, 0, 1].some((o) => totpCodeAt(secret, NOW + o * PERIOD_MS) === foreign);
    if (!collides) assert.deepEqual(verifyTotp({ secret, code: foreign, now: NOW }), { ok: false });
  });

  it('refuses a bad time or lastStep instead of throwing', () => {
    const secret = newTotpSecret();
    const code = totpCodeAt(secret, NOW);
    assert.deepEqual(verifyTotp({ secret, code, now: Number.NaN }), { ok: false });
    assert.deepEqual(verifyTotp({ secret, code, now: -1 }), { ok: false });
    assert.deepEqual(verifyTotp({ secret, code, now: NOW, lastStep: 1.5 }), { ok: false });
    assert.deepEqual(verifyTotp({ secret, code, now: NOW, lastStep: Number.POSITIVE_INFINITY }), {
      ok: false,
    });
    // A negative or absent lastStep means "nothing used yet".
    assert.equal(verifyTotp({ secret, code, now: NOW, lastStep: -1 }).ok, true);
    assert.equal(verifyTotp({ secret, code, now: NOW, lastStep: undefined }).ok, true);
  });

  it('throws for a corrupt stored secret, without quoting it', () => {
    const corrupt = ['not base32 at all!!', 'GEZDGNBV', ''];
    for (const secret of corrupt) {
      assert.throws(
        () => verifyTotp({ secret, code: '123456', now: NOW }),
        (err: Error) => !err.message.includes(secret || '\u0000') && /TOTP secret/.test(err.message),
      );
    }
  });
});
