import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ERROR_CATALOGUE, PortcullisError } from './catalogue.ts';
import { envelope } from './envelope.ts';

describe('error catalogue', () => {
  it('is documented code for code, with the same status and type, in docs/errors.md', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    const rows = new Map<string, { status: number; type: string }>();
    for (const m of doc.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \| ([a-z_]+) \|/gm)) {
      rows.set(m[1] as string, { status: Number(m[2]), type: m[3] as string });
    }
    for (const [code, def] of Object.entries(ERROR_CATALOGUE)) {
      assert.deepEqual(
        rows.get(code),
        { status: def.status, type: def.type },
        `docs/errors.md row for ${code}`,
      );
    }
    assert.deepEqual(
      [...rows.keys()].sort(),
      Object.keys(ERROR_CATALOGUE).sort(),
      'no stale rows in the docs',
    );
  });

  it('renders the OpenAI envelope with the request id, filling templates', () => {
    const err = new PortcullisError('payload_too_large', { vars: { limit: 1024 } });
    assert.deepEqual(envelope(err, 'req_1'), {
      error: {
        message: 'The request body is larger than the 1024-byte limit.',
        type: 'invalid_request_error',
        code: 'payload_too_large',
        param: null,
        request_id: 'req_1',
      },
    });
  });

  it('gives 5xx a generic message that names only the request id', () => {
    const err = new PortcullisError('internal_error', {
      cause: new Error('connection string postgres://u:pw@h'),
    });
    const body = envelope(err, 'req_42');
    assert.equal(
      body.error.message,
      'Internal error (request id req_42). The details are in the server log.',
    );
    assert.ok(!JSON.stringify(body).includes('pw@'));
  });
});
