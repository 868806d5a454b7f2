import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CPU_CLOCK_STEP_MS, startBudget } from './cpu-clock.ts';

/** Clocks that tell whatever the test sets. */
function clocks() {
  const t = { wall: 0, cpu: 0 };
  return { t, clocks: { wall: () => t.wall, cpu: () => t.cpu } };
}

test('a budget is overrun when the wall time is over it and the CPU time shows the work used most of it', () => {
  const { t, clocks: c } = clocks();
  const overran = startBudget(c);
  t.wall = 25;
  t.cpu = 24; // a coarse clock reading of ~23 ms of work
  assert.equal(overran(20), true);
  t.cpu = 0; // 25 ms descheduled: the machine, not the detector
  assert.equal(overran(20), false);
  t.cpu = 20 - CPU_CLOCK_STEP_MS + 1;
  assert.equal(overran(20), true, 'within one coarse step of the budget: counted');
});

test('CPU time never causes an overrun on its own, and tiny budgets fall back to wall time', () => {
  const { t, clocks: c } = clocks();
  const overran = startBudget(c);
  t.wall = 17;
  t.cpu = 20; // a tick landed inside a 17 ms check
  assert.equal(overran(20), false);
  t.wall = 3;
  t.cpu = 0;
  assert.equal(overran(2), true, 'a budget under the clock step is judged on wall time');
});
