/**
 * Argument problems a command finds after parsing (a missing flag, two flags that exclude each
 * other): the runner prints the message and the usage, and exits with 2 like a parse error.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A required string flag, or a UsageError naming it. */
export function requireFlag(values: Record<string, unknown>, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value.trim() === '') throw new UsageError(`--${name} is required`);
  return value.trim();
}

export function optionalFlag(values: Record<string, unknown>, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value.trim() : undefined;
}

/** `a,b , c` → ['a', 'b', 'c']; repeated flags are joined. */
export function listFlag(values: Record<string, unknown>, name: string): string[] | undefined {
  const value = values[name];
  if (value === undefined) return undefined;
  const raw = Array.isArray(value) ? value : [value];
  return raw
    .filter((v): v is string => typeof v === 'string')
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

/** Plain-text table for list commands; --json prints the data instead. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}
