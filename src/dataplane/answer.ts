import { ResponseTooLargeError } from '../egress/errors.ts';
import { readBounded } from '../egress/read-bounded.ts';
import { PortcullisError } from '../errors/catalogue.ts';
import type { Target } from '../providers/targets.ts';
import type { TokenUsage } from '../providers/translate/shared.ts';
import type { UpstreamClientError, UpstreamSuccess } from '../providers/upstream.ts';
import { statusOf } from './context.ts';
import type { Answer } from './proxy.ts';
import type { Format } from './texts.ts';

/** Reads a non-streaming provider answer (bounded) and parses it; anything unparseable is a 502. */
export async function readJsonAnswer(
  body: AsyncIterable<Uint8Array | string>,
  maxBytes: number,
): Promise<{ text: string; json: unknown }> {
  let raw: Buffer;
  try {
    raw = await readBounded(body, maxBytes);
  } catch (err) {
    if (err instanceof ResponseTooLargeError)
      throw new PortcullisError('upstream_invalid_response', { cause: err });
    throw err;
  }
  const text = raw.toString('utf8');
  try {
    return { text, json: JSON.parse(text) };
  } catch {
    // No cause: a JSON parse error quotes part of the body, which may be answer text (invariant 1).
    throw new PortcullisError('upstream_invalid_response');
  }
}

const MAX_REASON = 1000;

/**
 * A provider's 4xx for the request itself (bad parameter, context too long): the client gets the
 * provider's own reason, which is about their request, never about our credential (401/403 are
 * handled as upstream_auth_failed before this). The reason is sent to the client, not logged: it
 * may quote the prompt.
 */
export async function upstreamRefusal(
  result: UpstreamClientError<Target>,
  model: string,
): Promise<PortcullisError> {
  let reason = `HTTP ${result.status}`;
  try {
    const { json } = await readJsonAnswer(result.body, 256 * 1024);
    const error = (json as { error?: unknown }).error;
    const message =
      typeof error === 'object' && error !== null ? (error as { message?: unknown }).message : error;
    if (typeof message === 'string' && message.length > 0) reason = message.slice(0, MAX_REASON);
  } catch {
    // An unreadable error body still gets the status.
  }
  if (result.status === 404) return new PortcullisError('model_not_found', { vars: { model } });
  return new PortcullisError('upstream_invalid_request', { vars: { detail: reason } });
}

/** One attempt's answer, read and translated into the client's format. */
export interface ReadAnswer {
  /** The provider's bytes as they came. */
  text: string;
  body: Record<string, unknown>;
  usage: TokenUsage;
  /** The provider speaks the client's format: the bytes may be sent unchanged when nothing applies. */
  native: boolean;
}

const addUsage = (a: TokenUsage, b: TokenUsage): TokenUsage => ({
  inputTokens: a.inputTokens + b.inputTokens,
  outputTokens: a.outputTokens + b.outputTokens,
  cacheReadTokens: a.cacheReadTokens + b.cacheReadTokens,
  cacheWriteTokens: a.cacheWriteTokens + b.cacheWriteTokens,
});

/**
 * A non-streaming answer as the client gets it: read (`read`), output guardrails, then the
 * structured-output check; a non-matching answer is asked for again when the json-schema policy
 * allows (`retries`). Records the call once — the usage of every attempt (each was paid for) and
 * the status the client gets — then returns what to send (`raw`: the provider's bytes, unchanged)
 * or throws the refusal.
 */
export async function checkedAnswer(
  { result, record, guard, again }: Pick<Answer, 'result' | 'record' | 'guard' | 'again'>,
  format: Format,
  read: (result: UpstreamSuccess<Target>) => Promise<ReadAnswer>,
  log: { warn(obj: object, msg: string): void },
): Promise<{ body: Record<string, unknown>; raw?: string }> {
  let answer = await read(result);
  let usage = answer.usage;
  for (let retries = guard.structuredRetries; ; retries--) {
    if (answer.native && !guard.outputActive) {
      record(usage, 200, answer.body);
      return { body: answer.body, raw: answer.text };
    }
    try {
      guard.inspectAnswer(format, answer.body);
    } catch (err) {
      record(usage, statusOf(err), answer.body);
      throw err;
    }
    const violation = guard.checkStructured(format, answer.body);
    if (!violation) {
      record(usage, 200, answer.body);
      return { body: answer.body };
    }
    if (retries <= 0) {
      record(usage, violation.status, answer.body);
      throw violation;
    }
    try {
      answer = await read(await again());
    } catch (err) {
      // The answer we have is the one that failed: the client gets its violation, the log the rest.
      log.warn(
        { event: 'structured_output_retry_failed', code: (err as { code?: unknown }).code },
        'retry failed',
      );
      record(usage, violation.status, answer.body);
      throw violation;
    }
    usage = addUsage(usage, answer.usage);
  }
}
