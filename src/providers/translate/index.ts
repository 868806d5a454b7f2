/**
 * OpenAI Chat Completions ⇄ Anthropic Messages translation: pure functions and per-stream
 * translators, no I/O. docs/translation.md has the mapping tables.
 */
export { anthropicRequestToOpenAI } from './anthropic-to-openai.ts';
export {
  DEFAULT_ANTHROPIC_MAX_TOKENS,
  type OpenAIToAnthropicOptions,
  openAIRequestToAnthropic,
  openAIStreamIncludesUsage,
} from './openai-to-anthropic.ts';
export {
  type AnthropicToOpenAIResponseOptions,
  anthropicMessageToOpenAI,
  openAICompletionToAnthropic,
} from './responses.ts';
export { type TokenUsage, usageFromAnthropic, usageFromOpenAI } from './shared.ts';
export { anthropicSSE, anthropicStreamError, OPENAI_SSE_DONE, openAISSE, openAIStreamError } from './sse.ts';
export {
  AnthropicToOpenAIStream,
  type AnthropicToOpenAIStreamOptions,
} from './stream-anthropic-to-openai.ts';
export { OpenAIToAnthropicStream } from './stream-openai-to-anthropic.ts';
