import type { FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { MasterKeyRing } from '../secrets/master-key.ts';
import { createVault } from '../secrets/vault.ts';
import type { Store } from '../store/types.ts';
import { type AuditLog, createAuditLog } from './log.ts';
import { refusalEvent } from './request.ts';
import { createEventWriter, type EventWriter } from './writer.ts';

/**
 * The gateway's audit machinery, built once in main.ts: the log (control-plane changes commit
 * with their entries), the buffered writer (data-plane events and usage), and a timer that signs
 * the chain head every `audit.checkpointIntervalMs` when it moved. `close()` flushes the writer
 * and signs a last checkpoint; call it after the HTTP server has drained, before the store closes.
 */
export interface Auditing {
  log: AuditLog;
  events: EventWriter;
  /** For createApp: every 4xx becomes a `request.refused` entry. */
  onRefusal(request: FastifyRequest, error: { code: string; status: number }, clientIp: string): void;
  close(): Promise<void>;
}

export async function startAuditing(opts: {
  config: Readonly<Config>;
  store: Store;
  keys: MasterKeyRing;
  clock: Clock;
  logger: Logger;
  metrics?: Metrics;
}): Promise<Auditing> {
  const { config, store, keys, clock, logger, metrics } = opts;
  const log = createAuditLog({
    store,
    vault: createVault({ store, keys, clock }),
    clock,
    checkpointEvery: config.audit.checkpointEvery,
    logger,
  });
  await log.ready();
  const events = createEventWriter({
    store,
    audit: log,
    logger,
    flushMs: config.audit.flushMs,
    batchSize: config.audit.batchSize,
    queueSize: config.audit.queueSize,
    onDrop: (n) => metrics?.auditDropped(n),
  });
  metrics?.setAuditQueue(() => events.queued());
  let lastSigned: number | undefined;
  const sign = async (): Promise<void> => {
    try {
      const head = await log.checkpoint();
      if (head !== undefined && head !== lastSigned) {
        lastSigned = head;
        logger.debug({ event: 'audit.checkpoint', seq: head }, 'audit: checkpoint signed');
      }
    } catch (err) {
      logger.error({ err }, 'audit: could not sign a checkpoint');
    }
  };
  const timer = setInterval(() => void sign(), config.audit.checkpointIntervalMs);
  timer.unref();
  return {
    log,
    events,
    onRefusal(request, error, clientIp) {
      events.audit(refusalEvent(request, clientIp, error));
    },
    async close() {
      clearInterval(timer);
      await events.close(config.timeouts.shutdownMs);
      await sign();
    },
  };
}
