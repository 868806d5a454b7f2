/**
 * Mappings both directions share: stop reasons and token usage.
 *
 * Usage semantics differ: OpenAI's `prompt_tokens` counts every prompt token, cached or not, and
 * breaks out `cached_tokens` (reads) and `cache_write_tokens`; Anthropic's `input_tokens` counts
 * only the uncached tokens, with `cache_read_input_tokens` and `cache_creation_input_tokens`
 * beside it. TokenUsage uses OpenAI's inclusive meaning, which is also what price tables expect.
 */
import type { AnthropicStopReason, AnthropicUsage } from '../anthropic/types.ts';
import type { OpenAIFinishReason, OpenAIUsage } from '../openai/types.ts';

/** Token counts for accounting. `inputTokens` includes cache reads and cache writes. */
export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
}

export function emptyUsage(): TokenUsage {
  return { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 };
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0;
}

/** Reads an Anthropic `usage` object (message or message_delta); absent fields count as 0. */
export function usageFromAnthropic(usage: unknown): TokenUsage {
  if (typeof usage !== 'object' || usage === null) return emptyUsage();
  const u = usage as Record<string, unknown>;
  const cacheRead = count(u.cache_read_input_tokens);
  const cacheWrite = count(u.cache_creation_input_tokens);
  return {
    inputTokens: count(u.input_tokens) + cacheRead + cacheWrite,
    outputTokens: count(u.output_tokens),
    cacheReadTokens: cacheRead,
    cacheWriteTokens: cacheWrite,
  };
}

/** Reads an OpenAI `usage` object; absent fields count as 0. */
export function usageFromOpenAI(usage: unknown): TokenUsage {
  if (typeof usage !== 'object' || usage === null) return emptyUsage();
  const u = usage as Record<string, unknown>;
  const details = u.prompt_tokens_details as Record<string, unknown> | null | undefined;
  return {
    inputTokens: count(u.prompt_tokens),
    outputTokens: count(u.completion_tokens),
    cacheReadTokens: details ? count(details.cached_tokens) : 0,
    cacheWriteTokens: details ? count(details.cache_write_tokens) : 0,
  };
}

export function toOpenAIUsage(usage: TokenUsage): OpenAIUsage {
  const out: OpenAIUsage = {
    prompt_tokens: usage.inputTokens,
    completion_tokens: usage.outputTokens,
    total_tokens: usage.inputTokens + usage.outputTokens,
  };
  if (usage.cacheReadTokens > 0 || usage.cacheWriteTokens > 0) {
    out.prompt_tokens_details = {
      cached_tokens: usage.cacheReadTokens,
      cache_write_tokens: usage.cacheWriteTokens,
    };
  }
  return out;
}

export function toAnthropicUsage(usage: TokenUsage): AnthropicUsage {
  return {
    input_tokens: Math.max(0, usage.inputTokens - usage.cacheReadTokens - usage.cacheWriteTokens),
    output_tokens: usage.outputTokens,
    cache_creation_input_tokens: usage.cacheWriteTokens,
    cache_read_input_tokens: usage.cacheReadTokens,
  };
}

/**
 * Anthropic stop_reason → OpenAI finish_reason. `refusal` is the closest thing to OpenAI's
 * content filter; running out of context window is a length stop. Anything unknown (a value
 * added after this was written, or null) reads as a normal stop, which is what clients handle.
 */
export function finishReasonFromAnthropic(reason: unknown): OpenAIFinishReason {
  switch (reason) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      return 'stop';
  }
}

/** OpenAI finish_reason → Anthropic stop_reason; unknown values read as end_turn. */
export function stopReasonFromOpenAI(reason: unknown): AnthropicStopReason {
  switch (reason) {
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
    case 'function_call':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
    default:
      return 'end_turn';
  }
}

/**
 * The provider's own account of a streamed answer, read from its events in any of the three wire
 * formats (chat chunks, Anthropic message events, Responses events): codes and names, never text.
 */
export interface StreamFacts {
  model?: string;
  id?: string;
  finishReasons: string[];
}
