import type { Attributes } from '@opentelemetry/api';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
} from '@opentelemetry/semantic-conventions';
// The GenAI attributes are still incubating (and moving to their own semantic-conventions
// repository); this module is loaded only when tracing is on, so their size costs nothing otherwise.
import {
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MAX_TOKENS,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_REQUEST_STREAM,
  ATTR_GEN_AI_RESPONSE_FINISH_REASONS,
  ATTR_GEN_AI_RESPONSE_ID,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_SYSTEM,
  ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  GEN_AI_OPERATION_NAME_VALUE_CHAT,
  GEN_AI_OPERATION_NAME_VALUE_EMBEDDINGS,
  GEN_AI_PROVIDER_NAME_VALUE_ANTHROPIC,
  GEN_AI_PROVIDER_NAME_VALUE_AZURE_AI_OPENAI,
  GEN_AI_PROVIDER_NAME_VALUE_OPENAI,
} from '@opentelemetry/semantic-conventions/incubating';
import type { ProviderKind } from '../providers/targets.ts';
import type { GuardrailNotes } from './guardrails.ts';
import type { CallAnswer, CallStart, TracedEndpoint } from './types.ts';

/**
 * A data-plane call as a span, after the OpenTelemetry GenAI semantic conventions (client spans:
 * https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/). An allowlist: every attribute
 * is named here and holds a count, a code, an id or a model name — never prompt or answer text
 * (DESIGN.md invariant 1: no gen_ai.input/output.messages, gen_ai.prompt, system instructions or
 * tool arguments), never a key or a credential, never an error message (a provider's reason can
 * quote the prompt).
 */
export interface FinishedCall {
  start: CallStart;
  requestId: string;
  workspaceId: string;
  keyId: string;
  /** The request body: only its max-token fields are read. */
  body: unknown;
  answer?: CallAnswer;
  /** Set when the handler threw. */
  error?: unknown;
  guardrails?: GuardrailNotes;
}

export interface SpanShape {
  name: string;
  attributes: Attributes;
  /** error.type, also the span's status description; undefined on success. */
  errorType?: string;
}

const OPERATION: Record<TracedEndpoint, string> = {
  chat: GEN_AI_OPERATION_NAME_VALUE_CHAT,
  messages: GEN_AI_OPERATION_NAME_VALUE_CHAT,
  responses: GEN_AI_OPERATION_NAME_VALUE_CHAT,
  embeddings: GEN_AI_OPERATION_NAME_VALUE_EMBEDDINGS,
};

/** Well-known gen_ai.provider.name values; an OpenAI-compatible server is named as such. */
const PROVIDER: Record<ProviderKind, string> = {
  openai: GEN_AI_PROVIDER_NAME_VALUE_OPENAI,
  anthropic: GEN_AI_PROVIDER_NAME_VALUE_ANTHROPIC,
  'azure-openai': GEN_AI_PROVIDER_NAME_VALUE_AZURE_AI_OPENAI,
  'openai-compatible': 'openai_compatible',
};

/** A code-shaped string: finish reasons, error codes, detector categories, response ids. */
const CODE = /^[A-Za-z0-9_.:/-]{1,128}$/;
const MAX_REASONS = 16;

const code = (value: unknown): string | undefined =>
  typeof value === 'string' && CODE.test(value) ? value : undefined;

const count = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;

/** The host and port a target's base URL points at: never its path or query. */
function serverOf(baseUrl: string): { address: string; port: number } | undefined {
  try {
    const url = new URL(baseUrl);
    const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
    return { address: url.hostname.replace(/^\[|\]$/g, ''), port };
  } catch {
    return undefined;
  }
}

function maxTokens(endpoint: TracedEndpoint, body: unknown): number | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const b = body as Record<string, unknown>;
  if (endpoint === 'chat') return count(b.max_completion_tokens) ?? count(b.max_tokens);
  if (endpoint === 'messages') return count(b.max_tokens);
  if (endpoint === 'responses') return count(b.max_output_tokens);
  return undefined;
}

function finishReasons(endpoint: TracedEndpoint, answer: Readonly<Record<string, unknown>>): string[] {
  const reasons: string[] = [];
  const add = (value: unknown): void => {
    const reason = code(value);
    if (reason !== undefined && reasons.length < MAX_REASONS) reasons.push(reason);
  };
  if (endpoint === 'chat' && Array.isArray(answer.choices)) {
    for (const choice of answer.choices) add((choice as { finish_reason?: unknown } | null)?.finish_reason);
  } else if (endpoint === 'messages') {
    add(answer.stop_reason);
  } else if (endpoint === 'responses') {
    const incomplete = answer.incomplete_details as { reason?: unknown } | null | undefined;
    add(incomplete?.reason ?? answer.status);
  }
  return reasons;
}

/** error.type: our catalogue code (clients switch on the same), else a low-cardinality fallback. */
function errorType(call: FinishedCall, status: number): string | undefined {
  if (call.error !== undefined) {
    const c = code((call.error as { code?: unknown } | null)?.code);
    return c ?? '_OTHER';
  }
  if (status < 400) return undefined;
  if (call.guardrails?.input === 'block' || call.guardrails?.output === 'block') return 'guardrail_blocked';
  if (status === 499) return 'client_closed';
  return String(status);
}

