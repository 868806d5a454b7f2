/**
 * OpenAI chat.completion.chunk objects → Anthropic Messages SSE events, for an Anthropic SDK
 * client streaming from a GPT model. Feed one parsed upstream chunk at a time to `push` (an
 * OpenAI mid-stream `{"error":…}` object included), and call `end` on `data: [DONE]` or when the
 * upstream body ends; each returns the downstream events to send, in order.
 *
 * Event order, as Anthropic sends it: message_start; per content block content_block_start,
 * content_block_delta…, content_block_stop, with indices 0, 1, 2… in order; message_delta with
 * stop_reason and usage; message_stop. OpenAI reports usage only in a last chunk (the request
 * translation always asks for it), so message_delta goes out when that chunk arrives.
 */
import type {
  AnthropicContentBlockStartEvent,
  AnthropicStopReason,
  AnthropicStreamEvent,
} from '../anthropic/types.ts';
import {
  emptyUsage,
  stopReasonFromOpenAI,
  type TokenUsage,
  toAnthropicUsage,
  usageFromOpenAI,
} from './shared.ts';
import { anthropicStreamError } from './sse.ts';
import { isObject, type JsonObject } from './validate.ts';

const NONE: readonly AnthropicStreamEvent[] = Object.freeze([]);
/** Error types an Anthropic client may switch on; anything else is reported as api_error. */
const ANTHROPIC_ERROR_TYPES: ReadonlySet<string> = new Set([
  'invalid_request_error',
  'authentication_error',
  'permission_error',
  'not_found_error',
  'rate_limit_error',
  'timeout_error',
  'api_error',
  'overloaded_error',
]);

export class OpenAIToAnthropicStream {
  #started = false;
  #done = false;
  #id = '';
  /** Index of the next Anthropic content block, and of the open one (-1: none). */
  #nextBlock = 0;
  #openBlock = -1;
  #openIsText = false;
  /** OpenAI tool_calls index → Anthropic content-block index. */
  readonly #blockByTool: Array<number | undefined> = [];
  /** finish_reason seen: the answer is complete, only usage may still follow. */
  #finished = false;
  #refused = false;
  #stopReason: AnthropicStopReason = 'end_turn';
  #usage: TokenUsage = emptyUsage();
  #sawUsage = false;

  /** Tokens reported by the upstream (final once `done`), for accounting. */
  get usage(): TokenUsage {
    return this.#usage;
  }

  /** True once message_stop (or an error event) has been produced. */
  get done(): boolean {
    return this.#done;
  }

