import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMemoryCounters } from './memory.ts';

describe('memory counters', () => {
  it('sweeps expired keys as calls go by, so memory follows the live keys', async () => {
    let now = 1_000_000;
    const counters = createMemoryCounters({ clock: { now: () => now } });
    for (let i = 0; i < 1000; i++) await counters.add(`k${i}`, 1, 100);
    await counters.rate([{ key: 'r', limit: 10, windowMs: 100, cost: 1 }]);
    assert.equal(counters.size(), 1001);
    now += 101;
    // Each call examines a few entries; about 1001 / 16 calls visit them all.
    for (let i = 0; i < 70; i++) await counters.ping();
    assert.equal(counters.size(), 0);
    await counters.close();
  });

  it('keeps a key whose expiry has not come', async () => {
    let now = 0;
    const counters = createMemoryCounters({ clock: { now: () => now } });
    await counters.add('short', 1, 10);
    await counters.add('long', 1, 1000);
    now = 500;
    for (let i = 0; i < 5; i++) await counters.ping();
    assert.equal(counters.size(), 1);
    assert.deepEqual(await counters.get(['short', 'long']), [0, 1]);
    await counters.close();
  });

  it('reports a throwing subscriber to the logger and still delivers to the others', async () => {
    const errors: string[] = [];
    const logger = { info() {}, warn() {}, error: (_: object, msg?: string) => void errors.push(msg ?? '') };
    const counters = createMemoryCounters({ clock: { now: () => 0 }, logger });
    const got: string[] = [];
    await counters.subscribe('c', () => {
      throw new Error('boom');
    });
    await counters.subscribe('c', (m) => got.push(m));
    await counters.publish('c', 'hello');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(got, ['hello']);
    assert.equal(errors.length, 1);
    await counters.close();
  });
});
