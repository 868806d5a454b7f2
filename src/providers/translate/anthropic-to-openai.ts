/**
 * Anthropic Messages request → OpenAI Chat Completions request, so an Anthropic SDK client can
 * call a GPT model. Every request field is either mapped or refused with
 * UnsupportedParameterError; the few that are accepted without effect are listed, with the
 * reason, in docs/translation.md.
 */
import { InvalidParameterError, UnsupportedParameterError } from '../errors.ts';
import type {
  OpenAIAssistantMessage,
  OpenAIChatRequest,
  OpenAIFunctionTool,
  OpenAIMessage,
  OpenAIReasoningEffort,
  OpenAITextPart,
  OpenAIToolCall,
  OpenAIToolChoice,
  OpenAIUserContentPart,
} from '../openai/types.ts';
import {
  expectArray,
  expectBoolean,
  expectNonEmptyString,
  expectNumber,
  expectObject,
  expectPositiveInteger,
  expectString,
  expectStringList,
  type JsonObject,
} from './validate.ts';

/** OpenAI accepts at most four stop sequences. */
const MAX_OPENAI_STOP_SEQUENCES = 4;
const EFFORTS: ReadonlySet<string> = new Set(['low', 'medium', 'high', 'xhigh', 'max']);
const TOOL_KEYS: ReadonlySet<string> = new Set([
  'name',
  'description',
  'input_schema',
  'strict',
  'type',
  'cache_control',
]);

export function anthropicRequestToOpenAI(body: unknown): OpenAIChatRequest {
  const req = expectObject(body, 'body');
  const model = expectNonEmptyString(req.model, 'model');
  if (req.max_tokens === 0)
    throw new UnsupportedParameterError('max_tokens', 'cache pre-warming (0) is not supported');
  const maxTokens = expectPositiveInteger(req.max_tokens, 'max_tokens');
  const messages: OpenAIMessage[] = [];
  if (req.system != null) {
    const system = systemContent(req.system, 'system');
    if (system !== '') messages.push({ role: 'system', content: system });
  }
  translateMessages(expectArray(req.messages, 'messages'), messages);
  const out: OpenAIChatRequest = { model, messages, max_completion_tokens: maxTokens };
  let disableParallel = false;

  for (const key in req) {
    const value = req[key];
    if (value === undefined || value === null) continue;
    switch (key) {
      case 'model':
      case 'max_tokens':
      case 'messages':
      case 'system':
        break;
      // Caching is automatic at OpenAI: the intent of a cache breakpoint is met without it.
      case 'cache_control':
        break;
      case 'metadata': {
        const metadata = expectObject(value, key);
        for (const k in metadata) {
          if (k !== 'user_id') throw new UnsupportedParameterError(`metadata.${k}`);
          if (metadata[k] != null) out.user = expectString(metadata[k], 'metadata.user_id');
        }
        break;
      }
      case 'stop_sequences': {
        const stops = expectStringList(value, key);
        if (stops.length > MAX_OPENAI_STOP_SEQUENCES) {
          throw new UnsupportedParameterError(key, `OpenAI accepts at most ${MAX_OPENAI_STOP_SEQUENCES}`);
        }
        if (stops.length > 0) out.stop = stops;
        break;
      }
      case 'stream':
        if (expectBoolean(value, key)) {
          out.stream = true;
          // Anthropic streams always report usage (message_start / message_delta); OpenAI only
          // when asked, in a final chunk.
          out.stream_options = { include_usage: true };
        }
        break;
      case 'temperature':
        out.temperature = expectNumber(value, key, 0, 1);
        break;
      case 'top_p':
        out.top_p = expectNumber(value, key, 0, 1);
        break;
      case 'tools':
        out.tools = translateTools(expectArray(value, key));
        break;
      case 'tool_choice': {
        const choice = expectObject(value, key);
        out.tool_choice = translateToolChoice(choice);
        if (choice.disable_parallel_tool_use != null) {
          disableParallel = expectBoolean(
            choice.disable_parallel_tool_use,
            'tool_choice.disable_parallel_tool_use',
          );
        }
        break;
      }
      case 'output_config':
        translateOutputConfig(expectObject(value, key), out);
        break;
      case 'service_tier': {
        const tier = expectString(value, key);
        if (tier === 'auto') out.service_tier = 'auto';
        else if (tier === 'standard_only') out.service_tier = 'default';
        else throw new InvalidParameterError(key, 'unknown value');
        break;
      }
      case 'thinking': {
        // 'adaptive' lets the model decide how much to reason, which is what OpenAI models do by
        // default; 'disabled' asks for no extended thinking, also the default. A fixed budget
        // has no OpenAI counterpart.
        const type = expectString(expectObject(value, key).type, 'thinking.type');
        if (type !== 'adaptive' && type !== 'disabled')
          throw new UnsupportedParameterError('thinking.type', "only 'adaptive' and 'disabled'");
        break;
      }
      default:
        // top_k, container, inference_geo, speed, diagnostics, … and anything added later.
        throw new UnsupportedParameterError(key);
    }
  }
  if (disableParallel && out.tools !== undefined) out.parallel_tool_calls = false;
  return out;
}

