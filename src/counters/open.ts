import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import { type CountersLogger, createMemoryCounters } from './memory.ts';
import { createRedisCounters } from './redis.ts';
import type { Counters } from './types.ts';

/**
 * Counters for this deployment: Redis when `redisUrl` is configured (needed as soon as there is
 * more than one replica, or limits would be per replica), in-process otherwise. Rejects when the
 * configured Redis cannot be reached, so a misconfigured replica never starts with private limits.
 */
export async function openCounters({
  config,
  logger,
  clock,
}: {
  config: Pick<Config, 'redisUrl'>;
  logger: CountersLogger;
  clock: Clock;
}): Promise<Counters> {
  if (config.redisUrl) return createRedisCounters({ url: config.redisUrl, logger, clock });
  return createMemoryCounters({ clock, logger });
}
