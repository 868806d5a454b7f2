/**
 * OpenAI Chat Completions request → Anthropic Messages request, so an OpenAI SDK client can call a
 * Claude model. Every request field is either mapped or refused with UnsupportedParameterError:
 * nothing the client asked for is dropped silently. See docs/translation.md for the tables.
 */
import type {
  AnthropicEffort,
  AnthropicMessagesRequest,
  AnthropicTool,
  AnthropicToolChoice,
} from '../anthropic/types.ts';
import { InvalidParameterError, UnsupportedParameterError } from '../errors.ts';
import { translateMessages } from './openai-to-anthropic-messages.ts';
import {
  expectArray,
  expectBoolean,
  expectNonEmptyString,
  expectNumber,
  expectObject,
  expectPositiveInteger,
  expectString,
  expectStringList,
  isObject,
} from './validate.ts';

/**
 * Anthropic requires `max_tokens`; OpenAI does not. When the client sets neither `max_tokens` nor
 * `max_completion_tokens` we send this, which every current Claude model accepts.
 */
export const DEFAULT_ANTHROPIC_MAX_TOKENS = 4096;

export interface OpenAIToAnthropicOptions {
  /** `max_tokens` to send when the client set none. Default DEFAULT_ANTHROPIC_MAX_TOKENS. */
  defaultMaxTokens?: number;
  /**
   * What to do with `temperature` / `top_p`. Anthropic API version 2026-10-21, and models from
   * Claude Opus 4.7 on, reject sampling parameters; older versions and models accept them.
   * 'forward' (default) sends them; 'refuse' raises UnsupportedParameterError up front.
   */
  samplingParameters?: 'forward' | 'refuse';
}

const EFFORTS: ReadonlySet<string> = new Set(['low', 'medium', 'high', 'xhigh', 'max']);

export function openAIRequestToAnthropic(
  body: unknown,
  options: OpenAIToAnthropicOptions = {},
): AnthropicMessagesRequest {
  const req = expectObject(body, 'body');
  const model = expectNonEmptyString(req.model, 'model');
  const { system, messages } = translateMessages(expectArray(req.messages, 'messages'));
  const out: AnthropicMessagesRequest = {
    model,
    max_tokens: options.defaultMaxTokens ?? DEFAULT_ANTHROPIC_MAX_TOKENS,
    messages,
  };
  if (system !== undefined) out.system = system;
  let parallelToolCalls = true;

  for (const key in req) {
    const value = req[key];
    // OpenAI treats an explicit null as "not set" for every optional parameter.
    if (value === null || value === undefined) continue;
    switch (key) {
      case 'model':
      case 'messages':
        break;
      case 'max_completion_tokens':
        out.max_tokens = expectPositiveInteger(value, key);
        break;
      case 'max_tokens':
        // max_completion_tokens supersedes the deprecated max_tokens when both are present.
        if (req.max_completion_tokens == null) out.max_tokens = expectPositiveInteger(value, key);
        break;
      case 'temperature': {
        const t = expectNumber(value, key, 0, 2);
        if (options.samplingParameters === 'refuse') throw new UnsupportedParameterError(key);
        if (t > 1) throw new UnsupportedParameterError(key, 'Anthropic accepts values from 0 to 1');
        out.temperature = t;
        break;
      }
      case 'top_p': {
        const p = expectNumber(value, key, 0, 1);
        if (options.samplingParameters === 'refuse') throw new UnsupportedParameterError(key);
        out.top_p = p;
        break;
      }
      case 'stop': {
        const stops = expectStringList(value, key);
        if (stops.length > 0) out.stop_sequences = stops;
        break;
      }
      case 'stream':
        if (expectBoolean(value, key)) out.stream = true;
        break;
      case 'stream_options': {
        // include_usage shapes the translated stream (see AnthropicToOpenAIStream), not the
        // upstream request: Anthropic always reports usage. include_obfuscation pads chunks
        // against length side channels; ours carry no padding, which clients do not depend on.
        const so = expectObject(value, key);
        for (const k in so) {
          if (k !== 'include_usage' && k !== 'include_obfuscation') {
            throw new UnsupportedParameterError(`stream_options.${k}`);
          }
          if (so[k] != null) expectBoolean(so[k], `stream_options.${k}`);
        }
        break;
      }
      case 'tools':
        out.tools = translateTools(expectArray(value, key));
        break;
      case 'tool_choice':
        out.tool_choice = translateToolChoice(value);
        break;
      case 'parallel_tool_calls':
        parallelToolCalls = expectBoolean(value, key);
        break;
      case 'response_format':
        translateResponseFormat(value, out);
        break;
      case 'reasoning_effort': {
        const effort = expectString(value, key);
        if (!EFFORTS.has(effort))
          throw new UnsupportedParameterError(key, 'this effort level has no Anthropic equivalent');
        out.output_config = { ...out.output_config, effort: effort as AnthropicEffort };
        break;
      }
      case 'user':
      case 'safety_identifier': {
        const id = expectString(value, key);
        // safety_identifier is OpenAI's successor to user; it wins when both are sent.
        if (key === 'safety_identifier' || req.safety_identifier == null) out.metadata = { user_id: id };
        break;
      }
      case 'service_tier': {
        const tier = expectString(value, key);
        if (tier === 'auto') out.service_tier = 'auto';
        else if (tier === 'default') out.service_tier = 'standard_only';
        else throw new UnsupportedParameterError(key, 'this tier has no Anthropic equivalent');
        break;
      }
      // Parameters whose neutral value is harmless to accept; anything else is refused.
      case 'n':
        if (value !== 1) throw new UnsupportedParameterError(key, 'Anthropic returns a single choice');
        break;
      case 'frequency_penalty':
      case 'presence_penalty':
        if (value !== 0) throw new UnsupportedParameterError(key);
        break;
      case 'logprobs':
      case 'store':
        if (value !== false) throw new UnsupportedParameterError(key);
        break;
      case 'logit_bias':
      case 'metadata':
        if (!isObject(value) || Object.keys(value).length > 0) throw new UnsupportedParameterError(key);
        break;
      case 'modalities':
        if (!Array.isArray(value) || value.length !== 1 || value[0] !== 'text') {
          throw new UnsupportedParameterError(key, 'only text output is supported');
        }
        break;
      default:
        // top_logprobs, seed, audio, prediction, functions, function_call, verbosity,
        // web_search_options, prompt_cache_key, … and anything added later.
        throw new UnsupportedParameterError(key);
    }
  }

  if (!parallelToolCalls && out.tools !== undefined) {
    const choice: AnthropicToolChoice = out.tool_choice ?? { type: 'auto' };
    if (choice.type !== 'none') out.tool_choice = { ...choice, disable_parallel_tool_use: true };
  }
  return out;
}

