import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { ContentCapture } from '../content/capture.ts';
import { PortcullisError } from '../errors/catalogue.ts';
import type { Ticket } from '../limits/stage.ts';
import {
  InvalidParameterError,
  UnsupportedParameterError,
  UpstreamFormatError,
} from '../providers/errors.ts';
import type { Target } from '../providers/targets.ts';
import type { StreamFacts, TokenUsage } from '../providers/translate/shared.ts';
import type { UpstreamDeps } from '../providers/upstream.ts';
import type { CallTracer } from '../tracing/types.ts';
import type { RequestGuard } from './guard.ts';
import type { Format } from './texts.ts';

/** What the data-plane routes need, injected by createApp (no module state). */
export interface Caller {
  keyId: string;
  workspaceId: string;
}

export type Scope = 'chat' | 'embeddings' | 'responses' | 'messages' | 'models:read';

export interface DataPlaneDeps {
  config: Readonly<Config>;
  logger: Logger;
  clock: Clock;
  /** Stages 2-3: who is calling and may they use this endpoint (and model). Throws a PortcullisError. */
  admit(request: FastifyRequest, reply: FastifyReply, scope: Scope): Promise<Caller>;
  authorizeModel(request: FastifyRequest, caller: Caller, model: string): void;
  /** Models this caller may see in GET /v1/models. */
  listModels(caller: Caller): Promise<string[]>;
  /** Stage 6: the ordered targets for a public model name (model_not_found when none). */
  resolveTargets(workspaceId: string, model: string): Promise<Target[]>;
  /**
   * Stage 4 (src/limits): charges every rate limit, concurrency slot and spend budget that applies,
   * or throws a PortcullisError (429 …); sets the x-ratelimit-* headers. The ticket must be settled
   * exactly once, from the call's `record` path, or with no usage when the handler throws.
   */
  limit(request: FastifyRequest, reply: FastifyReply, caller: Caller, call: LimitedCall): Promise<Ticket>;
  /** A credential's secret, decrypted in memory for one call, looked up only within the caller's workspace. */
  resolveSecret(credentialId: string, workspaceId: string): Promise<string>;
  upstream: UpstreamDeps;
  /** Stages 5 and 7: the guardrails for this caller's request, under its workspace and key policy. */
  guard(request: FastifyRequest, caller: Caller): Promise<RequestGuard>;
  /**
   * Told about every recorded call after its log line (usage accounting, metrics: src/audit,
   * src/metrics). Must return at once and never throw: it only queues.
   */
  observe?: (request: FastifyRequest, caller: Caller, call: ObservedCall) => void;
  /** OpenTelemetry spans of admitted calls (src/tracing); undefined when tracing is off. */
  trace?: CallTracer;
  /**
   * Content logging (src/content): a capture of this call's prompt and answer when the caller's
   * workspace opted in, else undefined — and then no text is kept.
   */
  captureContent?: (
    request: FastifyRequest,
    caller: Caller,
    endpoint: Format,
    model: string,
  ) => Promise<ContentCapture | undefined>;
}

/** A recorded call with the target that answered (for pricing) and the time to its response headers. */
export interface ObservedCall extends CallRecord {
  answeredBy: Target;
  upstreamMs: number;
}

export interface LimitedCall {
  endpoint: string;
  model: string;
  body: Readonly<Record<string, unknown>>;
  targets: readonly Target[];
}

/** The status a call record gets for a handler that threw after the limit stage. */
export function statusOf(err: unknown): number {
  const status = (err as { status?: unknown; statusCode?: unknown } | null)?.status;
  return typeof status === 'number' ? status : 500;
}

/** One line per proxied call: metadata only, never prompt or answer text (DESIGN.md invariant 1). */
export interface CallRecord {
  endpoint: string;
  model: string;
  target?: string;
  provider?: string;
  stream: boolean;
  status: number;
  usage?: TokenUsage;
  attempts?: number;
  ms: number;
}

export function recordCall(request: FastifyRequest, caller: Caller, record: CallRecord): void {
  request.callRecorded = true;
  request.log.info(
    {
      event: 'llm_call',
      workspace: caller.workspaceId,
      key: caller.keyId,
      endpoint: record.endpoint,
      model: record.model,
      target: record.target,
      provider: record.provider,
      stream: record.stream,
      status: record.status,
      inputTokens: record.usage?.inputTokens,
      outputTokens: record.usage?.outputTokens,
      attempts: record.attempts,
      ms: record.ms,
    },
    'llm call',
  );
}

