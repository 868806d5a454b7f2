import { generateSecret, generateSync, verifySync } from 'otplib';
import QRCode from 'qrcode';

/**
 * TOTP (RFC 6238) as every authenticator app implements it: HMAC-SHA1, 6 digits, 30-second steps,
 * T0 = 0. otplib does the HOTP arithmetic (RFC 4226 §5.3 dynamic truncation) and compares codes in
 * constant time; this module fixes the parameters, the tolerance window and replay protection.
 */

export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;
/** RFC 4226 §4 R6 recommends 160-bit shared secrets. */
const SECRET_BYTES = 20;
/** RFC 6238 §5.2: accept one step either side for clock drift and typing time. */
const WINDOW_STEPS = 1;

/** A new shared secret: 160 random bits, base32 (RFC 4648 §6) without padding, 32 characters. */
export function newTotpSecret(): string {
  return generateSecret({ length: SECRET_BYTES });
}

/** The time step an instant falls in: floor(epochSeconds / 30) (RFC 6238 §4.2, T0 = 0). */
export function totpStepAt(epochMs: number): number {
  return Math.floor(epochMs / 1000 / TOTP_PERIOD_SECONDS);
}

/**
 * The provisioning URI in Google's Key Uri Format
 * (https://github.com/google/google-authenticator/wiki/Key-Uri-Format), with every parameter spelt
 * out so apps that ignore defaults still agree. The label is "Issuer:account"; the format forbids a
 * colon inside either part, so one is refused rather than silently producing a different label.
 */
export function totpUri({
  secret,
  account,
  issuer,
}: {
  secret: string;
  account: string;
  issuer: string;
}): string {
  if (!issuer || !account) throw new TypeError('TOTP issuer and account must not be empty');
  if (issuer.includes(':') || account.includes(':'))
    throw new TypeError('TOTP issuer and account must not contain ":" (Key Uri Format)');
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(account)}`;
  const query = [
    `secret=${encodeURIComponent(secret)}`,
    `issuer=${encodeURIComponent(issuer)}`,
    'algorithm=SHA1',
    `digits=${TOTP_DIGITS}`,
    `period=${TOTP_PERIOD_SECONDS}`,
  ].join('&');
  return `otpauth://totp/${label}?${query}`;
}

/** The code an authenticator shows at `epochMs` (tests and the CLI's test helpers). */
export function totpCodeAt(secret: string, epochMs: number): string {
  return generateSync({
    secret,
    epoch: Math.floor(epochMs / 1000),
    period: TOTP_PERIOD_SECONDS,
    digits: TOTP_DIGITS,
    algorithm: 'sha1',
  });
}

export type TotpResult = { ok: true; step: number } | { ok: false };

const SIX_DIGITS = /^[0-9]{6}$/;

/**
 * Checks a code typed by the user at `now` (epoch milliseconds, from the injected Clock).
 *
 * Accepts the steps now-1, now and now+1, and returns the step that matched; the caller stores it
 * and passes it back as `lastStep` next time. A code whose step is ≤ lastStep is refused even if it
 * is correct: each code (and any earlier one) is usable once (RFC 6238 §5.2, "the verifier MUST
 * NOT accept the second attempt of the OTP after the successful validation").
 *
 * Throws only for a stored secret that is not valid base32 of 16..64 bytes (a server-side fault);
 * the error never contains the secret.
 */
export function verifyTotp({
  secret,
  code,
  now,
  lastStep,
}: {
  secret: string;
  code: string;
  now: number;
  lastStep?: number | null;
}): TotpResult {
  // Cheap refusals first: anything but exactly six ASCII digits costs no HMAC.
  if (typeof code !== 'string' || !SIX_DIGITS.test(code)) return { ok: false };
  if (!Number.isFinite(now) || now < 0) return { ok: false };
  const newest = totpStepAt(now) + WINDOW_STEPS;
  let afterTimeStep: number | undefined;
  if (lastStep !== undefined && lastStep !== null) {
    if (!Number.isSafeInteger(lastStep)) return { ok: false };
    // Every step in the window is already used (otplib would throw for this; it is just a refusal).
    if (lastStep >= newest) return { ok: false };
    if (lastStep >= 0) afterTimeStep = lastStep;
  }
  let result: ReturnType<typeof verifySync>;
  try {
    result = verifySync({
      secret,
      token: code,
      epoch: Math.floor(now / 1000),
      period: TOTP_PERIOD_SECONDS,
      digits: TOTP_DIGITS,
      algorithm: 'sha1',
      // In seconds: one period either side is exactly steps now-1 .. now+1.
      epochTolerance: WINDOW_STEPS * TOTP_PERIOD_SECONDS,
      afterTimeStep,
    });
  } catch {
    // Code, time and lastStep were validated above, so what is left is the secret. Its error
    // message could quote it, so it is not passed on.
    throw new Error('stored TOTP secret is not valid base32 of 16 to 64 bytes');
  }
  if (!result.valid || !('timeStep' in result)) return { ok: false };
  return { ok: true, step: result.timeStep };
}

/** The provisioning URI as an SVG QR code, for the dashboard's enrolment page. */
export function totpQrSvg(uri: string): Promise<string> {
  // Error correction "M" (15%) keeps the code small enough to scan at dashboard sizes.
  return QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
}