function translateTools(list: unknown[]): AnthropicTool[] {
  const out: AnthropicTool[] = new Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const path = `tools[${i}]`;
    const tool = expectObject(list[i], path);
    const type = expectString(tool.type, `${path}.type`);
    if (type !== 'function') throw new UnsupportedParameterError(`${path}.type`, 'only function tools');
    const fn = expectObject(tool.function, `${path}.function`);
    for (const key in fn) {
      if (
        key !== 'name' &&
        key !== 'description' &&
        key !== 'parameters' &&
        key !== 'strict' &&
        fn[key] != null
      ) {
        throw new UnsupportedParameterError(`${path}.function.${key}`);
      }
    }
    let schema: AnthropicTool['input_schema'] = { type: 'object', properties: {} };
    if (fn.parameters != null) {
      const params = expectObject(fn.parameters, `${path}.function.parameters`);
      if (params.type !== undefined && params.type !== 'object') {
        throw new InvalidParameterError(`${path}.function.parameters.type`, "must be 'object'");
      }
      schema =
        params.type === 'object' ? (params as AnthropicTool['input_schema']) : { ...params, type: 'object' };
    }
    const translated: AnthropicTool = {
      name: expectNonEmptyString(fn.name, `${path}.function.name`),
      input_schema: schema,
    };
    if (fn.description != null)
      translated.description = expectString(fn.description, `${path}.function.description`);
    if (fn.strict != null && expectBoolean(fn.strict, `${path}.function.strict`)) translated.strict = true;
    out[i] = translated;
  }
  return out;
}

function translateToolChoice(value: unknown): AnthropicToolChoice {
  if (value === 'auto') return { type: 'auto' };
  if (value === 'none') return { type: 'none' };
  if (value === 'required') return { type: 'any' };
  if (typeof value === 'string') throw new InvalidParameterError('tool_choice', 'unknown value');
  const choice = expectObject(value, 'tool_choice');
  if (choice.type !== 'function')
    throw new UnsupportedParameterError('tool_choice.type', 'only function tool choices');
  const fn = expectObject(choice.function, 'tool_choice.function');
  return { type: 'tool', name: expectNonEmptyString(fn.name, 'tool_choice.function.name') };
}

/**
 * `json_schema` maps onto Anthropic structured outputs (`output_config.format`), which always
 * enforce the schema (OpenAI's strict mode). Its `name` and `description` have no Anthropic field
 * and are not sent. `json_object` (any JSON, no schema) has no equivalent and is refused.
 */
function translateResponseFormat(value: unknown, out: AnthropicMessagesRequest): void {
  const format = expectObject(value, 'response_format');
  const type = expectString(format.type, 'response_format.type');
  if (type === 'text') return;
  if (type === 'json_object') {
    throw new UnsupportedParameterError(
      'response_format',
      "'json_object' has no Anthropic equivalent; use 'json_schema'",
    );
  }
  if (type !== 'json_schema') throw new InvalidParameterError('response_format.type', 'unknown type');
  const spec = expectObject(format.json_schema, 'response_format.json_schema');
  const schema = expectObject(spec.schema, 'response_format.json_schema.schema');
  out.output_config = { ...out.output_config, format: { type: 'json_schema', schema } };
}

/**
 * Whether an OpenAI client's streaming request asked for the final usage chunk
 * (`stream_options.include_usage`): the option for AnthropicToOpenAIStream.
 */
export function openAIStreamIncludesUsage(body: unknown): boolean {
  return isObject(body) && isObject(body.stream_options) && body.stream_options.include_usage === true;
}
