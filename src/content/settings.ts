/**
 * A workspace's content-logging choice, `settings.contentLogging` (off unless set). Only the CLI
 * changes it, in one transaction with its audit entry (src/cli/content.ts).
 */
export interface ContentLogging {
  enabled: boolean;
  /** Days a stored prompt/answer is kept before the purge job deletes it. */
  retentionDays: number;
}

export const CONTENT_LOGGING_SETTING = 'contentLogging';
export const OFF: ContentLogging = Object.freeze({ enabled: false, retentionDays: 0 });
export const MAX_RETENTION_DAYS = 3650;
export const DAY_MS = 86_400_000;

/** The stored setting, or OFF for anything missing or malformed (fail closed: nothing is kept). */
export function parseContentLogging(value: unknown): ContentLogging {
  if (typeof value !== 'object' || value === null) return OFF;
  const v = value as Record<string, unknown>;
  const days = v.retentionDays;
  if (v.enabled !== true || typeof days !== 'number' || !validRetention(days)) return OFF;
  return { enabled: true, retentionDays: days };
}

export function validRetention(days: number): boolean {
  return Number.isInteger(days) && days >= 1 && days <= MAX_RETENTION_DAYS;
}
