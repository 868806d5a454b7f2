import type { BudgetWindow } from '../keys/types.ts';

/**
 * Budget windows in UTC: a day starts at 00:00Z, a week on Monday 00:00Z (ISO 8601), a month on
 * its first day. Each window has its own counter key (the window's start is part of the key), so
 * a new window starts at zero without anyone resetting anything, and every replica agrees on
 * where a window begins. `total` never resets.
 */
export interface WindowSpan {
  /** Part of the counter key, e.g. `2026-11`, `2026-11-30`, `w2026-11-30`, `total`. */
  id: string;
  start: number;
  /** Exclusive; Infinity for `total`. */
  end: number;
}

const DAY = 86_400_000;
/** Counter lifetime for `total` budgets: long enough to mean "forever" for a counter. */
export const TOTAL_TTL_MS = 10 * 365 * DAY;

export function windowAt(window: BudgetWindow, now: number): WindowSpan {
  const d = new Date(now);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  const dayStart = Date.UTC(y, m, d.getUTCDate());
  switch (window) {
    case 'day':
      return { id: isoDay(dayStart), start: dayStart, end: dayStart + DAY };
    case 'week': {
      // getUTCDay: 0 = Sunday; ISO weeks start on Monday.
      const start = dayStart - ((d.getUTCDay() + 6) % 7) * DAY;
      return { id: `w${isoDay(start)}`, start, end: start + 7 * DAY };
    }
    case 'month': {
      const start = Date.UTC(y, m, 1);
      return { id: isoDay(start).slice(0, 7), start, end: Date.UTC(y, m + 1, 1) };
    }
    case 'total':
      return { id: 'total', start: 0, end: Number.POSITIVE_INFINITY };
  }
}

/** Milliseconds a window's counter must live from `now` (a minute of slack for skewed replicas). */
export function windowTtlMs(span: WindowSpan, now: number): number {
  return span.end === Number.POSITIVE_INFINITY ? TOTAL_TTL_MS : Math.max(1, span.end - now + 60_000);
}

/** The adjective a budget message uses: "monthly budget". */
export const WINDOW_ADJECTIVE: Readonly<Record<BudgetWindow, string>> = {
  day: 'daily',
  week: 'weekly',
  month: 'monthly',
  total: 'total',
};

/** `2026-12-01T00:00Z`: minute precision is what a reset time needs. */
export function resetText(span: WindowSpan): string {
  return span.end === Number.POSITIVE_INFINITY
    ? 'never'
    : `${new Date(span.end).toISOString().slice(0, 16)}Z`;
}

function isoDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Integer micro-dollars → `$500.00` (cents shown; sub-cent amounts keep their digits). */
export function dollars(micros: number): string {
  const usd = micros / 1_000_000;
  return micros % 10_000 === 0 ? `$${usd.toFixed(2)}` : `$${usd.toFixed(6).replace(/0+$/, '')}`;
}
