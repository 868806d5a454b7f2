import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger } from './logger.ts';

function capture() {
  let out = '';
  const sink = new Writable({
    write(chunk: Buffer, _e, done) {
      out += chunk.toString();
      done();
    },
  });
  return { logger: createLogger({ log: { level: 'info' } }, sink), text: () => out };
}

describe('logger redaction (the last line of defence)', () => {
  it('redacts secret fields at the top level, in headers, in req.headers and on errors', () => {
    const { logger, text } = capture();
    const secret = 'sk-should-never-appear-1234';
    logger.info({ password: secret, token: secret, apiKey: secret }, 'top');
    logger.info({ headers: { authorization: `Bearer ${secret}`, 'x-api-key': secret } }, 'headers');
    logger.info({ req: { headers: { authorization: secret, cookie: secret } } }, 'req');
    logger.info({ err: { message: 'x', secret } }, 'err');
    assert.ok(!text().includes(secret), text());
    assert.equal((text().match(/\[redacted\]/g) ?? []).length, 8);
  });
});
