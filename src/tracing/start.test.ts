import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig, maskedConfig } from '../config/load.ts';
import { createEgress } from '../egress/egress.ts';
import { parseOtlpHeaders, startTracing } from './start.ts';

const problemsOf = (env: Record<string, string>): string[] => {
  try {
    loadConfig({ env });
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
  assert.fail('expected a configuration problem');
};

function recorder() {
  const lines: Array<[string, Record<string, unknown>, string]> = [];
  return {
    lines,
    info: (obj: Record<string, unknown>, msg: string) => void lines.push(['info', obj, msg]),
    warn: (obj: Record<string, unknown>, msg: string) => void lines.push(['warn', obj, msg]),
  };
}

const clock = { now: () => Date.now() };

describe('tracing configuration', () => {
  it('is off by default', () => {
    const { config } = loadConfig({ env: {} });
    assert.equal(config.tracing.otlpEndpoint, undefined);
    assert.equal(config.tracing.protocol, 'http/protobuf');
    assert.equal(config.tracing.sampleRatio, 1);
    assert.equal(config.tracing.serviceName, 'portcullis');
  });

  it('reads every setting from PORTCULLIS_TRACING_* and masks the headers in config check', () => {
    const { config } = loadConfig({
      env: {
        PORTCULLIS_TRACING_OTLP_ENDPOINT: 'http://collector:4318/v1/traces',
        PORTCULLIS_TRACING_PROTOCOL: 'http/json',
        PORTCULLIS_TRACING_HEADERS: 'authorization=Bearer%20sekrit-collector-token,x-tenant=ops',
        PORTCULLIS_TRACING_SAMPLE_RATIO: '0.25',
        PORTCULLIS_TRACING_SERVICE_NAME: 'gateway-eu',
        PORTCULLIS_TRACING_TIMEOUT_MS: '3000',
      },
    });
    assert.deepEqual(
      { ...config.tracing },
      {
        otlpEndpoint: 'http://collector:4318/v1/traces',
        protocol: 'http/json',
        headers: 'authorization=Bearer%20sekrit-collector-token,x-tenant=ops',
        sampleRatio: 0.25,
        serviceName: 'gateway-eu',
        timeoutMs: 3000,
      },
    );
    const shown = JSON.stringify(maskedConfig(config));
    assert.ok(!shown.includes('sekrit-collector-token'), 'the headers are a secret');
    assert.ok(shown.includes('http://collector:4318/v1/traces'));
  });

  it('refuses bad values at boot, without echoing the headers', () => {
    const problems = problemsOf({
      PORTCULLIS_TRACING_OTLP_ENDPOINT: 'grpc://collector:4317',
      PORTCULLIS_TRACING_SAMPLE_RATIO: '1.5',
      PORTCULLIS_TRACING_PROTOCOL: 'grpc',
      PORTCULLIS_TRACING_HEADERS: 'no equals sign sekrit-value',
    });
    const text = problems.join('\n');
    for (const path of ['otlpEndpoint', 'sampleRatio', 'protocol', 'headers'])
      assert.ok(text.includes(`tracing.${path}`), `${path} in ${text}`);
    assert.ok(!text.includes('sekrit-value'));
  });
});

describe('parseOtlpHeaders', () => {
  it('reads the OTEL_EXPORTER_OTLP_HEADERS form, percent-decoded', () => {
    assert.deepEqual(parseOtlpHeaders('Authorization=Bearer%20abc, x-tenant = ops ,'), {
      authorization: 'Bearer abc',
      'x-tenant': 'ops',
    });
    assert.deepEqual(parseOtlpHeaders('x-raw=100%'), { 'x-raw': '100%' });
    assert.deepEqual(parseOtlpHeaders(undefined), {});
  });

  it('refuses headers that are ours or the connection’s, and names never the value', () => {
    assert.throws(() => parseOtlpHeaders('content-type=text/plain'), /content-type cannot be set/);
    assert.throws(() => parseOtlpHeaders('host=evil'), /host cannot be set/);
    assert.throws(
      () => parseOtlpHeaders('x-a=ok%0d%0aInjected: sekrit'),
      (err: Error) => {
        return /value of x-a is invalid/.test(err.message) && !err.message.includes('sekrit');
      },
    );
    assert.throws(() => parseOtlpHeaders('bad name=x'), /header name is invalid/);
  });
});

describe('startTracing', () => {
  it('refuses credentials in the endpoint URL', async () => {
    const egress = createEgress({ allow: ['127.0.0.1'], logger: recorder() });
    try {
      const config = loadConfig({
        env: { PORTCULLIS_TRACING_OTLP_ENDPOINT: 'http://user:sekrit@127.0.0.1:4318/v1/traces' },
      }).config.tracing;
      await assert.rejects(
        startTracing({ config, egress, logger: recorder(), clock }),
        (err: Error) => /must not carry credentials/.test(err.message) && !err.message.includes('sekrit'),
      );
    } finally {
      await egress.close();
    }
  });

  it('starts anyway when egress refuses the collector, warning once at boot', async () => {
    const logger = recorder();
    const egress = createEgress({ allow: [], logger });
    try {
      const config = loadConfig({
        env: {
          PORTCULLIS_TRACING_OTLP_ENDPOINT: 'http://10.1.2.3:4318/v1/traces',
          PORTCULLIS_TRACING_HEADERS: 'authorization=Bearer%20sekrit',
        },
      }).config.tracing;
      const tracer = await startTracing({ config, egress, logger, clock });
      const refused = logger.lines.find(([, obj]) => obj.event === 'tracing_endpoint_refused');
      assert.equal(refused?.[0], 'warn');
      assert.equal(refused?.[1].reason, 'private_address');
      assert.ok(
        logger.lines.some(([, , msg]) => msg.includes('plain HTTP')),
        'headers over plain HTTP to a non-loopback collector are flagged',
      );
      assert.ok(!JSON.stringify(logger.lines).includes('sekrit'));
      await tracer.shutdown();
    } finally {
      await egress.close();
    }
  });
});
