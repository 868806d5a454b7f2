/**
 * Server-sent-event framing (WHATWG HTML §9.2, "Server-sent events") exactly as each SDK parses
 * it, plus the mid-stream error events each SDK turns into an APIError.
 *
 * OpenAI: data-only events, `data: <json>\n\n`, ended by `data: [DONE]\n\n`. The `openai` SDK
 * throws an APIError built from `error` when a data line's JSON has an `error` field.
 * Anthropic: named events, `event: <type>\ndata: <json>\n\n`, no [DONE]. The `@anthropic-ai/sdk`
 * throws an APIError for `event: error` with `{"type":"error","error":{"type","message"}}`.
 *
 * JSON.stringify never emits a raw newline (it escapes U+000A and U+000D inside strings), so one
 * `data:` line per event is always enough.
 */
import type { AnthropicErrorEvent, AnthropicStreamEvent } from '../anthropic/types.ts';
import type { OpenAIStreamErrorEvent, OpenAIStreamEvent } from '../openai/types.ts';

export const OPENAI_SSE_DONE = 'data: [DONE]\n\n';

export function openAISSE(event: OpenAIStreamEvent): string {
  return `data: ${JSON.stringify(event)}\n\n`;
}

export function anthropicSSE(event: AnthropicStreamEvent): string {
  return `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

/**
 * The event to send an OpenAI client when the stream fails part-way. The message reaches the
 * client: pass a public reason, never an internal detail or secret.
 */
export function openAIStreamError(
  message: string,
  type = 'server_error',
  code: string | null = null,
): OpenAIStreamErrorEvent {
  return { error: { message, type, param: null, code } };
}

/** The event to send an Anthropic client when the stream fails part-way (public message only). */
export function anthropicStreamError(message: string, type = 'api_error'): AnthropicErrorEvent {
  return { type: 'error', error: { type, message } };
}
