import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AnthropicStreamEvent } from '../providers/anthropic/types.ts';
import { anthropicRequest, nativeFormat, openAIRequest, type Target } from '../providers/targets.ts';
import { anthropicRequestToOpenAI } from '../providers/translate/anthropic-to-openai.ts';
import { openAICompletionToAnthropic } from '../providers/translate/responses.ts';
import { usageFromAnthropic } from '../providers/translate/shared.ts';
import { anthropicSSE, anthropicStreamError } from '../providers/translate/sse.ts';
import { OpenAIToAnthropicStream } from '../providers/translate/stream-openai-to-anthropic.ts';
import type { UpstreamSuccess } from '../providers/upstream.ts';
import { checkedAnswer, readJsonAnswer } from './answer.ts';
import { CLIENT_CLOSED } from './chat.ts';
import { type DataPlaneDeps, isAbort, relayedText, type StreamRecord } from './context.ts';
import { proxy, sendEvents } from './proxy.ts';
import { parseEventJson, readSse } from './sse.ts';
import { type AnswerFilter, createAnthropicEventGuard, type StreamStop } from './stream-guard.ts';

/**
 * POST /v1/messages — Anthropic Messages, to any target. Anthropic targets get the body as sent;
 * OpenAI-format targets get it translated to Chat Completions, and the answer translated back.
 */
export interface MessagesBody {
  model: string;
  messages: unknown[];
  max_tokens: number;
  stream?: boolean;
  [key: string]: unknown;
}

export function messages(deps: DataPlaneDeps) {
  return (request: FastifyRequest<{ Body: MessagesBody }>, reply: FastifyReply) => {
    const body = request.body;
    const stream = body.stream === true;
    return proxy(
      deps,
      request,
      reply,
      {
        endpoint: 'messages',
        scope: 'messages',
        model: body.model,
        stream,
        build(target, secret) {
          if (nativeFormat(target.provider) === 'anthropic')
            return anthropicRequest(target, body, secret, request.headers);
          const translated = anthropicRequestToOpenAI(body) as unknown as Record<string, unknown>;
          const upstreamBody = stream
            ? { ...translated, stream: true, stream_options: { include_usage: true } }
            : translated;
          return openAIRequest(target, 'chat', upstreamBody, secret);
        },
      },
      async (answer) => {
        const { result, record, guard } = answer;
        const anthropicTarget = nativeFormat(result.target.provider) === 'anthropic';
        if (stream) {
          const check = guard.outputActive
            ? createAnthropicEventGuard((slot) => guard.streamFilter(slot) as AnswerFilter, guard.toolAllowed)
            : undefined;
          return sendEvents(
            reply,
            anthropicTarget
              ? relayAnthropic(result, record, check)
              : relayOpenAIAsAnthropic(result, record, check),
          );
        }
        const checked = await checkedAnswer(
          answer,
          'messages',
          async (attempt) => {
            const { text, json } = await readJsonAnswer(attempt.body, deps.config.upstream.maxResponseBytes);
            const native = nativeFormat(attempt.target.provider) === 'anthropic';
            const body = native
              ? (json as Record<string, unknown>)
              : (openAICompletionToAnthropic(json) as unknown as Record<string, unknown>);
            return { text, body, usage: usageFromAnthropic(body.usage), native };
          },
          request.log,
        );
        if (checked.raw !== undefined) return reply.type('application/json').send(checked.raw);
        return reply.send(checked.body);
      },
    );
  };
}

function streamFailure(err: unknown): string {
  const reason =
    err instanceof Error && err.name === 'UpstreamFormatError' ? 'sent an invalid stream' : 'stream failed';
  return anthropicSSE(anthropicStreamError(`The provider ${reason} before the answer was complete.`));
}

/** Anthropic upstream → Anthropic client: events checked and passed through, usage read on the way. */
type EventGuard = ReturnType<typeof createAnthropicEventGuard>;

/**
 * Events after the output guardrail; `stopped` carries the error event to end with when it
 * blocked, `status` the status to record.
 */
type Emitted = { out: string; stopped?: string; status?: number };

/** Anthropic's error types: a 5xx of ours (output_schema_violation) is its `api_error`. */
const anthropicType = (stop: StreamStop): string =>
  stop.type === 'server_error' ? 'api_error' : 'invalid_request_error';

