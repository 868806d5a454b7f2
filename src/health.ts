import type { Logger } from 'pino';
import type { Counters } from './counters/types.ts';
import type { Store } from './store/types.ts';

/**
 * Watches the dependencies every check needs. While one is unreachable the gateway refuses
 * requests with 503 instead of skipping checks (fail closed, DESIGN.md invariant 4), and it
 * recovers by itself when the dependency answers again.
 */
export type DependencyName = 'store' | 'counters';

export interface DependencyStatus {
  store: 'ok' | 'down';
  counters: 'ok' | 'down';
}

export interface Health {
  /** Pings every dependency now (bounded by the timeout) and returns the result. */
  check(): Promise<DependencyStatus>;
  /** The first dependency known to be down from the latest check, if any. */
  down(): DependencyName | undefined;
  start(): void;
  stop(): void;
}

async function within(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => false,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function createHealth(opts: {
  store: Store;
  counters: Counters;
  logger: Logger;
  intervalMs?: number;
  timeoutMs?: number;
}): Health {
  const intervalMs = opts.intervalMs ?? 1000;
  const timeoutMs = opts.timeoutMs ?? 1000;
  let status: DependencyStatus = { store: 'ok', counters: 'ok' };
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<DependencyStatus> | undefined;

  const run = async (): Promise<DependencyStatus> => {
    const [store, counters] = await Promise.all([
      within(opts.store.ping(), timeoutMs),
      within(opts.counters.ping(), timeoutMs),
    ]);
    const next: DependencyStatus = { store: store ? 'ok' : 'down', counters: counters ? 'ok' : 'down' };
    for (const name of ['store', 'counters'] as const) {
      if (next[name] !== status[name]) {
        if (next[name] === 'down')
          opts.logger.error({ dependency: name }, 'dependency unreachable; refusing requests');
        else opts.logger.info({ dependency: name }, 'dependency reachable again; serving requests');
      }
    }
    status = next;
    return next;
  };

  const check = (): Promise<DependencyStatus> => {
    // Concurrent callers share one probe so /readyz under load does not multiply pings.
    running ??= run().finally(() => {
      running = undefined;
    });
    return running;
  };

  return {
    check,
    down: () => (status.store === 'down' ? 'store' : status.counters === 'down' ? 'counters' : undefined),
    start() {
      if (timer) return;
      timer = setInterval(() => void check(), intervalMs);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
