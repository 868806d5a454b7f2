import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AnthropicStreamEvent } from '../providers/anthropic/types.ts';
import { anthropicRequest, nativeFormat, openAIRequest, type Target } from '../providers/targets.ts';
import { openAIRequestToAnthropic } from '../providers/translate/openai-to-anthropic.ts';
import { anthropicMessageToOpenAI } from '../providers/translate/responses.ts';
import { emptyUsage, type TokenUsage, usageFromOpenAI } from '../providers/translate/shared.ts';
import { OPENAI_SSE_DONE, openAISSE, openAIStreamError } from '../providers/translate/sse.ts';
import { AnthropicToOpenAIStream } from '../providers/translate/stream-anthropic-to-openai.ts';
import type { UpstreamSuccess } from '../providers/upstream.ts';
import { checkedAnswer, readJsonAnswer } from './answer.ts';
import { type Caller, type DataPlaneDeps, isAbort, relayedText, type StreamRecord } from './context.ts';
import { proxy, sendEvents } from './proxy.ts';
import { parseEventJson, readSse } from './sse.ts';
import { type AnswerFilter, createOpenAIChunkGuard } from './stream-guard.ts';

/**
 * POST /v1/chat/completions — OpenAI Chat Completions, to any target. OpenAI-format targets get
 * the body as sent (model renamed to the upstream name); Anthropic targets get it translated, and
 * their answer translated back, streaming included.
 */
export interface ChatBody {
  model: string;
  messages: unknown[];
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean } | null;
  [key: string]: unknown;
}

export function chatCompletions(deps: DataPlaneDeps) {
  return (request: FastifyRequest<{ Body: ChatBody }>, reply: FastifyReply) => {
    const body = request.body;
    const stream = body.stream === true;
    const clientWantsUsage = stream && body.stream_options?.include_usage === true;
    return proxy(
      deps,
      request,
      reply,
      {
        endpoint: 'chat',
        scope: 'chat',
        model: body.model,
        stream,
        build(target, secret) {
          if (nativeFormat(target.provider) === 'openai') {
            // Usage is always asked for, so accounting never has to guess; the client only sees
            // the usage chunk when it asked for it.
            const upstreamBody = stream
              ? { ...body, stream_options: { ...(body.stream_options ?? {}), include_usage: true } }
              : body;
            return openAIRequest(target, 'chat', upstreamBody, secret);
          }
          const translated = openAIRequestToAnthropic(body) as unknown as Record<string, unknown>;
          return anthropicRequest(target, translated, secret, request.headers);
        },
      },
      async (answer) => {
        const { result, record, guard } = answer;
        const openAITarget = nativeFormat(result.target.provider) === 'openai';
        if (stream) {
          const check = guard.outputActive
            ? createOpenAIChunkGuard((slot) => guard.streamFilter(slot) as AnswerFilter, guard.toolAllowed)
            : undefined;
          return sendEvents(
            reply,
            openAITarget
              ? relayOpenAI(result, clientWantsUsage, record, check)
              : relayAnthropicAsOpenAI(result, clientWantsUsage, deps.clock.now(), record, check),
          );
        }
        const checked = await checkedAnswer(
          answer,
          'chat',
          async (attempt) => {
            const { text, json } = await readJsonAnswer(attempt.body, deps.config.upstream.maxResponseBytes);
            const native = nativeFormat(attempt.target.provider) === 'openai';
            const body = native
              ? (json as Record<string, unknown>)
              : (anthropicMessageToOpenAI(json, {
                  created: Math.floor(deps.clock.now() / 1000),
                }) as unknown as Record<string, unknown>);
            return { text, body, usage: usageFromOpenAI(body.usage), native };
          },
          request.log,
        );
        // The provider's bytes as they came, when nothing applies: identical to calling it directly.
        if (checked.raw !== undefined) return reply.type('application/json').send(checked.raw);
        return reply.send(checked.body);
      },
    );
  };
}

function streamFailure(err: unknown): string {
  const reason =
    err instanceof Error && err.name === 'UpstreamFormatError' ? 'sent an invalid stream' : 'stream failed';
  return openAISSE(
    openAIStreamError(
      `The provider ${reason} before the answer was complete.`,
      'server_error',
      'upstream_error',
    ),
  );
}