/** Maps translation errors onto the catalogue, naming the parameter and the target. */
export function providerError(err: unknown, target?: Target): unknown {
  if (err instanceof UnsupportedParameterError) {
    return new PortcullisError('unsupported_parameter', {
      param: err.param,
      vars: {
        param: err.param,
        target: target ? `${target.provider} model "${target.upstreamModel}"` : 'this target',
        detail:
          err.message.replace(/^Parameter '[^']*' is not supported by the target provider:? ?/, '') ||
          'refused',
      },
      cause: err,
    });
  }
  if (err instanceof InvalidParameterError) {
    return new PortcullisError('invalid_request', {
      param: err.param,
      vars: { detail: err.message.replace(/\.$/, '') },
    });
  }
  if (err instanceof UpstreamFormatError)
    return new PortcullisError('upstream_invalid_response', { cause: err });
  return err;
}

/** Aborts the upstream call when the client goes away before the answer is complete. */
export function abortOnDisconnect(request: FastifyRequest, reply: FastifyReply): AbortController {
  const controller = new AbortController();
  const onClose = (): void => {
    if (!reply.raw.writableFinished) controller.abort(new DOMException('client disconnected', 'AbortError'));
  };
  reply.raw.once('close', onClose);
  request.raw.once('aborted', onClose);
  return controller;
}

/** True for the error an upstream read ends with after the client went away (the call was aborted on purpose). */
export function isAbort(err: unknown): boolean {
  const e = err as { name?: unknown; code?: unknown } | null;
  return e?.name === 'AbortError' || e?.code === 'UND_ERR_ABORTED' || e?.code === 'ABORT_ERR';
}

const TEXT_KEYS = new Set(['content', 'text', 'partial_json', 'arguments', 'thinking', 'refusal', 'delta']);

/**
 * Counts the answer text relayed to the client, so a call that ends early (client abort, broken
 * stream) is charged for what it delivered: the provider's final usage never arrives then, and
 * charging only the input would let a client read almost a whole answer, abort, and repeat past
 * any budget (found in review). Tokens are estimated as characters / 4.
 */
export interface RelayedText {
  add(event: unknown): void;
  /** The usage to settle with: the provider's when complete, else at least what was relayed. */
  usage(reported: TokenUsage | undefined, status: number): TokenUsage | undefined;
  /** What the provider's events said about the answer (model, id, finish reasons), for traces. */
  facts(): StreamFacts;
}

/** A stream relay's way to report its outcome (the proxy's RecordOutcome, without a body). */
export type StreamRecord = (
  usage: TokenUsage | undefined,
  status: number,
  answer?: undefined,
  streamed?: StreamFacts,
) => void;

const MAX_FINISH_REASONS = 8;
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

function noteFacts(facts: StreamFacts, event: unknown): void {
  if (typeof event !== 'object' || event === null) return;
  const e = event as Record<string, unknown>;
  // Anthropic `message_start` carries the message; Responses events carry the response.
  const holder = (e.message ?? e.response ?? e) as Record<string, unknown> | null;
  if (typeof holder === 'object' && holder !== null) {
    facts.model ??= str(holder.model);
    facts.id ??= str(holder.id);
  }
  const reason = (value: unknown): void => {
    const r = str(value);
    if (r && facts.finishReasons.length < MAX_FINISH_REASONS) facts.finishReasons.push(r);
  };
  if (Array.isArray(e.choices)) {
    for (const c of e.choices) reason((c as { finish_reason?: unknown } | null)?.finish_reason);
  }
  reason((e.delta as { stop_reason?: unknown } | null | undefined)?.stop_reason);
  if (e.type === 'response.completed' || e.type === 'response.incomplete' || e.type === 'response.failed') {
    const r = e.response as
      | { status?: unknown; incomplete_details?: { reason?: unknown } | null }
      | undefined;
    reason(r?.incomplete_details?.reason ?? r?.status);
  }
}

export function relayedText(): RelayedText {
  let chars = 0;
  const facts: StreamFacts = { finishReasons: [] };
  const walk = (value: unknown, depth: number): void => {
    if (depth > 8 || typeof value !== 'object' || value === null) return;
    for (const [k, v] of Object.entries(value)) {
      if (typeof v === 'string') {
        if (TEXT_KEYS.has(k)) chars += v.length;
      } else walk(v, depth + 1);
    }
  };
  return {
    add(event) {
      walk(event, 0);
      noteFacts(facts, event);
    },
    facts: () => facts,
    usage(reported, status) {
      if (status === 200) return reported;
      const output = Math.ceil(chars / 4);
      if (!reported) return { inputTokens: 0, outputTokens: output, cacheReadTokens: 0, cacheWriteTokens: 0 };
      return { ...reported, outputTokens: Math.max(reported.outputTokens, output) };
    },
  };
}
