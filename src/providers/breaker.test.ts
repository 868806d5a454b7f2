import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCircuitBreakers } from './breaker.ts';

describe('circuit breakers', () => {
  it('open after consecutive failures, half-open after the cooldown, close on success', () => {
    let now = 0;
    const b = createCircuitBreakers({ failures: 3, cooldownMs: 1000, clock: { now: () => now } });
    b.failure('t');
    b.failure('t');
    assert.equal(b.allow('t'), true, 'two failures keep it closed');
    b.failure('t');
    assert.equal(b.state('t'), 'open');
    assert.equal(b.allow('t'), false);
    now = 1000;
    assert.equal(b.state('t'), 'half-open');
    assert.equal(b.allow('t'), true, 'one trial');
    assert.equal(b.allow('t'), false, 'only one trial at a time');
    b.success('t');
    assert.equal(b.state('t'), 'closed');
    assert.equal(b.allow('t'), true);
  });

  it('reopens when the trial fails, and a success resets the count', () => {
    let now = 0;
    const b = createCircuitBreakers({ failures: 2, cooldownMs: 100, clock: { now: () => now } });
    b.failure('t');
    b.success('t');
    b.failure('t');
    assert.equal(b.state('t'), 'closed', 'the success reset the count');
    b.failure('t');
    assert.equal(b.state('t'), 'open');
    now = 150;
    assert.equal(b.allow('t'), true);
    b.failure('t');
    assert.equal(b.state('t'), 'open');
    assert.equal(b.allow('t'), false);
    assert.equal(b.allow('other'), true, 'targets are independent');
  });
});
