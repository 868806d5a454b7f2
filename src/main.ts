import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { createAdminApi } from './admin/routes.ts';
import { type App, createApp } from './app.ts';
import { type Auditing, startAuditing } from './audit/service.ts';
import { type Clock, systemClock } from './clock.ts';
import type { Config } from './config/schema.ts';
import { openCounters } from './counters/open.ts';
import type { Counters } from './counters/types.ts';
import { createDataPlane, type DataPlane } from './dataplane/wire.ts';
import { createEgress, type Egress } from './egress/egress.ts';
import type { IdentityService } from './identity/service.ts';
import { createIdentity } from './identity/wire.ts';
import { createMetrics } from './metrics/metrics.ts';
import { type MasterKeyRing, resolveMasterKeys } from './secrets/master-key.ts';
import { openStore } from './store/open.ts';
import type { Store } from './store/types.ts';
import type { CallTracer } from './tracing/types.ts';
import { purgeDeletedWorkspaces } from './workspaces/purge.ts';

/**
 * The one place where things are wired together: config → store → master keys → counters → app
 * → listen. Everything below receives what it needs; nothing reaches for globals.
 */
export interface Gateway {
  app: App;
  store: Store;
  counters: Counters;
  keys: MasterKeyRing;
  /** The /v1 machinery (exposed for operations such as invalidating routing caches). */
  dataPlane: DataPlane;
  /** The egress guard every outbound call uses (also for validating URLs at creation). */
  egress: Egress;
  /** The audit log and the data-plane event writer (tests flush it: `auditing.events.flush()`). */
  auditing: Auditing;
  /** Users, sessions, MFA, members (the admin API's; also how tests and tools bootstrap users). */
  identity: IdentityService;
  /** Base URL the gateway listens on, e.g. http://127.0.0.1:8080. */
  url: string;
  /** Graceful stop: refuse new connections, let in-flight requests finish up to the deadline, close stores. */
  close(): Promise<void>;
}

export interface StartOptions {
  config: Readonly<Config>;
  logger: Logger;
  clock?: Clock;
}

export async function startGateway({ config, logger, clock = systemClock }: StartOptions): Promise<Gateway> {
  const store = await openStore({ config, logger });
  let counters: Counters | undefined;
  let egress: Egress | undefined;
  let auditing: Auditing | undefined;
  let tracer: CallTracer | undefined;
  try {
    // The store logs what it applied.
    await store.migrate();
    const keys = await resolveMasterKeys({ config, store, logger, dataDir: config.dataDir, clock });
    counters = await openCounters({ config, logger, clock });
    egress = createEgress({
      allow: config.egress.allow,
      logger,
      pool: { connectTimeoutMs: config.upstream.connectTimeoutMs },
    });
    const metrics = createMetrics();
    // Loaded only when configured: with tracing off, no OpenTelemetry code is even imported.
    if (config.tracing.otlpEndpoint !== undefined) {
      const { startTracing } = await import('./tracing/start.ts');
      tracer = await startTracing({ config: config.tracing, egress, logger, clock });
    }
    auditing = await startAuditing({ config, store, keys, clock, logger, metrics });
    const { events } = auditing;
    const dataPlane = await createDataPlane({
      config,
      logger,
      clock,
      store,
      counters,
      keys,
      egress,
      events,
      metrics,
      tracer,
    });
    await dataPlane.start();
    const identity = await createIdentity({
      config,
      store,
      keys,
      clock,
      counters,
      audit: auditing.log,
      note: (event) => events.audit(event),
    });
    const admin = createAdminApi({
      dataPlane,
      store,
      counters,
      clock,
      logger,
      audit: auditing.log,
      identity,
      workspaces: config.workspaces,
    });
    const onRefusal = auditing.onRefusal;
    const app = createApp({
      config,
      store,
      counters,
      logger,
      clock,
      dataPlane,
      admin,
      metrics,
      onRefusal: (request, error) =>
        onRefusal(
          request,
          error,
          dataPlane.clientIp({ socketAddress: request.raw.socket.remoteAddress, headers: request.headers }),
        ),
    });
    await app.fastify.listen({ host: config.host, port: config.port });
    const address = app.fastify.server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const url = `${app.tls ? 'https' : 'http'}://${host}:${address.port}`;
    logger.info({ url, store: store.dialect, counters: counters.kind }, 'portcullis listening');

    const openCountersRef = counters;
    const openEgress = egress;
    const openAuditing = auditing;
    const openTracer = tracer;
    // Deleted workspaces are purged once their retention has passed: now, then hourly.
    let purging: Promise<void> | undefined;
    const purge = (): void => {
      purging ??= purgeDeletedWorkspaces({
        store,
        audit: openAuditing.log,
        clock,
        retentionDays: config.workspaces.retentionDays,
      })
        .then(
          ({ purged }) => {
            if (purged.length > 0)
              logger.info({ purged: purged.length }, 'purged deleted workspaces past retention');
          },
          (err: unknown) => logger.error({ err }, 'purging deleted workspaces failed'),
        )
        .finally(() => {
          purging = undefined;
        });
    };
    purge();
    const purgeTimer = setInterval(purge, 3_600_000);
    purgeTimer.unref();
    let closing: Promise<void> | undefined;
    const close = (): Promise<void> => {
      closing ??= (async () => {
        const server = app.fastify.server;
        // In-flight requests and streams get until the deadline; then remaining sockets are cut.
        const deadline = setTimeout(() => {
          logger.warn(
            { afterMs: config.timeouts.shutdownMs },
            'shutdown deadline reached; closing open connections',
          );
          server.closeAllConnections();
        }, config.timeouts.shutdownMs);
        deadline.unref();
        clearInterval(purgeTimer);
        await purging;
        try {
          await app.fastify.close();
        } finally {
          clearTimeout(deadline);
          await dataPlane
            .stop()
            .catch((err: unknown) => logger.error({ err }, 'stopping the data plane failed'));
          // After the drain: every call has recorded its usage; commit what is queued, sign the head.
          await openAuditing
            .close()
            .catch((err: unknown) => logger.error({ err }, 'closing the audit log failed'));
          // Every call has ended its span: export what is queued, through egress (closed next).
          await openTracer
            ?.shutdown()
            .catch((err: unknown) => logger.error({ err }, 'flushing traces failed'));
          await openEgress.close().catch((err: unknown) => logger.error({ err }, 'closing egress failed'));
          await openCountersRef
            .close()
            .catch((err: unknown) => logger.error({ err }, 'closing counters failed'));
          await store.close().catch((err: unknown) => logger.error({ err }, 'closing store failed'));
        }
      })();
      return closing;
    };
    return {
      app,
      store,
      counters,
      keys,
      egress: openEgress,
      dataPlane,
      auditing: openAuditing,
      identity,
      url,
      close,
    };
  } catch (err) {
    await auditing?.close().catch(() => undefined);
    await tracer?.shutdown().catch(() => undefined);
    await egress?.close().catch(() => undefined);
    await counters?.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    throw err;
  }
}
