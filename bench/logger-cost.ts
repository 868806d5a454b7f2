/**
 * What one per-request log line costs the gateway, with the production logger (src/logger.ts:
 * its redaction list) and without redaction, writing to a sink that discards the bytes.
 *
 *   node --disable-warning=ExperimentalWarning bench/logger-cost.ts
 *
 * The gateway writes two info lines per proxied call (the "llm call" record and the request
 * summary); the CPU profile of `npm run bench -- --profile` shows where their time goes.
 */
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { createLogger, REDACT_PATHS } from '../src/logger.ts';

const sink = { write: (_line: string): void => undefined };
const config = { log: { level: 'info' as const } };

const variants: [string, pino.Logger][] = [
  ['src/logger.ts as is', createLogger(config, sink)],
  [
    'same, without the wildcard paths',
    pino(
      {
        level: 'info',
        redact: { paths: REDACT_PATHS.filter((p) => !p.startsWith('*')), censor: '[redacted]' },
      },
      sink,
    ),
  ],
  ['same options, no redaction', pino({ level: 'info' }, sink)],
];

// The two lines the gateway logs per proxied call, as a Fastify request child logger logs them.
function logOneCall(logger: pino.Logger): void {
  const child = logger.child({ reqId: 'req_0123456789abcdefghij' });
  child.info(
    {
      event: 'llm_call',
      workspace: 'ws_0123456789',
      key: 'key_0123456789',
      endpoint: 'chat',
      model: 'gpt-4o-mini',
      target: 'mock-openai',
      provider: 'openai',
      stream: false,
      status: 200,
      inputTokens: 260,
      outputTokens: 40,
      attempts: 1,
      ms: 0.4,
    },
    'llm call',
  );
  child.info({ method: 'POST', path: '/v1/chat/completions', status: 200, ms: 0.52 }, 'request');
}

const N = 50_000;
for (const [name, logger] of variants) {
  for (let i = 0; i < 5_000; i++) logOneCall(logger); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < N; i++) logOneCall(logger);
  const us = ((performance.now() - t0) * 1000) / N;
  process.stdout.write(`${name.padEnd(36)} ${us.toFixed(1).padStart(6)} µs per proxied call (2 lines)\n`);
}
