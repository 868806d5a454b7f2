import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTraceparent } from './traceparent.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

describe('parseTraceparent (W3C Trace Context)', () => {
  it('reads version 00 with the sampled flag, and tracestate', () => {
    const ctx = parseTraceparent(`00-${TRACE}-${SPAN}-01`, 'vendor=abc,other=1');
    assert.deepEqual(
      { traceId: ctx?.traceId, spanId: ctx?.spanId, flags: ctx?.traceFlags, remote: ctx?.isRemote },
      { traceId: TRACE, spanId: SPAN, flags: 1, remote: true },
    );
    assert.equal(ctx?.traceState?.get('vendor'), 'abc');
    assert.equal(parseTraceparent(`00-${TRACE}-${SPAN}-00`)?.traceFlags, 0);
    // Unknown flag bits are not propagated.
    assert.equal(parseTraceparent(`00-${TRACE}-${SPAN}-03`)?.traceFlags, 1);
  });

  it('accepts a later version with extra fields (§4.3), not version 00 with them', () => {
    assert.equal(parseTraceparent(`01-${TRACE}-${SPAN}-01-extra`)?.traceId, TRACE);
    assert.equal(parseTraceparent(`00-${TRACE}-${SPAN}-01-extra`), undefined);
  });

  it('ignores anything malformed, never throwing', () => {
    for (const bad of [
      undefined,
      '',
      'garbage',
      `ff-${TRACE}-${SPAN}-01`,
      `00-${'0'.repeat(32)}-${SPAN}-01`,
      `00-${TRACE}-${'0'.repeat(16)}-01`,
      `00-${TRACE.toUpperCase()}-${SPAN}-01`,
      `00-${TRACE.slice(1)}-${SPAN}-01`,
      `00-${TRACE}-${SPAN}-1`,
      [`00-${TRACE}-${SPAN}-01`, `00-${TRACE}-${SPAN}-01`],
    ]) {
      assert.equal(parseTraceparent(bad), undefined, String(bad));
    }
  });

  it('drops an oversized tracestate but keeps the parent', () => {
    const ctx = parseTraceparent(`00-${TRACE}-${SPAN}-01`, `a=${'x'.repeat(600)}`);
    assert.equal(ctx?.traceId, TRACE);
    assert.equal(ctx?.traceState, undefined);
  });
});