  push(chunk: unknown): readonly AnthropicStreamEvent[] {
    if (this.#done || !isObject(chunk)) return NONE;
    const out: AnthropicStreamEvent[] = [];
    if (isObject(chunk.error)) {
      this.#done = true;
      const { message, type } = chunk.error;
      out.push(
        anthropicStreamError(
          typeof message === 'string' ? message : 'Upstream error',
          typeof type === 'string' && ANTHROPIC_ERROR_TYPES.has(type) ? type : 'api_error',
        ),
      );
      return out;
    }
    if (!this.#started) this.#start(chunk, out);
    const choices = chunk.choices;
    const choice = Array.isArray(choices) && isObject(choices[0]) ? choices[0] : undefined;
    if (choice !== undefined) {
      if (isObject(choice.delta)) this.#delta(choice.delta, out);
      if (typeof choice.finish_reason === 'string') {
        this.#closeBlock(out);
        this.#finished = true;
        this.#stopReason = this.#refused ? 'refusal' : stopReasonFromOpenAI(choice.finish_reason);
      }
    }
    if (isObject(chunk.usage)) {
      this.#usage = usageFromOpenAI(chunk.usage);
      this.#sawUsage = true;
    }
    if (this.#finished && this.#sawUsage) this.#finish(out);
    return out;
  }

  /**
   * The upstream stream ended (`data: [DONE]` or end of body). A finished answer is closed out;
   * one that never got a finish_reason was cut off, which the client must learn.
   */
  end(): readonly AnthropicStreamEvent[] {
    if (this.#done) return NONE;
    const out: AnthropicStreamEvent[] = [];
    if (!this.#finished) {
      this.#done = true;
      out.push(anthropicStreamError('The upstream stream ended before the message was complete'));
      return out;
    }
    this.#finish(out);
    return out;
  }

  #start(chunk: JsonObject, out: AnthropicStreamEvent[]): void {
    this.#started = true;
    this.#id = typeof chunk.id === 'string' ? chunk.id : '';
    out.push({
      type: 'message_start',
      message: {
        id: this.#id,
        type: 'message',
        role: 'assistant',
        model: typeof chunk.model === 'string' ? chunk.model : '',
        content: [],
        stop_reason: null,
        stop_sequence: null,
        // The input count is not known until the final chunk; message_delta carries it.
        usage: {
          input_tokens: 0,
          output_tokens: 0,
          cache_creation_input_tokens: null,
          cache_read_input_tokens: null,
        },
      },
    });
  }

  #delta(delta: JsonObject, out: AnthropicStreamEvent[]): void {
    if (typeof delta.content === 'string' && delta.content !== '') this.#text(delta.content, out);
    if (typeof delta.refusal === 'string' && delta.refusal !== '') {
      this.#text(delta.refusal, out);
      this.#refused = true;
    }
    if (!Array.isArray(delta.tool_calls)) return;
    for (const call of delta.tool_calls) {
      if (!isObject(call)) continue;
      const toolIndex = typeof call.index === 'number' ? call.index : 0;
      const fn = isObject(call.function) ? call.function : undefined;
      let block = this.#blockByTool[toolIndex];
      if (block === undefined) {
        block = this.#openNew(out, {
          type: 'tool_use',
          id: typeof call.id === 'string' ? call.id : `toolu_${this.#id}_${toolIndex}`,
          name: typeof fn?.name === 'string' ? fn.name : '',
          input: {},
        });
        this.#blockByTool[toolIndex] = block;
      }
      const args = fn?.arguments;
      if (typeof args === 'string' && args !== '') {
        // OpenAI sends each call's fragments contiguously; should a fragment arrive for an
        // earlier call, it still goes to that call's block rather than being lost.
        out.push({
          type: 'content_block_delta',
          index: block,
          delta: { type: 'input_json_delta', partial_json: args },
        });
      }
    }
  }

  #text(text: string, out: AnthropicStreamEvent[]): void {
    if (!this.#openIsText) this.#openNew(out, { type: 'text', text: '', citations: null });
    out.push({ type: 'content_block_delta', index: this.#openBlock, delta: { type: 'text_delta', text } });
  }

  #openNew(out: AnthropicStreamEvent[], block: AnthropicContentBlockStartEvent['content_block']): number {
    this.#closeBlock(out);
    const index = this.#nextBlock++;
    this.#openBlock = index;
    this.#openIsText = block.type === 'text';
    out.push({ type: 'content_block_start', index, content_block: block });
    return index;
  }

  #closeBlock(out: AnthropicStreamEvent[]): void {
    if (this.#openBlock === -1) return;
    out.push({ type: 'content_block_stop', index: this.#openBlock });
    this.#openBlock = -1;
    this.#openIsText = false;
  }

  #finish(out: AnthropicStreamEvent[]): void {
    this.#closeBlock(out);
    this.#done = true;
    const usage = toAnthropicUsage(this.#usage);
    out.push({
      type: 'message_delta',
      delta: { stop_reason: this.#stopReason, stop_sequence: null },
      usage: {
        output_tokens: usage.output_tokens,
        input_tokens: usage.input_tokens,
        cache_creation_input_tokens: usage.cache_creation_input_tokens,
        cache_read_input_tokens: usage.cache_read_input_tokens,
      },
    });
    out.push({ type: 'message_stop' });
  }
}
