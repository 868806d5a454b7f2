/**
 * Anthropic Messages SSE events → OpenAI chat.completion.chunk objects, for an OpenAI SDK client
 * streaming from a Claude model. Feed one parsed upstream event at a time to `push`, call `end`
 * when the upstream body ends; each returns the downstream events to send, in order.
 *
 * Chunk order, as OpenAI sends it: a role chunk; content and tool_calls deltas (a tool call's
 * first delta carries index, id, type and name, later ones argument fragments); a chunk with an
 * empty delta and the finish_reason; then, only if the client set stream_options.include_usage,
 * a chunk with empty `choices` and the usage.
 */
import type { AnthropicStreamEvent } from '../anthropic/types.ts';
import type {
  OpenAIChatCompletionChunk,
  OpenAIChunkDelta,
  OpenAIFinishReason,
  OpenAIStreamEvent,
} from '../openai/types.ts';
import { finishReasonFromAnthropic, type TokenUsage, toOpenAIUsage } from './shared.ts';
import { openAIStreamError } from './sse.ts';

export interface AnthropicToOpenAIStreamOptions {
  /** Unix seconds for every chunk's `created`, from the injected clock. */
  created: number;
  /** The client's stream_options.include_usage: whether to send the final usage chunk. */
  includeUsage: boolean;
}

const NONE: readonly OpenAIStreamEvent[] = Object.freeze([]);

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0;
}

export class AnthropicToOpenAIStream {
  readonly #created: number;
  readonly #includeUsage: boolean;
  #id = '';
  #model = '';
  /** Anthropic content-block index → OpenAI tool_calls index (only tool_use blocks have one). */
  readonly #toolIndexByBlock: Array<number | undefined> = [];
  #toolCount = 0;
  #finishSent = false;
  #done = false;
  // Anthropic's uncached input, cache reads and cache writes, as reported.
  #input = 0;
  #cacheRead = 0;
  #cacheWrite = 0;
  #output = 0;

  constructor(options: AnthropicToOpenAIStreamOptions) {
    this.#created = options.created;
    this.#includeUsage = options.includeUsage;
  }

  /** Tokens seen so far (final once `done`), for accounting. */
  get usage(): TokenUsage {
    return {
      inputTokens: this.#input + this.#cacheRead + this.#cacheWrite,
      outputTokens: this.#output,
      cacheReadTokens: this.#cacheRead,
      cacheWriteTokens: this.#cacheWrite,
    };
  }

  /** True once the message ended (message_stop) or failed (error). */
  get done(): boolean {
    return this.#done;
  }

  push(event: AnthropicStreamEvent): readonly OpenAIStreamEvent[] {
    // Events are upstream JSON, typed but unchecked: read nested fields defensively.
    if (this.#done || typeof event !== 'object' || event === null) return NONE;
    switch (event.type) {
      case 'message_start': {
        const message = event.message;
        if (typeof message?.id === 'string') this.#id = message.id;
        if (typeof message?.model === 'string') this.#model = message.model;
        this.#readUsage(message?.usage);
        return [this.#chunk({ role: 'assistant', content: '' }, null)];
      }
      case 'content_block_start': {
        const block = event.content_block;
        if (block?.type === 'tool_use' && 'id' in block) {
          const index = this.#toolCount++;
          this.#toolIndexByBlock[event.index] = index;
          return [
            this.#chunk(
              {
                tool_calls: [
                  { index, id: block.id, type: 'function', function: { name: block.name, arguments: '' } },
                ],
              },
              null,
            ),
          ];
        }
        if (
          block?.type === 'text' &&
          'text' in block &&
          typeof block.text === 'string' &&
          block.text !== ''
        ) {
          return [this.#chunk({ content: block.text }, null)];
        }
        // thinking and server-tool blocks have no Chat Completions equivalent.
        return NONE;
      }
      case 'content_block_delta': {
        const delta = event.delta;
        if (delta?.type === 'text_delta') {
          return typeof delta.text !== 'string' || delta.text === ''
            ? NONE
            : [this.#chunk({ content: delta.text }, null)];
        }
        if (delta?.type === 'input_json_delta') {
          const index = this.#toolIndexByBlock[event.index];
          if (index === undefined || typeof delta.partial_json !== 'string' || delta.partial_json === '')
            return NONE;
          return [
            this.#chunk({ tool_calls: [{ index, function: { arguments: delta.partial_json } }] }, null),
          ];
        }
        return NONE;
      }
      case 'message_delta':
        this.#readUsage(event.usage);
        this.#finishSent = true;
        return [this.#chunk({}, finishReasonFromAnthropic(event.delta?.stop_reason))];
      case 'message_stop': {
        this.#done = true;
        const out: OpenAIStreamEvent[] = [];
        if (!this.#finishSent) out.push(this.#chunk({}, 'stop'));
        if (this.#includeUsage) out.push(this.#usageChunk());
        return out;
      }
      case 'error':
        this.#done = true;
        return [
          openAIStreamError(
            typeof event.error?.message === 'string' ? event.error.message : 'Upstream error',
            typeof event.error?.type === 'string' ? event.error.type : 'server_error',
          ),
        ];
      default:
        // ping, content_block_stop, and event types added after this was written.
        return NONE;
    }
  }

  /** The upstream body ended. Without a message_stop the answer is incomplete: say so. */
  end(): readonly OpenAIStreamEvent[] {
    if (this.#done) return NONE;
    this.#done = true;
    return [openAIStreamError('The upstream stream ended before the message was complete')];
  }

  #chunk(delta: OpenAIChunkDelta, finishReason: OpenAIFinishReason | null): OpenAIChatCompletionChunk {
    return {
      id: this.#id,
      object: 'chat.completion.chunk',
      created: this.#created,
      model: this.#model,
      choices: [{ index: 0, delta, finish_reason: finishReason, logprobs: null }],
    };
  }

  #usageChunk(): OpenAIChatCompletionChunk {
    return {
      id: this.#id,
      object: 'chat.completion.chunk',
      created: this.#created,
      model: this.#model,
      choices: [],
      usage: toOpenAIUsage(this.usage),
    };
  }

  /** message_start carries the input side; message_delta cumulative totals that overwrite it. */
  #readUsage(usage: unknown): void {
    if (typeof usage !== 'object' || usage === null) return;
    const u = usage as Record<string, unknown>;
    if (u.input_tokens != null) this.#input = count(u.input_tokens);
    if (u.cache_read_input_tokens != null) this.#cacheRead = count(u.cache_read_input_tokens);
    if (u.cache_creation_input_tokens != null) this.#cacheWrite = count(u.cache_creation_input_tokens);
    if (u.output_tokens != null) this.#output = count(u.output_tokens);
  }
}
