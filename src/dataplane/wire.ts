import type { KeyObject } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { auditAuthBlocked, auditBudgetThreshold, createCallObserver } from '../audit/dataplane.ts';
import type { EventWriter } from '../audit/writer.ts';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import { type ContentLog, createContentLog } from '../content/log.ts';
import type { Counters } from '../counters/types.ts';
import { type CredentialRepository, createCredentialRepository } from '../credentials/repository.ts';
import type { Egress } from '../egress/egress.ts';
import { PortcullisError } from '../errors/catalogue.ts';
import { createGuardrails } from '../guardrails/inspect.ts';
import { createJsonSchemaValidators } from '../guardrails/json-schema.ts';
import { createGuardrailPolicies, type GuardrailPolicies } from '../guardrails/policy-store.ts';
import { loadPepper } from '../keys/hash.ts';
import type { KeyPrincipal } from '../keys/types.ts';
import { createKeyVerifier } from '../keys/verify.ts';
import { readPlans } from '../limits/named-plans.ts';
import { createPriceRepository } from '../limits/price-repository.ts';
import { createPriceBook } from '../limits/prices.ts';
import { createLimitsStage, type LimitsStage } from '../limits/stage.ts';
import { createTokenEstimator } from '../limits/tokens.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { type Authenticator, createAuthenticator } from '../pipeline/authenticate.ts';
import { allowedModels, authorize, modelAllowed } from '../pipeline/authorize.ts';
import { type ClientIpResolver, createClientIpResolver } from '../pipeline/client-ip.ts';
import { corsHeadersFor, createPreflight, type Preflight } from '../pipeline/cors.ts';
import { createCircuitBreakers } from '../providers/breaker.ts';
import type { Target } from '../providers/targets.ts';
import { createRouter, type Router } from '../routing/resolve.ts';
import type { MasterKeyRing } from '../secrets/master-key.ts';
import { createVault } from '../secrets/vault.ts';
import type { Store } from '../store/types.ts';
import type { CallTracer } from '../tracing/types.ts';
import { createWorkspaceRepository } from '../workspaces/repository.ts';
import type { Caller, DataPlaneDeps } from './context.ts';
import { createRequestGuard } from './guard.ts';

/**
 * Builds the data plane's dependencies from the process's stores: key verification (stages 2-3),
 * routing and credentials (stage 6) and the upstream caller. createApp registers the routes.
 */
