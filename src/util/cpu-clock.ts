/**
 * CPU time of the calling thread, in milliseconds (`process.threadCpuUsage`): the clock for
 * budgets on synchronous work (guardrail detectors, schema checks). Unlike wall time it does not
 * grow while the thread is descheduled — CPU steal, other processes, a busy machine — so a budget
 * trips on the work's own cost, not on the machine's load.
 */
export function threadCpuMs(): number {
  const u = process.threadCpuUsage();
  return (u.user + u.system) / 1000;
}