/** Client closed the request before the answer ended (nginx's 499), for the call record. */
export const CLIENT_CLOSED = 499;

type ChunkGuard = ReturnType<typeof createOpenAIChunkGuard>;

/** OpenAI-format upstream → OpenAI client: each event checked and passed through as it arrives. */
async function* relayOpenAI(
  result: UpstreamSuccess<Target>,
  clientWantsUsage: boolean,
  record: StreamRecord,
  check?: ChunkGuard,
): AsyncGenerator<string> {
  let usage: TokenUsage | undefined;
  let status = CLIENT_CLOSED;
  const relayed = relayedText();
  try {
    let done = false;
    for await (const batch of readSse(result.body)) {
      let out = '';
      for (const event of batch) {
        if (event.data === '[DONE]') {
          done = true;
          continue;
        }
        // Every event is parsed: a provider's broken JSON must end as an error event the SDK
        // understands, not as a parse failure inside the client.
        const chunk = parseEventJson(event.data) as { usage?: unknown; choices?: unknown[] } | null;
        relayed.add(chunk);
        if (chunk?.usage) {
          usage = usageFromOpenAI(chunk.usage);
          // The usage-only chunk asked for on the client's behalf is not theirs to see.
          if (!clientWantsUsage && Array.isArray(chunk.choices) && chunk.choices.length === 0) continue;
        }
        if (!check || chunk === null) {
          out += `data: ${event.data}\n\n`;
          continue;
        }
        const guarded = check(chunk as Record<string, unknown>);
        for (const e of guarded.events) out += `data: ${JSON.stringify(e)}\n\n`;
        if (guarded.blocked) {
          status = guarded.status;
          yield out + openAISSE(openAIStreamError(guarded.reason, guarded.type, guarded.code));
          return;
        }
      }
      if (out.length > 0) yield out;
    }
    // A stream that ends without [DONE] was cut short upstream: say so rather than end quietly.
    status = done ? 200 : 502;
    yield done ? OPENAI_SSE_DONE : streamFailure(new Error('truncated'));
  } catch (err) {
    if (isAbort(err)) return;
    status = 502;
    yield streamFailure(err);
  } finally {
    record(relayed.usage(usage, status), status, undefined, relayed.facts());
  }
}

/** Anthropic upstream → OpenAI client: each event translated into chat.completion.chunk objects. */
async function* relayAnthropicAsOpenAI(
  result: UpstreamSuccess<Target>,
  clientWantsUsage: boolean,
  now: number,
  record: StreamRecord,
  check?: ChunkGuard,
): AsyncGenerator<string> {
  const translator = new AnthropicToOpenAIStream({
    created: Math.floor(now / 1000),
    includeUsage: clientWantsUsage,
  });
  let status = CLIENT_CLOSED;
  const relayed = relayedText();
  try {
    for await (const batch of readSse(result.body)) {
      let out = '';
      for (const event of batch) {
        const parsed = parseEventJson(event.data) as AnthropicStreamEvent;
        relayed.add(parsed);
        for (const chunk of translator.push(parsed)) {
          if (!check) {
            out += openAISSE(chunk);
            continue;
          }
          const guarded = check(chunk as unknown as Record<string, unknown>);
          for (const e of guarded.events) out += `data: ${JSON.stringify(e)}\n\n`;
          if (guarded.blocked) {
            status = guarded.status;
            yield out + openAISSE(openAIStreamError(guarded.reason, guarded.type, guarded.code));
            return;
          }
        }
      }
      if (out.length > 0) yield out;
      if (translator.done) break;
    }
    if (!translator.done) throw new Error('truncated');
    status = 200;
    yield OPENAI_SSE_DONE;
  } catch (err) {
    if (isAbort(err)) return;
    status = 502;
    yield streamFailure(err);
  } finally {
    record(relayed.usage(translator.usage ?? emptyUsage(), status), status, undefined, relayed.facts());
  }
}

export type { Caller };