/** System prompt: a string or text blocks, joined into one string. */
function systemContent(value: unknown, path: string): string {
  if (typeof value === 'string') return value;
  const blocks = expectArray(value, path);
  let text = '';
  for (let i = 0; i < blocks.length; i++) {
    const block = expectObject(blocks[i], `${path}[${i}]`);
    if (block.type !== 'text') throw new UnsupportedParameterError(`${path}[${i}].type`, 'only text blocks');
    if (block.citations != null) throw new UnsupportedParameterError(`${path}[${i}].citations`);
    const t = expectString(block.text, `${path}[${i}].text`);
    text = text === '' ? t : `${text}\n\n${t}`;
  }
  return text;
}

function translateMessages(list: unknown[], out: OpenAIMessage[]): void {
  if (list.length === 0) throw new InvalidParameterError('messages', 'must contain at least one message');
  for (let i = 0; i < list.length; i++) {
    const path = `messages[${i}]`;
    const msg = expectObject(list[i], path);
    const role = expectString(msg.role, `${path}.role`);
    if (role === 'user') userMessages(msg.content, `${path}.content`, out);
    else if (role === 'assistant') out.push(assistantMessage(msg.content, `${path}.content`));
    else if (role === 'system')
      out.push({ role: 'system', content: systemContent(msg.content, `${path}.content`) });
    else throw new InvalidParameterError(`${path}.role`, "expected 'user', 'assistant' or 'system'");
  }
}

/**
 * One Anthropic user turn becomes one OpenAI `tool` message per tool_result block (OpenAI wants
 * them straight after the assistant's tool_calls, and Anthropic puts them first in the turn),
 * then one user message with the remaining content.
 */
function userMessages(content: unknown, path: string, out: OpenAIMessage[]): void {
  if (typeof content === 'string') {
    out.push({ role: 'user', content });
    return;
  }
  const blocks = expectArray(content, path);
  const parts: OpenAIUserContentPart[] = [];
  for (let j = 0; j < blocks.length; j++) {
    const blockPath = `${path}[${j}]`;
    const block = expectObject(blocks[j], blockPath);
    const type = expectString(block.type, `${blockPath}.type`);
    if (type === 'text') parts.push(textPart(block, blockPath));
    else if (type === 'image') parts.push(imagePart(block, blockPath));
    else if (type === 'tool_result') {
      out.push({
        role: 'tool',
        tool_call_id: expectNonEmptyString(block.tool_use_id, `${blockPath}.tool_use_id`),
        content: toolResultContent(block, blockPath),
      });
    } else
      throw new UnsupportedParameterError(
        `${blockPath}.type`,
        'user turns may hold text, image and tool_result blocks',
      );
  }
  if (parts.length > 0) out.push({ role: 'user', content: parts });
}

function textPart(block: JsonObject, path: string): OpenAITextPart {
  if (block.citations != null) throw new UnsupportedParameterError(`${path}.citations`);
  return { type: 'text', text: expectString(block.text, `${path}.text`) };
}

function imagePart(block: JsonObject, path: string): OpenAIUserContentPart {
  const source = expectObject(block.source, `${path}.source`);
  const type = expectString(source.type, `${path}.source.type`);
  if (type === 'url')
    return { type: 'image_url', image_url: { url: expectNonEmptyString(source.url, `${path}.source.url`) } };
  if (type === 'base64') {
    const mediaType = expectNonEmptyString(source.media_type, `${path}.source.media_type`);
    const data = expectNonEmptyString(source.data, `${path}.source.data`);
    return { type: 'image_url', image_url: { url: `data:${mediaType};base64,${data}` } };
  }
  throw new UnsupportedParameterError(`${path}.source.type`, 'only base64 and url image sources');
}

/**
 * OpenAI tool messages carry text only and have no error flag, so an `is_error` result is marked
 * in the text itself; the model still learns the call failed.
 */
