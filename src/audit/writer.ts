import type { Logger } from 'pino';
import { transact } from '../store/tx.ts';
import type { Store } from '../store/types.ts';
import { insertUsage, type UsageRecord } from '../usage/records.ts';
import type { AuditEvent } from './events.ts';
import type { AuditLog } from './log.ts';

/**
 * The data plane's buffered writer: audit events (refusals, lockouts) and usage records are queued
 * in memory and committed in batches — one transaction per batch, every `flushMs` or as soon as
 * `batchSize` events wait — so a request never waits for a database write.
 *
 * Back-pressure policy: the queue is bounded (`queueSize` events of each kind). When it is full —
 * the store is down or slower than the traffic — NEW events are dropped, counted (`dropped()`,
 * exported as a metric) and logged at most once every 10 s; requests are never blocked or slowed.
 * A batch that fails to commit is put back at the front of its queue (as far as room allows) and
 * retried on the next tick. `close()` (graceful shutdown) flushes everything still queued.
 *
 * Durability: an event is durable once its batch commits (SQLite synchronous=FULL). What a crash
 * (kill -9, power loss) can lose is what was queued but not yet committed: at most `flushMs` of
 * data-plane events. Control-plane changes never come through here: they are audited in their own
 * transaction (AuditLog.record).
 */
export interface EventWriter {
  audit(event: AuditEvent): void;
  usage(record: UsageRecord): void;
  /**
   * A usage record still being priced (an async price lookup): `flush()` and `close()` wait for it,
   * so a call answered before a flush is in that flush, and none is lost at shutdown.
   */
  usageLater(record: Promise<UsageRecord | undefined>): void;
  /** Commits everything queued now, including records still being priced. */
  flush(): Promise<void>;
  /** Stops the timer and flushes what is left (tries until `deadlineMs`). */
  close(deadlineMs?: number): Promise<void>;
  /** Events dropped because the queue was full, since start. */
  dropped(): number;
  queued(): number;
}

export interface EventWriterOptions {
  store: Store;
  audit: AuditLog;
  logger: Pick<Logger, 'warn' | 'error'>;
  flushMs: number;
  batchSize: number;
  queueSize: number;
  /** Called with the number of events dropped (for metrics). */
  onDrop?: (count: number) => void;
}

const DROP_LOG_INTERVAL_MS = 10_000;
/** How long a flush waits for records still being priced before committing what it has. */
const PRICING_WAIT_MS = 2_000;

async function settledOrTimeout(promises: Promise<unknown>[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.allSettled(promises),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
}

export function createEventWriter(opts: EventWriterOptions): EventWriter {
  const { store, audit, logger, batchSize, queueSize } = opts;
  let events: AuditEvent[] = [];
  let usage: UsageRecord[] = [];
  let dropped = 0;
  let droppedSinceLog = 0;
  let lastDropLog = 0;
  let flushing: Promise<void> | undefined;
  let failing = false;
  let closed = false;
  const pricing = new Set<Promise<unknown>>();

  const drop = (): void => {
    dropped += 1;
    droppedSinceLog += 1;
    opts.onDrop?.(1);
    const now = Date.now();
    if (now - lastDropLog >= DROP_LOG_INTERVAL_MS) {
      logger.warn(
        { event: 'audit.events_dropped', dropped: droppedSinceLog, total: dropped },
        'audit: event queue full; data-plane events dropped (store slow or unreachable)',
      );
      droppedSinceLog = 0;
      lastDropLog = now;
    }
  };

  /** Commits one batch of each queue; how many of each were committed (none: nothing was queued). */
  async function flushOnce(): Promise<{ events: number; usage: number }> {
    if (events.length === 0 && usage.length === 0) return { events: 0, usage: 0 };
    const batchEvents = events.splice(0, batchSize);
    const batchUsage = usage.splice(0, batchSize);
    try {
      // The signing key is loaded outside the transaction (SQLite has one connection).
      await audit.ready();
      await transact(store, async (tx) => {
        await insertUsage(tx.db, batchUsage);
        await audit.append(tx.db, batchEvents);
      });
      if (failing) {
        failing = false;
        logger.warn({ event: 'audit.writer_recovered' }, 'audit: event writer committing again');
      }
      return { events: batchEvents.length, usage: batchUsage.length };
    } catch (err) {
      if (!failing) {
        failing = true;
        logger.error({ err, event: 'audit.writer_failed' }, 'audit: could not commit a batch; retrying');
      }
      // Back to the front, oldest first, as far as the bound allows; the rest is dropped and counted.
      const roomEvents = Math.max(0, queueSize - events.length);
      for (let i = roomEvents; i < batchEvents.length; i++) drop();
      events = [...batchEvents.slice(0, roomEvents), ...events];
      const roomUsage = Math.max(0, queueSize - usage.length);
      for (let i = roomUsage; i < batchUsage.length; i++) drop();
      usage = [...batchUsage.slice(0, roomUsage), ...usage];
      throw err;
    }
  }

  /**
   * One pass over the queues, one at a time: first the records still being priced, then batch by
   * batch — everything queued when it starts (`drainAll`; what arrives meanwhile waits for the
   * next pass, so a busy gateway cannot keep it going), or for the timer until less than a batch
   * is left.
   */
  function pass(drainAll: boolean): Promise<void> {
    flushing ??= (async () => {
      try {
        // A price lookup that hangs (a stuck store) must not hold the audit events back for ever.
        if (pricing.size > 0) await settledOrTimeout([...pricing], PRICING_WAIT_MS);
        let leftEvents = events.length;
        let leftUsage = usage.length;
        for (let n = await flushOnce(); n.events + n.usage > 0; n = await flushOnce()) {
          leftEvents -= n.events;
          leftUsage -= n.usage;
          const done = drainAll
            ? leftEvents <= 0 && leftUsage <= 0
            : events.length < batchSize && usage.length < batchSize && !closed;
          if (done) break;
        }
      } finally {
        flushing = undefined;
      }
    })();
    return flushing;
  }

  /**
   * Commits everything queued (or being priced) when it is called. A pass already running may have
   * started before those events arrived: it is let finish, then a pass that starts now runs.
   */
  async function flush(): Promise<void> {
    while (flushing) await flushing.catch(() => undefined);
    await pass(true);
  }

  const tick = (): void => {
    pass(false).catch(() => undefined);
  };
  const timer = setInterval(tick, opts.flushMs);
  timer.unref();

  const enqueue = <T>(queue: T[], item: T): void => {
    if (queue.length >= queueSize) {
      drop();
      return;
    }
    queue.push(item);
    if (queue.length >= batchSize && !flushing && !failing) tick();
  };

  return {
    audit: (event) => enqueue(events, event),
    usage: (record) => enqueue(usage, record),
    usageLater(record) {
      const settled = record.then(
        (r) => {
          if (r) enqueue(usage, r);
        },
        (err: unknown) => logger.warn({ err }, 'usage: could not record a call'),
      );
      pricing.add(settled);
      void settled.finally(() => pricing.delete(settled));
    },
    flush,
    async close(deadlineMs = 5_000) {
      closed = true;
      clearInterval(timer);
      const giveUp = Date.now() + deadlineMs;
      while (events.length + usage.length + pricing.size > 0 || flushing) {
        try {
          await flush();
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        if (Date.now() >= giveUp) break;
      }
      const left = events.length + usage.length + pricing.size;
      if (left > 0) {
        logger.error({ event: 'audit.events_lost', lost: left }, 'audit: events not written at shutdown');
      }
    },
    dropped: () => dropped,
    queued: () => events.length + usage.length,
  };
}
