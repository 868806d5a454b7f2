import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { anthropicRequest, nativeFormat, openAIRequest, type Target } from '../providers/targets.ts';
import { anthropicRequestToOpenAI } from '../providers/translate/anthropic-to-openai.ts';
import { openAICompletionToAnthropic } from '../providers/translate/responses.ts';
import { type TokenUsage, usageFromAnthropic } from '../providers/translate/shared.ts';
import { anthropicSSE, anthropicStreamError } from '../providers/translate/sse.ts';
import { OpenAIToAnthropicStream } from '../providers/translate/stream-openai-to-anthropic.ts';
import { callUpstream, type UpstreamSuccess } from '../providers/upstream.ts';
import { readJsonAnswer, upstreamRefusal } from './answer.ts';
import { CLIENT_CLOSED } from './chat.ts';
import { abortOnDisconnect, type DataPlaneDeps, isAbort, providerError, recordCall } from './context.ts';
import { parseEventJson, readSse } from './sse.ts';

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
  return async (request: FastifyRequest<{ Body: MessagesBody }>, reply: FastifyReply) => {
    const started = deps.clock.now();
    const caller = await deps.admit(request, reply, 'messages');
    const body = request.body;
    deps.authorizeModel(request, caller, body.model);
    const targets = await deps.resolveTargets(caller.workspaceId, body.model);
    const stream = body.stream === true;
    const controller = abortOnDisconnect(request, reply);

    let result: Awaited<ReturnType<typeof callUpstream<Target>>>;
    try {
      result = await callUpstream(
        deps.upstream,
        targets,
        async (target) => {
          const secret = await deps.resolveSecret(target.credentialId, caller.workspaceId);
          if (nativeFormat(target.provider) === 'anthropic')
            return anthropicRequest(target, body, secret, request.headers);
          try {
            const translated = anthropicRequestToOpenAI(body) as unknown as Record<string, unknown>;
            const upstreamBody = stream
              ? { ...translated, stream: true, stream_options: { include_usage: true } }
              : translated;
            return openAIRequest(target, 'chat', upstreamBody, secret);
          } catch (err) {
            throw providerError(err, target);
          }
        },
        { signal: controller.signal, requestId: request.id, model: body.model },
      );
    } catch (err) {
      throw providerError(err);
    }
    if ('clientError' in result) throw await upstreamRefusal(result, body.model);

    const record = (usage: TokenUsage | undefined, status: number): void =>
      recordCall(request, caller, {
        endpoint: 'messages',
        model: body.model,
        target: result.target.credentialName,
        provider: result.target.provider,
        stream,
        status,
        usage,
        attempts: result.attempts,
        ms: deps.clock.now() - started,
      });

    if (!stream) {
      const { text, json } = await readJsonAnswer(result.body, deps.config.upstream.maxResponseBytes);
      if (nativeFormat(result.target.provider) === 'anthropic') {
        record(usageFromAnthropic((json as { usage?: unknown }).usage), 200);
        return reply.type('application/json').send(text);
      }
      let message: ReturnType<typeof openAICompletionToAnthropic>;
      try {
        message = openAICompletionToAnthropic(json);
      } catch (err) {
        throw providerError(err, result.target);
      }
      record(usageFromAnthropic(message.usage), 200);
      return reply.send(message);
    }

    const events =
      nativeFormat(result.target.provider) === 'anthropic'
        ? relayAnthropic(result, record)
        : relayOpenAIAsAnthropic(result, record);
    reply.header('content-type', 'text/event-stream; charset=utf-8');
    reply.header('x-accel-buffering', 'no');
    return reply.send(Readable.from(events, { objectMode: false, highWaterMark: 0 }));
  };
}

function streamFailure(err: unknown): string {
  const reason =
    err instanceof Error && err.name === 'UpstreamFormatError' ? 'sent an invalid stream' : 'stream failed';
  return anthropicSSE(anthropicStreamError(`The provider ${reason} before the answer was complete.`));
}

/** Anthropic upstream → Anthropic client: events checked and passed through, usage read on the way. */
async function* relayAnthropic(
  result: UpstreamSuccess<Target>,
  record: (usage: TokenUsage | undefined, status: number) => void,
): AsyncGenerator<string> {
  let input = 0;
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
        if (event.event === 'message_start' || event.event === 'message_delta') {
          const usage = usageFromAnthropic(parsed?.message?.usage ?? parsed?.usage);
          if (event.event === 'message_start') input = usage.inputTokens;
          output = Math.max(output, usage.outputTokens);
        } else if (event.event === 'message_stop' || event.event === 'error') {
          stopped = true;
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
    record({ inputTokens: input, outputTokens: output, cacheReadTokens: 0, cacheWriteTokens: 0 }, status);
  }
}

/** OpenAI-format upstream → Anthropic client: chunks translated into Messages stream events. */
async function* relayOpenAIAsAnthropic(
  result: UpstreamSuccess<Target>,
  record: (usage: TokenUsage | undefined, status: number) => void,
): AsyncGenerator<string> {
  const translator = new OpenAIToAnthropicStream();
  let status = CLIENT_CLOSED;
  try {
    let sawDone = false;
    for await (const batch of readSse(result.body)) {
      let out = '';
      for (const event of batch) {
        if (event.data === '[DONE]') {
          sawDone = true;
          for (const e of translator.end()) out += anthropicSSE(e);
          continue;
        }
        for (const e of translator.push(parseEventJson(event.data))) out += anthropicSSE(e);
      }
      if (out.length > 0) yield out;
    }
    if (!sawDone) {
      // Cut off upstream without [DONE]: end() closes a finished answer or reports the truncation.
      let out = '';
      for (const e of translator.end()) out += anthropicSSE(e);
      if (out.length > 0) yield out;
    }
    status = sawDone ? 200 : 502;
  } catch (err) {
    if (isAbort(err)) return;
    status = 502;
    yield streamFailure(err);
  } finally {
    record(translator.usage, status);
  }
}
