import type { FastifyReply, FastifyRequest } from 'fastify';
import { PortcullisError } from '../errors/catalogue.ts';
import { nativeFormat, type OpenAIEndpoint, openAIRequest, type Target } from '../providers/targets.ts';
import { type TokenUsage, usageFromOpenAI } from '../providers/translate/shared.ts';
import type { UpstreamSuccess } from '../providers/upstream.ts';
import { checkedAnswer, readJsonAnswer } from './answer.ts';
import { CLIENT_CLOSED } from './chat.ts';
import { type DataPlaneDeps, isAbort, relayedText, type StreamRecord } from './context.ts';
import { proxy, sendEvents } from './proxy.ts';
import { parseEventJson, readSse } from './sse.ts';
import { type AnswerFilter, createResponsesEventGuard } from './stream-guard.ts';

/**
 * Endpoints only OpenAI-format providers offer: POST /v1/embeddings and POST /v1/responses.
 * Bodies are passed through (model renamed); Anthropic targets are refused by name rather than
 * answered with something that only looks right.
 */
export interface ModelBody {
  model: string;
  stream?: boolean | null;
  [key: string]: unknown;
}

const LABEL: Record<'embeddings' | 'responses', string> = {
  embeddings: 'Embeddings',
  responses: 'The Responses API',
};

export function openAIOnly(
  deps: DataPlaneDeps,
  endpoint: Extract<OpenAIEndpoint, 'embeddings' | 'responses'>,
) {
  return (request: FastifyRequest<{ Body: ModelBody }>, reply: FastifyReply) => {
    const body = request.body;
    const stream = endpoint === 'responses' && body.stream === true;
    return proxy(
      deps,
      request,
      reply,
      {
        endpoint,
        scope: endpoint,
        model: body.model,
        stream,
        selectTargets(all) {
          const targets = all.filter((t) => nativeFormat(t.provider) === 'openai');
          const first = all[0];
          if (targets.length === 0 && first) {
            throw new PortcullisError('unsupported_endpoint', {
              vars: {
                endpoint: LABEL[endpoint],
                model: body.model,
                provider: first.provider,
                detail:
                  endpoint === 'responses'
                    ? 'use /v1/chat/completions or /v1/messages'
                    : 'the provider has no embeddings',
              },
            });
          }
          return targets;
        },
        build: (target, secret) => openAIRequest(target, endpoint, body, secret),
      },
      async (answer) => {
        const { result, record, guard } = answer;
        if (stream) {
          const check = guard.outputActive
            ? createResponsesEventGuard((slot) => guard.streamFilter(slot) as AnswerFilter, guard.toolAllowed)
            : undefined;
          return sendEvents(reply, relayResponses(result, record, check));
        }
        const max = deps.config.upstream.maxResponseBytes;
        if (endpoint === 'embeddings') {
          // Embeddings carry no text back.
          const { text, json } = await readJsonAnswer(result.body, max);
          record(usageOf((json as { usage?: unknown }).usage), 200, json as Record<string, unknown>);
          return reply.type('application/json').send(text);
        }
        // A Responses answer is inspected (and checked against a requested schema) like any other.
        const checked = await checkedAnswer(
          answer,
          'responses',
          async (attempt) => {
            const { text, json } = await readJsonAnswer(attempt.body, max);
            const body = json as Record<string, unknown>;
            return { text, body, usage: usageOf(body.usage), native: true };
          },
          request.log,
        );
        if (checked.raw !== undefined) return reply.type('application/json').send(checked.raw);
        // The convenience field repeats the text; the SDKs rebuild it from `output`.
        delete checked.body.output_text;
        return reply.send(checked.body);
      },
    );
  };
}

/** Embeddings report prompt_tokens; the Responses API reports input_tokens / output_tokens. */
function usageOf(usage: unknown): TokenUsage {
  const u = usage as { input_tokens?: unknown; output_tokens?: unknown } | null | undefined;
  if (u && typeof u === 'object' && 'input_tokens' in u) {
    const n = (v: unknown): number => (typeof v === 'number' && v > 0 ? v : 0);
    return {
      inputTokens: n(u.input_tokens),
      outputTokens: n(u.output_tokens),
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
    };
  }
  return usageFromOpenAI(usage);
}

const TERMINAL = new Set(['response.completed', 'response.failed', 'response.incomplete', 'error']);

/** Responses API events passed through with their names; usage read from the terminal event. */
async function* relayResponses(
  result: UpstreamSuccess<Target>,
  record: StreamRecord,
  check?: ReturnType<typeof createResponsesEventGuard>,
): AsyncGenerator<string> {
  let usage: TokenUsage | undefined;
  let status = CLIENT_CLOSED;
  const relayed = relayedText();
  try {
    let ended = false;
    for await (const batch of readSse(result.body)) {
      let out = '';
      for (const event of batch) {
        const parsed = parseEventJson(event.data) as { type?: string; response?: { usage?: unknown } } | null;
        if (
          parsed?.type === 'response.output_text.delta' ||
          parsed?.type === 'response.function_call_arguments.delta'
        )
          relayed.add(parsed);
        const name = event.event ?? parsed?.type;
        if (name !== undefined && TERMINAL.has(name)) {
          ended = true;
          if (parsed?.response?.usage) usage = usageOf(parsed.response.usage);
        }
        if (check && parsed !== null) {
          const g = check(parsed as Record<string, unknown>);
          for (const e of g.events) out += `event: ${String(e.type)}\ndata: ${JSON.stringify(e)}\n\n`;
          if (g.blocked) {
            status = g.status;
            yield out + responsesError(g.code, g.reason);
            return;
          }
          continue;
        }
        out += event.event ? `event: ${event.event}\ndata: ${event.data}\n\n` : `data: ${event.data}\n\n`;
      }
      if (out.length > 0) yield out;
    }
    if (!ended) throw new Error('truncated');
    status = 200;
  } catch (err) {
    if (isAbort(err)) return;
    status = 502;
    yield responsesError('upstream_error', 'The provider stream failed before the answer was complete.');
  } finally {
    record(relayed.usage(usage, status), status, undefined, relayed.facts());
  }
}

/** The Responses API's stream error event, which the SDK raises as an APIError. */
function responsesError(code: string, message: string): string {
  return `event: error\ndata: ${JSON.stringify({ type: 'error', code, message, param: null, sequence_number: 0 })}\n\n`;
}
