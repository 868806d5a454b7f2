import { Redis } from 'ioredis';
import type { CountersLogger } from '../../src/counters/memory.ts';

/** A logger that keeps every line, so tests can check what would have been logged. */
export function quietLogger(): CountersLogger & { lines: string[] } {
  const lines: string[] = [];
  const log = (obj: object, msg?: string): void => void lines.push(JSON.stringify({ ...obj, msg }));
  return { lines, info: log, warn: log, error: log };
}

/** Deletes every key under a test run's prefix. */
export async function cleanRedisPrefix(url: string, prefix: string): Promise<void> {
  const raw = new Redis(url);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await raw.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await raw.del(keys);
    } while (cursor !== '0');
  } finally {
    raw.disconnect();
  }
}
