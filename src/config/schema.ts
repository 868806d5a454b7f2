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

/** Brute-force lockout for one subject: `failures` invalid keys within `windowMs` lock it for `cooldownMs`. */
function lockout(failures: number, windowMs: number, cooldownMs: number, subject: string) {
  return T.Object(
    {
      failures: T.Integer({
        minimum: 0,
        maximum: 1_000_000,
        default: failures,
        description: `Invalid API keys allowed per ${subject} within windowMs; 0 turns this lockout off.`,
      }),
      windowMs: T.Integer({ ...Millis, minimum: 1, default: windowMs }),
      cooldownMs: T.Integer({
        ...Millis,
        minimum: 1,
        default: cooldownMs,
        description: 'How long a source over the threshold is refused (429 too_many_auth_failures).',
      }),
    },
    { default: {}, additionalProperties: false },
  );
}

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
        rpm: T.Integer({
          minimum: 0,
          maximum: 1_000_000_000,
          default: 0,
          description: 'Requests per minute across the whole deployment (0 = no global limit).',
        }),
        tpm: T.Integer({
          minimum: 0,
          maximum: 1_000_000_000,
          default: 0,
          description:
            'Tokens (input + output) per minute across the whole deployment (0 = no global limit).',
        }),
        concurrency: T.Integer({
          minimum: 0,
          maximum: 1_000_000,
          default: 0,
          description: 'Requests in flight at once across the whole deployment (0 = no global limit).',
        }),
        defaultMaxTokens: T.Integer({
          minimum: 1,
          maximum: 10_000_000,
          default: 4096,
          description:
            'Output tokens reserved (token limits, worst-case cost) for a request that sets no max_tokens.',
        }),
        exactTokenCountChars: T.Integer({
          minimum: 0,
          maximum: 10_000_000,
          default: 0,
          description:
            'Prompts up to this many characters are counted with js-tiktoken (o200k_base); others are estimated as UTF-8 bytes / 3. Off (0) by default: the encoder costs ~165 MB of memory. Settled to the provider usage either way.',
        }),
        unknownPrice: T.Union([T.Literal('refuse'), T.Literal('zero')], {
          default: 'refuse',
          description:
            'A model without a price when a spend budget applies: refuse the request (403 price_unknown) or count it as $0 (logged).',
        }),
        onCountersDown: T.Union([T.Literal('refuse'), T.Literal('local')], {
          default: 'refuse',
          description:
            'Counters (Redis) unreachable: refuse (503 limits_unavailable, fail closed) or enforce limits in this process only until they return (logged).',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    guardrails: T.Object(
      {
        // Input limits (issue 7 item 2), checked after authentication and before limits or the
        // provider: each violation is a 400 input_limit_exceeded naming the limit and the field.
        input: T.Object(
          {
            maxMessages: T.Integer({
              minimum: 1,
              maximum: 1_000_000,
              default: 1000,
              description: 'Most conversation turns (messages, or Responses API input items) in one request.',
            }),
            maxTextChars: T.Integer({
              minimum: 1,
              maximum: 100_000_000,
              default: 1_000_000,
              description: 'Most characters in one text field of a request (binary payloads excluded).',
            }),
            maxPromptTokens: T.Integer({
              minimum: 1,
              maximum: 100_000_000,
              default: 1_000_000,
              description: 'Most estimated prompt tokens (UTF-8 bytes of all prompt texts / 3, rounded up).',
            }),
            maxTools: T.Integer({
              minimum: 0,
              maximum: 10_000,
              default: 64,
              description: 'Most tool definitions in one request.',
            }),
            // At most 64: the guardrails' text walk goes no deeper, so nothing deeper may pass.
            maxDepth: T.Integer({
              minimum: 2,
              maximum: 64,
              default: 32,
              description: 'Deepest JSON nesting of the request body (the body object itself is depth 1).',
            }),
            maxOutputTokens: T.Integer({
              minimum: 1,
              maximum: 100_000_000,
              default: 128_000,
              description:
                'Highest max_tokens / max_completion_tokens / max_output_tokens a request may ask for.',
            }),
          },
          { default: {}, additionalProperties: false },
        ),
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
    auth: T.Object(
      {
        keyCacheTtlMs: T.Integer({
          minimum: 0,
          maximum: 60_000,
          default: 1_000,
          description:
            'How long a replica trusts a looked-up API key before asking the store again. Bounds how stale a revocation can be when a Redis notice is missed (or without Redis).',
        }),
        bruteForce: T.Object(
          {
            ip: lockout(20, 300_000, 300_000, 'client IP (IPv4 address, IPv6 /64)'),
            key: lockout(100, 300_000, 60_000, 'key id (public: anyone can spend it, hence higher)'),
          },
          { default: {}, additionalProperties: false },
        ),
        accessTokenTtlSeconds: T.Integer({
          minimum: 30,
          maximum: 900,
          default: 900,
          description:
            'Lifetime of a user access token (JWT, EdDSA). At most 15 minutes; a revoked session is refused at once anyway.',
        }),
        sessionTtlHours: T.Integer({
          minimum: 1,
          maximum: 2160,
          default: 720,
          description:
            'Absolute lifetime of a login session (its refresh tokens); then the user logs in again.',
        }),
        login: T.Object(
          {
            freeFailures: T.Integer({
              minimum: 0,
              maximum: 100,
              default: 3,
              description:
                'Failed passwords or MFA codes per account (and per client IP) before each further attempt must wait, doubling from 1 s.',
            }),
            ipFreeFailures: T.Integer({
              minimum: 0,
              maximum: 10_000,
              default: 10,
              description:
                'The same per client IP: higher, since many people can share one address (an office, a NAT).',
            }),
            accountLockAfter: T.Integer({
              minimum: 1,
              maximum: 10_000,
              default: 10,
              description: 'Failures per account within windowMs that lock it for lockMs (audited).',
            }),
            ipLockAfter: T.Integer({
              minimum: 1,
              maximum: 100_000,
              default: 50,
              description:
                'Failures per client IP (IPv6 /64) within windowMs that lock it for lockMs (audited).',
            }),
            windowMs: T.Integer({ ...Millis, minimum: 1_000, default: 900_000 }),
            lockMs: T.Integer({ ...Millis, minimum: 1_000, default: 900_000 }),
          },
          { default: {}, additionalProperties: false },
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    workspaces: T.Object(
      {
        retentionDays: T.Integer({
          minimum: 0,
          maximum: 3_650,
          default: 30,
          description:
            'How long a deleted workspace is kept, restorable, before its keys, credentials and members are purged (the audit trail stays).',
        }),
        creation: T.Union([T.Literal('owners'), T.Literal('anyone')], {
          default: 'owners',
          description:
            'Who may create workspaces through the admin API: users who own one already, or any user. The CLI (local) always may.',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    audit: T.Object(
      {
        retentionDays: T.Integer({
          minimum: 0,
          maximum: 36_500,
          default: 365,
          description:
            'Audit entries older than this are deleted by `portcullis audit prune` (the rest stays verifiable from a signed checkpoint). 0 = keep forever.',
        }),
        checkpointEvery: T.Integer({
          minimum: 1,
          maximum: 1_000_000,
          default: 1000,
          description: 'Sign a checkpoint of the chain at least every this many entries.',
        }),
        checkpointIntervalMs: T.Integer({
          ...Millis,
          minimum: 1000,
          default: 60_000,
          description: 'The gateway also signs the chain head this often when it moved (and on shutdown).',
        }),
        flushMs: T.Integer({
          minimum: 1,
          maximum: 60_000,
          default: 250,
          description: 'Data-plane events (usage, refusals) are committed in batches at least this often.',
        }),
        batchSize: T.Integer({
          minimum: 1,
          maximum: 2000,
          default: 500,
          description: 'Most data-plane events committed in one transaction.',
        }),
        queueSize: T.Integer({
          minimum: 1,
          maximum: 1_000_000,
          default: 20_000,
          description:
            'Data-plane events held in memory while the store is slow or away; beyond this, new events are dropped (counted and logged), never blocking requests.',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    metrics: T.Object(
      {
        token: T.Optional(
          T.String({
            minLength: 16,
            secret: true,
            description: 'Bearer token Prometheus must send to scrape /metrics. Unset: /metrics answers 404.',
          }),
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    // OpenTelemetry traces of data-plane calls (src/tracing, docs/audit.md): metadata only, never
    // prompt or answer text; off until an endpoint is set.
    tracing: T.Object(
      {
        otlpEndpoint: T.Optional(
          T.String({
            minLength: 1,
            pattern: '^https?://',
            description:
              'OTLP/HTTP traces URL, e.g. http://collector:4318/v1/traces. Unset: no tracing. A private address must be listed in egress.allow.',
          }),
        ),
        protocol: T.Union([T.Literal('http/protobuf'), T.Literal('http/json')], {
          default: 'http/protobuf',
          description: 'OTLP encoding: binary protobuf (what every collector takes) or JSON.',
        }),
        // The OTEL_EXPORTER_OTLP_HEADERS format: comma-separated name=value, values percent-encoded.
        headers: T.Optional(
          T.String({
            minLength: 1,
            pattern:
              "^\\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+\\s*=[^,]*(,\\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+\\s*=[^,]*)*$",
            secret: true,
            description:
              'Headers sent with every export, e.g. "authorization=Bearer%20abc,x-tenant=ops" (values percent-encoded).',
          }),
        ),
        sampleRatio: T.Number({
          minimum: 0,
          maximum: 1,
          default: 1,
          description:
            'Share of new traces kept (0..1). A call with a W3C traceparent header follows its sampled flag instead.',
        }),
        serviceName: T.String({ minLength: 1, maxLength: 256, default: 'portcullis' }),
        timeoutMs: T.Integer({
          minimum: 100,
          maximum: 60_000,
          default: 10_000,
          description: 'Longest one export may take; a batch that fails is dropped (logged), never retried.',
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