export interface DataPlane {
  deps: DataPlaneDeps;
  preflight: Preflight;
  router: Router;
  /** Stage 4; `invalidate` after changing a workspace's limits or prices in this process. */
  limits: LimitsStage;
  /**
   * Shared with the admin API (src/admin), so both surfaces authenticate alike (one brute-force
   * defence, one revocation-aware cache) and a credential change reaches this process's routing
   * and secret caches at once.
   */
  authenticator: Authenticator;
  clientIp: ClientIpResolver;
  credentials: CredentialRepository;
  /** The server-side secret API keys are hashed with (for the key repository). */
  pepper: KeyObject;
  /** Guardrail policies per workspace and key (stages 5 and 7). */
  policies: GuardrailPolicies;
  /** Opt-in content logging (src/content); its purge timer runs between start() and stop(). */
  content: ContentLog;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface DataPlaneOptions {
  config: Readonly<Config>;
  logger: Logger;
  clock: Clock;
  store: Store;
  counters: Counters;
  keys: MasterKeyRing;
  egress: Egress;
  /** Where lockouts and usage records go (src/audit/writer.ts); without it they are only logged. */
  events?: EventWriter;
  metrics?: Metrics;
  /** OpenTelemetry spans (src/tracing), when `tracing.otlpEndpoint` is set. */
  tracer?: CallTracer;
}

interface AdmittedCaller extends Caller {
  principal: KeyPrincipal;
}

export async function createDataPlane(opts: DataPlaneOptions): Promise<DataPlane> {
  const { config, logger, clock, store, counters, keys, egress } = opts;
  const pepper = await loadPepper({ store, keys, clock });
  const verifier = createKeyVerifier({
    store,
    pepper,
    clock,
    counters,
    logger,
    cacheTtlMs: config.auth.keyCacheTtlMs,
  });
  const authenticator = createAuthenticator({
    verifier,
    counters,
    logger,
    clock,
    bruteForce: config.auth.bruteForce,
    ...(opts.events ? { onBlocked: auditAuthBlocked(opts.events) } : {}),
  });
  const clientIp = createClientIpResolver(config.trustedProxies);
  const router = createRouter({ store, clock });
  const vault = createVault({ store, keys, clock });
  const credentials = createCredentialRepository({
    store,
    vault,
    clock,
    egress,
    egressAllow: config.egress.allow,
    logger,
    onChange: (workspaceId) => router.invalidate(workspaceId),
  });
  const preflight = createPreflight();
  const breakers = createCircuitBreakers({
    failures: config.upstream.breakerFailures,
    cooldownMs: config.upstream.breakerCooldownMs,
    clock,
  });
  const callers = new WeakMap<FastifyRequest, AdmittedCaller>();
  const priceRepository = createPriceRepository({ store, clock });
  const workspaceRepository = createWorkspaceRepository({ store, clock });
  const prices = createPriceBook({ clock, loadWorkspacePrices: (id) => priceRepository.list(id) });
  const limits = createLimitsStage({
    config,
    logger,
    clock,
    counters,
    prices,
    tokens: await createTokenEstimator({ exactUpToChars: config.limits.exactTokenCountChars }),
    loadWorkspaceLimits: (id) => workspaceRepository.getLimits(id),
    loadWorkspacePlans: (id) => readPlans(workspaceRepository, id),
    ...(opts.events ? { onBudgetThreshold: auditBudgetThreshold(opts.events) } : {}),
  });

  const origin = (request: FastifyRequest): string | undefined => {
    const value = request.headers.origin;
    return typeof value === 'string' ? value : undefined;
  };

  // Compiles every detector up front (~0.3 s), so the first request does not pay for it.
  const guardrails = createGuardrails();
  // Structured-output schemas, compiled on first use and cached per workspace (json-schema.ts).
  const validators = createJsonSchemaValidators();
  const policies = createGuardrailPolicies({ workspaces: workspaceRepository, clock });
  const content = createContentLog({
    db: store.db,
    clock,
    logger,
    guardrails,
    workspaces: workspaceRepository,
  });

  const deps: DataPlaneDeps = {
    config,
    logger,
    clock,
    async guard(request, caller) {
      return createRequestGuard(
        opts.tracer ? opts.tracer.watchGuardrails(request, guardrails) : guardrails,
        await policies.effective(caller.workspaceId, caller.keyId),
        request,
        { validators, scope: caller.workspaceId },
      );
    },
    async admit(request: FastifyRequest, reply: FastifyReply, scope) {
      const ip = clientIp({ socketAddress: request.raw.socket.remoteAddress, headers: request.headers });
      const principal = await authenticator.authenticate({
        headers: request.headers,
        url: request.url,
        clientIp: ip,
      });
      authorize(principal, { scope, clientIp: ip, origin: origin(request) });
      reply.headers(corsHeadersFor(principal, origin(request)));
      const caller: AdmittedCaller = {
        keyId: principal.keyId,
        workspaceId: principal.workspaceId,
        principal,
      };
      callers.set(request, caller);
      request.caller = { keyId: caller.keyId, workspaceId: caller.workspaceId };
      return caller;
    },
    authorizeModel(request, _caller, model) {
      const caller = callers.get(request);
      if (!caller) throw new PortcullisError('internal_error');
      if (!modelAllowed(caller.principal, model)) {
        throw new PortcullisError('model_not_allowed', { vars: { model }, param: 'model' });
      }
    },
    async listModels(caller) {
      const admitted = caller as AdmittedCaller;
      const models = await router.listModels(caller.workspaceId);
      return allowedModels(admitted.principal, models).map((m) => m.id);
    },
    async resolveTargets(workspaceId, model) {
      const targets = await router.resolveTargets({ workspaceId, model });
      return targets.map(
        (t): Target => ({
          ...t,
          options: t.options as Readonly<Record<string, unknown>>,
          key: `${t.credentialId} ${t.baseUrl}`,
        }),
      );
    },
    async limit(request, reply, caller, call) {
      const admitted = callers.get(request);
      if (!admitted) throw new PortcullisError('internal_error');
      const ticket = await limits.admit({
        keyId: caller.keyId,
        workspaceId: caller.workspaceId,
        keyLimits: admitted.principal.limits,
        userId: admitted.principal.userId,
        ...call,
      });
      reply.headers(ticket.headers);
      return ticket;
    },
    // Always within the caller's workspace: another tenant's credential id never decrypts here.
    resolveSecret: (credentialId, workspaceId) => credentials.resolveSecret(credentialId, workspaceId),
    upstream: { dispatcher: egress.dispatcher, breakers, config, clock, logger },
    captureContent: (request, caller, endpoint, model) =>
      content.capture({
        workspaceId: caller.workspaceId,
        keyId: caller.keyId,
        requestId: request.id,
        model,
        endpoint,
        body: request.body as Record<string, unknown>,
      }),
    trace: opts.tracer,
    observe: createCallObserver({
      clock,
      events: opts.events,
      metrics: opts.metrics,
      prices,
      router,
      logger,
    }),
  };
  return {
    deps,
    preflight,
    router,
    limits,
    authenticator,
    clientIp,
    credentials,
    pepper,
    policies,
    content,
    start: async () => {
      await verifier.start();
      content.start();
    },
    stop: async () => {
      await verifier.stop();
      await content.close();
    },
  };
}
