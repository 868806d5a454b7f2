import pino, { type DestinationStream, type Logger } from 'pino';
import type { Config } from './config/schema.ts';

/**
 * Structured JSON logs. Code must never hand a secret to the logger in the first place; the
 * redaction list below is the last line of defence for the places a secret could slip through
 * (headers, bodies of admin calls, error objects).
 */
const SECRET_FIELDS = [
  'authorization',
  'proxy-authorization',
  'x-api-key',
  'api-key',
  'cookie',
  'set-cookie',
  'password',
  'newPassword',
  'currentPassword',
  'token',
  'accessToken',
  'refreshToken',
  'access_token',
  'refresh_token',
  'apiKey',
  'api_key',
  'key',
  'secret',
  'masterKey',
  'databaseUrl',
  'redisUrl',
  'code',
];

export const REDACT_PATHS: string[] = [
  ...SECRET_FIELDS.map((f) => `req.headers["${f}"]`),
  ...SECRET_FIELDS.map((f) => `headers["${f}"]`),
  ...SECRET_FIELDS.filter((f) => f !== 'code' && f !== 'key').map((f) => `*["${f}"]`),
  ...SECRET_FIELDS.filter((f) => f !== 'code' && f !== 'key').map((f) => `*.*["${f}"]`),
];

export function createLogger(config: Pick<Config, 'log'>, destination?: DestinationStream): Logger {
  return pino(
    {
      level: config.log.level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { service: 'portcullis' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

export type { Logger };
