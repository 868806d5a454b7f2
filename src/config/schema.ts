import { type Static, Type as T } from '@sinclair/typebox';

/**
 * The one configuration schema. Every setting has a default here, so a fresh checkout runs with
 * no configuration at all (SQLite in ./data, in-memory counters, loopback HTTP).
 *
 * Each leaf is also settable from the environment as PORTCULLIS_<PATH_IN_SNAKE_CASE>, e.g.
 * `tls.certFile` → PORTCULLIS_TLS_CERT_FILE. Settings marked `secret` also accept a `*_FILE`
 * variant (PORTCULLIS_MASTER_KEY_FILE) and are masked wherever the config is printed.
 */

const Port = T.Integer({ minimum: 0, maximum: 65535 });
const Millis = T.Integer({ minimum: 0, maximum: 86_400_000 });

export const ConfigSchema = T.Object(
  {
    host: T.String({ default: '127.0.0.1', minLength: 1, description: 'Address to listen on.' }),
    port: T.Integer({ ...Port, default: 8080, description: 'Port to listen on (0 = any free port).' }),
    dataDir: T.String({
      default: './data',
      minLength: 1,
      description: 'Folder for the embedded SQLite database and the generated local master key.',
    }),
    databaseUrl: T.Optional(
      T.String({
        minLength: 1,
        pattern: '^postgres(ql)?://',
        secret: true,
        description: 'PostgreSQL URL. Unset: embedded SQLite at <dataDir>/portcullis.db.',
      }),
    ),
    redisUrl: T.Optional(
      T.String({
        minLength: 1,
        pattern: '^rediss?://',
        secret: true,
        description: 'Redis URL for counters shared across replicas. Unset: in-process counters.',
      }),
    ),
    masterKey: T.Optional(
      T.String({
        minLength: 1,
        secret: true,
        description:
          'Master key(s) for envelope encryption: base64 of 32 bytes, or "v2:<b64>,v1:<b64>" (first is current).',
      }),
    ),
    allowPlainHttp: T.Boolean({
      default: false,
      description:
        'Serve plain HTTP on a non-loopback address. Only for deployments behind a TLS-terminating proxy listed in trustedProxies.',
    }),
    trustedProxies: T.Array(T.String({ minLength: 1 }), {
      default: [],
      description: 'CIDRs of proxies whose X-Forwarded-For / Forwarded headers are believed.',
    }),
    tls: T.Object(
      {
        certFile: T.Optional(T.String({ minLength: 1, description: 'PEM certificate chain.' })),
        keyFile: T.Optional(T.String({ minLength: 1, description: 'PEM private key.' })),
        minVersion: T.Union([T.Literal('TLSv1.3'), T.Literal('TLSv1.2')], {
          default: 'TLSv1.3',
          description: 'Lowest TLS version accepted. TLSv1.2 only by explicit choice; never lower.',
        }),
        hstsMaxAgeSeconds: T.Integer({ minimum: 0, default: 31_536_000 }),
      },
      { default: {}, additionalProperties: false },
    ),
    limits: T.Object(
      {
        bodyBytes: T.Integer({
          minimum: 1024,
          maximum: 104_857_600,
          default: 4_194_304,
          description: 'Largest request body accepted (413 above).',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    timeouts: T.Object(
      {
        headersMs: T.Integer({
          ...Millis,
          default: 10_000,
          description: 'Time a client has to send headers.',
        }),
        requestMs: T.Integer({
          ...Millis,
          default: 30_000,
          description: 'Time a client has to send the whole request body.',
        }),
        idleMs: T.Integer({ ...Millis, default: 5_000, description: 'Keep-alive idle timeout.' }),
        shutdownMs: T.Integer({
          ...Millis,
          default: 30_000,
          description: 'On SIGTERM, how long in-flight requests and streams may run before they are cut.',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    egress: T.Object(
      {
        allow: T.Array(T.String({ minLength: 1 }), {
          default: [],
          description: 'Private hosts or CIDRs that outbound calls may reach (e.g. a local vLLM).',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    upstream: T.Object(
      {
        connectTimeoutMs: T.Integer({
          ...Millis,
          default: 5_000,
          description: 'Time to open a connection to a provider.',
        }),
        firstByteTimeoutMs: T.Integer({
          ...Millis,
          default: 120_000,
          description: 'Deadline for a provider to start answering (non-streaming: the whole answer).',
        }),
        idleTimeoutMs: T.Integer({
          ...Millis,
          default: 60_000,
          description: 'Longest silence allowed between two chunks of a provider answer.',
        }),
        maxRetries: T.Integer({
          minimum: 0,
          maximum: 10,
          default: 2,
          description: 'Retries per target on connection errors, 429 and 5xx before the first byte.',
        }),
        retryBaseMs: T.Integer({
          ...Millis,
          default: 200,
          description: 'Base of the jittered exponential backoff.',
        }),
        maxRetryAfterMs: T.Integer({
          ...Millis,
          default: 10_000,
          description:
            'Longest provider retry-after honoured by waiting; longer ones move on to the next target.',
        }),
        maxResponseBytes: T.Integer({
          minimum: 1024,
          default: 67_108_864,
          description: 'Largest non-streaming provider answer read into memory.',
        }),
        breakerFailures: T.Integer({
          minimum: 1,
          default: 5,
          description: 'Consecutive failures that open a target circuit breaker.',
        }),
        breakerCooldownMs: T.Integer({
          ...Millis,
          default: 30_000,
          description: 'How long an open circuit refuses a target before one trial request.',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    log: T.Object(
      {
        level: T.Union(
          ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => T.Literal(l)),
          { default: 'info' },
        ),
      },
      { default: {}, additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;

/** Environment variable names kept for convenience and compatibility (e.g. the usual DATABASE_URL). */
export const ENV_ALIASES: Readonly<Record<string, string>> = {
  DATABASE_URL: 'databaseUrl',
  REDIS_URL: 'redisUrl',
};