function toolResultContent(block: JsonObject, path: string): string {
  let text = '';
  const content = block.content;
  if (typeof content === 'string') text = content;
  else if (content != null) {
    const items = expectArray(content, `${path}.content`);
    for (let k = 0; k < items.length; k++) {
      const item = expectObject(items[k], `${path}.content[${k}]`);
      if (item.type !== 'text') {
        throw new UnsupportedParameterError(
          `${path}.content[${k}].type`,
          'OpenAI tool results carry text only',
        );
      }
      const t = textPart(item, `${path}.content[${k}]`).text;
      text = text === '' ? t : `${text}\n${t}`;
    }
  }
  if (block.is_error != null && expectBoolean(block.is_error, `${path}.is_error`)) text = `Error: ${text}`;
  return text;
}

function assistantMessage(content: unknown, path: string): OpenAIAssistantMessage {
  if (typeof content === 'string') return { role: 'assistant', content };
  const blocks = expectArray(content, path);
  const texts: OpenAITextPart[] = [];
  const calls: OpenAIToolCall[] = [];
  for (let j = 0; j < blocks.length; j++) {
    const blockPath = `${path}[${j}]`;
    const block = expectObject(blocks[j], blockPath);
    const type = expectString(block.type, `${blockPath}.type`);
    if (type === 'text') texts.push(textPart(block, blockPath));
    else if (type === 'tool_use') {
      const input = block.input === undefined ? {} : expectObject(block.input, `${blockPath}.input`);
      calls.push({
        id: expectNonEmptyString(block.id, `${blockPath}.id`),
        type: 'function',
        function: {
          name: expectNonEmptyString(block.name, `${blockPath}.name`),
          arguments: JSON.stringify(input),
        },
      });
    } else if (type === 'thinking' || type === 'redacted_thinking') {
      // Earlier turns' reasoning is Claude's own, signed for Claude; another vendor's model can
      // neither verify nor use it, and Anthropic itself drops it from earlier turns.
    } else
      throw new UnsupportedParameterError(
        `${blockPath}.type`,
        'assistant turns may hold text and tool_use blocks',
      );
  }
  const msg: OpenAIAssistantMessage = {
    role: 'assistant',
    content: texts.length === 0 ? null : texts.length === 1 ? (texts[0]?.text ?? null) : texts,
  };
  if (calls.length > 0) msg.tool_calls = calls;
  return msg;
}

function translateTools(list: unknown[]): OpenAIFunctionTool[] {
  const out: OpenAIFunctionTool[] = new Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const path = `tools[${i}]`;
    const tool = expectObject(list[i], path);
    if (tool.type != null && tool.type !== 'custom') {
      throw new UnsupportedParameterError(`${path}.type`, 'server and client-defined Anthropic tools');
    }
    for (const key in tool) {
      if (!TOOL_KEYS.has(key) && tool[key] != null) throw new UnsupportedParameterError(`${path}.${key}`);
    }
    const fn: OpenAIFunctionTool['function'] = {
      name: expectNonEmptyString(tool.name, `${path}.name`),
      parameters: expectObject(tool.input_schema, `${path}.input_schema`),
    };
    if (tool.description != null) fn.description = expectString(tool.description, `${path}.description`);
    if (tool.strict != null) fn.strict = expectBoolean(tool.strict, `${path}.strict`);
    out[i] = { type: 'function', function: fn };
  }
  return out;
}

function translateToolChoice(choice: JsonObject): OpenAIToolChoice {
  const type = expectString(choice.type, 'tool_choice.type');
  switch (type) {
    case 'auto':
      return 'auto';
    case 'any':
      return 'required';
    case 'none':
      return 'none';
    case 'tool':
      return { type: 'function', function: { name: expectNonEmptyString(choice.name, 'tool_choice.name') } };
    default:
      throw new InvalidParameterError('tool_choice.type', 'unknown type');
  }
}

function translateOutputConfig(config: JsonObject, out: OpenAIChatRequest): void {
  for (const key in config) {
    const value = config[key];
    if (value == null) continue;
    if (key === 'effort') {
      const effort = expectString(value, 'output_config.effort');
      if (!EFFORTS.has(effort)) throw new InvalidParameterError('output_config.effort', 'unknown value');
      out.reasoning_effort = effort as OpenAIReasoningEffort;
    } else if (key === 'format') {
      const format = expectObject(value, 'output_config.format');
      if (format.type !== 'json_schema') throw new UnsupportedParameterError('output_config.format.type');
      const schema = expectObject(format.schema, 'output_config.format.schema');
      // Anthropic structured outputs always enforce the schema: OpenAI's strict mode.
      out.response_format = { type: 'json_schema', json_schema: { name: 'response', schema, strict: true } };
    } else throw new UnsupportedParameterError(`output_config.${key}`);
  }
}
