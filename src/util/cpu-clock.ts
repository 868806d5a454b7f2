/**
 * Time budgets for synchronous work (guardrail detectors, schema checks). Wall time alone counts
 * time the thread spent descheduled — CPU steal, other processes, a busy machine — against the
 * work, and a fail-closed budget then blocks requests because the machine was busy. The thread's
 * CPU time (`process.threadCpuUsage`) excludes that, but on Linux it advances in scheduler ticks
 * (~4 ms at HZ=250, 10 ms at HZ=100), too coarse to judge a 20 ms budget alone.
 *
 * So a budget is overrun when the wall time exceeds it AND the CPU time shows the work could have
 * used most of it (more than the budget minus one coarse step): CPU time only excuses a wall-time
 * overrun, never causes one. Budgets at or under the step fall back to wall time.
 */

/** Slack for the CPU clock's granularity: one 100 Hz tick. */
export const CPU_CLOCK_STEP_MS = 10;

/** CPU time of the calling thread, in milliseconds. */
export function threadCpuMs(): number {
  const u = process.threadCpuUsage();
  return (u.user + u.system) / 1000;
}

export interface BudgetClocks {
  /** Wall clock, in ms (performance.now by default). */
  wall: () => number;
  /** CPU clock, in ms (this thread's CPU time by default). */
  cpu: () => number;
}

/**
 * The clocks a budget uses: wall time (performance.now) and this thread's CPU time, unless injected;
 * an injected wall clock alone (tests) stands for both.
 */
export function budgetClocks(wall?: () => number, cpu?: () => number): BudgetClocks {
  return { wall: wall ?? (() => performance.now()), cpu: cpu ?? wall ?? threadCpuMs };
}

/** Starts measuring; the returned function tells whether `budgetMs` was overrun so far. */
export function startBudget(clocks: BudgetClocks): (budgetMs: number) => boolean {
  const wall0 = clocks.wall();
  const cpu0 = clocks.cpu();
  return (budgetMs) => clocks.wall() - wall0 > budgetMs && clocks.cpu() - cpu0 > budgetMs - CPU_CLOCK_STEP_MS;
}
