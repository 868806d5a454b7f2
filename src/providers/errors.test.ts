import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidParameterError, UnsupportedParameterError, UpstreamFormatError } from './errors.ts';

describe('translation errors', () => {
  it('carry the catalogue code, the field path and the reason', () => {
    const unsupported = new UnsupportedParameterError('logprobs');
    assert.equal(unsupported.code, 'unsupported_parameter');
    assert.equal(unsupported.param, 'logprobs');
    assert.equal(unsupported.detail, 'the target provider has no equivalent');
    assert.ok(unsupported instanceof Error);
    const invalid = new InvalidParameterError('messages[2].content', 'expected a string, got a number');
    assert.equal(invalid.code, 'invalid_request');
    assert.equal(invalid.message, "Invalid 'messages[2].content': expected a string, got a number");
    assert.equal(new UpstreamFormatError('choices', 'expected one choice').code, 'upstream_invalid_response');
  });

  it('bound a path built from client-chosen keys', () => {
    const err = new UnsupportedParameterError(`metadata.${'k'.repeat(10_000)}`);
    assert.ok(err.param.length <= 129);
    assert.ok(err.message.length < 300);
  });
});