function guarded(events: readonly unknown[], check: EventGuard): Emitted {
  let out = '';
  for (const e of events) {
    const g = check(e as Record<string, unknown>);
    for (const x of g.events) out += anthropicSSE(x as unknown as AnthropicStreamEvent);
    if (g.blocked) {
      const stopped = anthropicSSE(anthropicStreamError(g.reason, anthropicType(g)));
      return { out, stopped, status: g.status };
    }
  }
  return { out };
}

async function* relayAnthropic(
  result: UpstreamSuccess<Target>,
  record: StreamRecord,
  check?: EventGuard,
): AsyncGenerator<string> {
  let input = 0;
  const relayed = relayedText();
  let output = 0;
  let status = CLIENT_CLOSED;
  try {
    let stopped = false;
    for await (const batch of readSse(result.body)) {
      let out = '';
      for (const event of batch) {
        const parsed = parseEventJson(event.data) as {
          message?: { usage?: unknown };
          usage?: unknown;
        } | null;
        relayed.add(parsed);
        if (event.event === 'message_start' || event.event === 'message_delta') {
          const usage = usageFromAnthropic(parsed?.message?.usage ?? parsed?.usage);
          if (event.event === 'message_start') input = usage.inputTokens;
          output = Math.max(output, usage.outputTokens);
        } else if (event.event === 'message_stop' || event.event === 'error') {
          stopped = true;
        }
        if (check && parsed !== null) {
          const g = guarded([parsed], check);
          out += g.out;
          if (g.stopped) {
            status = g.status ?? 400;
            yield out + g.stopped;
            return;
          }
          continue;
        }
        out += event.event ? `event: ${event.event}\ndata: ${event.data}\n\n` : `data: ${event.data}\n\n`;
      }
      if (out.length > 0) yield out;
    }
    if (!stopped) throw new Error('truncated');
    status = 200;
  } catch (err) {
    if (isAbort(err)) return;
    status = 502;
    yield streamFailure(err);
  } finally {
    record(
      relayed.usage(
        { inputTokens: input, outputTokens: output, cacheReadTokens: 0, cacheWriteTokens: 0 },
        status,
      ),
      status,
      undefined,
      relayed.facts(),
    );
  }
}

/** OpenAI-format upstream → Anthropic client: chunks translated into Messages stream events. */
async function* relayOpenAIAsAnthropic(
  result: UpstreamSuccess<Target>,
  record: StreamRecord,
  check?: EventGuard,
): AsyncGenerator<string> {
  const emit = (events: readonly AnthropicStreamEvent[]): Emitted => {
    if (check) return guarded(events, check);
    let out = '';
    for (const e of events) out += anthropicSSE(e);
    return { out };
  };
  const translator = new OpenAIToAnthropicStream();
  const relayed = relayedText();
  let status = CLIENT_CLOSED;
  try {
    let sawDone = false;
    for await (const batch of readSse(result.body)) {
      let out = '';
      for (const event of batch) {
        if (event.data === '[DONE]') {
          sawDone = true;
          const g = emit(translator.end());
          out += g.out;
          if (g.stopped) {
            status = g.status ?? 400;
            yield out + g.stopped;
            return;
          }
          continue;
        }
        const parsed = parseEventJson(event.data) as { choices?: unknown } | null;
        relayed.add(parsed);
        const g = emit(translator.push(parsed));
        out += g.out;
        if (g.stopped) {
          status = g.status ?? 400;
          yield out + g.stopped;
          return;
        }
      }
      if (out.length > 0) yield out;
    }
    if (!sawDone) {
      // Cut off upstream without [DONE]: end() closes a finished answer or reports the truncation.
      const g = emit(translator.end());
      if (g.stopped) status = g.status ?? 400;
      const tail = g.out + (g.stopped ?? '');
      if (tail.length > 0) yield tail;
      if (g.stopped) return;
    }
    status = sawDone ? 200 : 502;
  } catch (err) {
    if (isAbort(err)) return;
    status = 502;
    yield streamFailure(err);
  } finally {
    record(relayed.usage(translator.usage, status), status, undefined, relayed.facts());
  }
}