function statusOf(call: FinishedCall): number {
  if (call.error !== undefined) {
    const status = (call.error as { status?: unknown } | null)?.status;
    return typeof status === 'number' ? status : 500;
  }
  return call.answer?.status ?? 500;
}

/** The block's detector and category from a guardrail_blocked refusal (tool and hosted-tool blocks skip inspect). */
function blockedBy(call: FinishedCall): string | undefined {
  if (call.guardrails?.blockedBy) return call.guardrails.blockedBy;
  const err = call.error as { code?: unknown; vars?: Record<string, unknown> } | null | undefined;
  if (err?.code !== 'guardrail_blocked' || !err.vars) return undefined;
  const detector = code(err.vars.detector);
  const category = code(err.vars.category);
  return detector && category ? `${detector}:${category}` : undefined;
}

/** `{gen_ai.operation.name} {gen_ai.request.model}`, as the conventions name GenAI client spans. */
export function spanName(start: CallStart): string {
  return `${OPERATION[start.endpoint]} ${start.model}`;
}

/** What a sampler may look at (the conventions' sampling-relevant attributes known at the start). */
export function samplingAttributes(start: CallStart): Attributes {
  return {
    [ATTR_GEN_AI_OPERATION_NAME]: OPERATION[start.endpoint],
    [ATTR_GEN_AI_REQUEST_MODEL]: start.model,
  };
}

export function spanShape(call: FinishedCall): SpanShape {
  const { start } = call;
  const operation = OPERATION[start.endpoint];
  const status = statusOf(call);
  const a: Attributes = {
    [ATTR_GEN_AI_OPERATION_NAME]: operation,
    [ATTR_GEN_AI_REQUEST_MODEL]: start.model,
    [ATTR_GEN_AI_REQUEST_STREAM]: start.stream,
    [ATTR_HTTP_RESPONSE_STATUS_CODE]: status,
    'portcullis.endpoint': start.endpoint,
    'portcullis.stream': start.stream,
    'portcullis.workspace_id': call.workspaceId,
    'portcullis.key_id': call.keyId,
    'portcullis.request_id': call.requestId,
  };
  const max = maxTokens(start.endpoint, call.body);
  if (max !== undefined) a[ATTR_GEN_AI_REQUEST_MAX_TOKENS] = max;

  const answered = call.answer;
  if (answered) {
    const { target } = answered;
    const provider = PROVIDER[target.provider] ?? target.provider;
    a[ATTR_GEN_AI_PROVIDER_NAME] = provider;
    // Deprecated by gen_ai.provider.name, still what many GenAI backends group by.
    a[ATTR_GEN_AI_SYSTEM] = provider;
    const server = serverOf(target.baseUrl);
    if (server) {
      a[ATTR_SERVER_ADDRESS] = server.address;
      a[ATTR_SERVER_PORT] = server.port;
    }
    a['portcullis.target'] = target.credentialName;
    a['portcullis.upstream_model'] = target.upstreamModel;
    a['portcullis.attempts'] = answered.attempts;
    const usage = answered.usage;
    if (usage) {
      a[ATTR_GEN_AI_USAGE_INPUT_TOKENS] = usage.inputTokens;
      a[ATTR_GEN_AI_USAGE_OUTPUT_TOKENS] = usage.outputTokens;
      if (usage.cacheReadTokens > 0) a[ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = usage.cacheReadTokens;
      if (usage.cacheWriteTokens > 0)
        a[ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = usage.cacheWriteTokens;
    }
    const body = answered.answer;
    if (body) {
      const model = body.model;
      if (typeof model === 'string' && model.length > 0 && model.length <= 256)
        a[ATTR_GEN_AI_RESPONSE_MODEL] = model;
      const id = code(body.id);
      if (id !== undefined) a[ATTR_GEN_AI_RESPONSE_ID] = id;
      const reasons = finishReasons(start.endpoint, body);
      if (reasons.length > 0) a[ATTR_GEN_AI_RESPONSE_FINISH_REASONS] = reasons;
    } else if (answered.streamed) {
      const { model, id, finishReasons: reasons } = answered.streamed;
      if (model !== undefined && model.length <= 256) a[ATTR_GEN_AI_RESPONSE_MODEL] = model;
      const checkedId = code(id);
      if (checkedId !== undefined) a[ATTR_GEN_AI_RESPONSE_ID] = checkedId;
      const codes = reasons.flatMap((r) => code(r) ?? []).slice(0, MAX_REASONS);
      if (codes.length > 0) a[ATTR_GEN_AI_RESPONSE_FINISH_REASONS] = codes;
    }
  }

  const notes = call.guardrails;
  if (notes) {
    if (notes.input) a['portcullis.guardrail.input'] = notes.input;
    if (notes.output) a['portcullis.guardrail.output'] = notes.output;
    if (notes.findings.size > 0) a['portcullis.guardrail.findings'] = [...notes.findings];
  }
  const by = blockedBy(call);
  if (by) a['portcullis.guardrail.blocked_by'] = by;

  const type = errorType(call, status);
  if (type !== undefined) a[ATTR_ERROR_TYPE] = type;
  return { name: spanName(start), attributes: a, ...(type ? { errorType: type } : {}) };
}
