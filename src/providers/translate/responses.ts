/**
 * Non-streaming responses, both directions: Anthropic `message` ⇄ OpenAI `chat.completion`.
 * Input is the upstream's parsed JSON; anything we cannot translate raises UpstreamFormatError
 * (the client did nothing wrong: a 502, not a 400).
 */
import type { AnthropicContentBlock, AnthropicMessage, AnthropicStopReason } from '../anthropic/types.ts';
import { UpstreamFormatError } from '../errors.ts';
import type { OpenAIChatCompletion, OpenAIResponseMessage, OpenAIToolCall } from '../openai/types.ts';
import {
  finishReasonFromAnthropic,
  stopReasonFromOpenAI,
  toAnthropicUsage,
  toOpenAIUsage,
  usageFromAnthropic,
  usageFromOpenAI,
} from './shared.ts';
import { isObject, type JsonObject } from './validate.ts';

export interface AnthropicToOpenAIResponseOptions {
  /** Unix seconds for `created` (Anthropic messages carry no timestamp); from the injected clock. */
  created: number;
}

function upstreamObject(value: unknown, path: string): JsonObject {
  if (!isObject(value)) throw new UpstreamFormatError(path, 'expected an object');
  return value;
}

function upstreamString(value: unknown, path: string): string {
  if (typeof value !== 'string') throw new UpstreamFormatError(path, 'expected a string');
  return value;
}

/** Anthropic `message` → OpenAI `chat.completion`. */
export function anthropicMessageToOpenAI(
  message: unknown,
  options: AnthropicToOpenAIResponseOptions,
): OpenAIChatCompletion {
  const msg = upstreamObject(message, 'message');
  const content = msg.content;
  if (!Array.isArray(content)) throw new UpstreamFormatError('content', 'expected an array');
  let text = '';
  let toolCalls: OpenAIToolCall[] | undefined;
  for (let i = 0; i < content.length; i++) {
    const block = upstreamObject(content[i], `content[${i}]`);
    if (block.type === 'text') text += upstreamString(block.text, `content[${i}].text`);
    else if (block.type === 'tool_use') {
      toolCalls ??= [];
      toolCalls.push({
        id: upstreamString(block.id, `content[${i}].id`),
        type: 'function',
        function: {
          name: upstreamString(block.name, `content[${i}].name`),
          arguments: JSON.stringify(block.input ?? {}),
        },
      });
    }
    // thinking / redacted_thinking: Chat Completions has no field for reasoning text. Server-tool
    // blocks only appear for server tools, which request translation refuses.
  }
  const out: OpenAIResponseMessage = {
    role: 'assistant',
    content: text !== '' ? text : toolCalls !== undefined ? null : '',
    refusal: null,
  };
  if (toolCalls !== undefined) out.tool_calls = toolCalls;
  return {
    id: upstreamString(msg.id, 'id'),
    object: 'chat.completion',
    created: options.created,
    model: upstreamString(msg.model, 'model'),
    choices: [
      { index: 0, message: out, finish_reason: finishReasonFromAnthropic(msg.stop_reason), logprobs: null },
    ],
    usage: toOpenAIUsage(usageFromAnthropic(msg.usage)),
  };
}

/** OpenAI `chat.completion` → Anthropic `message`. Only choice 0 exists: we never ask for n > 1. */
export function openAICompletionToAnthropic(completion: unknown): AnthropicMessage {
  const body = upstreamObject(completion, 'completion');
  const choices = body.choices;
  if (!Array.isArray(choices) || choices.length === 0)
    throw new UpstreamFormatError('choices', 'expected one choice');
  const choice = upstreamObject(choices[0], 'choices[0]');
  const message = upstreamObject(choice.message, 'choices[0].message');
  const content: AnthropicContentBlock[] = [];
  if (message.content != null) {
    const text = upstreamString(message.content, 'choices[0].message.content');
    if (text !== '') content.push({ type: 'text', text, citations: null });
  }
  let stopReason: AnthropicStopReason = stopReasonFromOpenAI(choice.finish_reason);
  if (message.refusal != null) {
    const refusal = upstreamString(message.refusal, 'choices[0].message.refusal');
    if (refusal !== '') {
      content.push({ type: 'text', text: refusal, citations: null });
      stopReason = 'refusal';
    }
  }
  if (message.tool_calls != null) {
    if (!Array.isArray(message.tool_calls))
      throw new UpstreamFormatError('choices[0].message.tool_calls', 'expected an array');
    for (let i = 0; i < message.tool_calls.length; i++) {
      const path = `choices[0].message.tool_calls[${i}]`;
      const call = upstreamObject(message.tool_calls[i], path);
      const fn = upstreamObject(call.function, `${path}.function`);
      content.push({
        type: 'tool_use',
        id: upstreamString(call.id, `${path}.id`),
        name: upstreamString(fn.name, `${path}.function.name`),
        input: parseToolInput(fn.arguments, `${path}.function.arguments`),
      });
    }
  }
  return {
    id: upstreamString(body.id, 'id'),
    type: 'message',
    role: 'assistant',
    model: upstreamString(body.model, 'model'),
    content,
    stop_reason: stopReason,
    stop_sequence: null,
    usage: toAnthropicUsage(usageFromOpenAI(body.usage)),
  };
}

/**
 * Anthropic tool input must be an object. Arguments that do not parse (a model cut off by
 * max_tokens mid-call) are refused rather than replaced with `{}`, which would run the tool with
 * inputs the model never chose.
 */
function parseToolInput(value: unknown, path: string): JsonObject {
  const text = upstreamString(value, path);
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UpstreamFormatError(path, 'not valid JSON');
  }
  if (!isObject(parsed)) throw new UpstreamFormatError(path, 'not a JSON object');
  return parsed;
}
