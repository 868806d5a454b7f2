/**
 * The `messages` array of an OpenAI chat request → Anthropic `system` + `messages`: system turns
 * gathered into `system`, same-role turns merged, content parts, tool calls and tool results.
 */
import type {
  AnthropicContentBlockParam,
  AnthropicImageBlockParam,
  AnthropicImageMediaType,
  AnthropicMessageParam,
  AnthropicTextBlockParam,
} from '../anthropic/types.ts';
import { InvalidParameterError, UnsupportedParameterError } from '../errors.ts';
import {
  expectArray,
  expectNonEmptyString,
  expectObject,
  expectString,
  isObject,
  type JsonObject,
} from './validate.ts';

const IMAGE_MEDIA_TYPES: ReadonlySet<string> = new Set([
  'image/jpeg',
  'image/png',
  'image/gif',
  'image/webp',
]);

export interface TranslatedMessages {
  system: string | AnthropicTextBlockParam[] | undefined;
  messages: AnthropicMessageParam[];
}

export function translateMessages(list: unknown[]): TranslatedMessages {
  if (list.length === 0) throw new InvalidParameterError('messages', 'must contain at least one message');
  const system: AnthropicTextBlockParam[] = [];
  const messages: AnthropicMessageParam[] = [];
  let last: AnthropicMessageParam | undefined;

  // Anthropic wants user and assistant turns to alternate; consecutive same-role messages (and
  // the user turn that carries tool results) are merged into one turn, order preserved.
  const push = (role: 'user' | 'assistant', blocks: AnthropicContentBlockParam[]): void => {
    if (blocks.length === 0) return;
    if (last !== undefined && last.role === role) {
      (last.content as AnthropicContentBlockParam[]).push(...blocks);
    } else {
      last = { role, content: blocks };
      messages.push(last);
    }
  };

  for (let i = 0; i < list.length; i++) {
    const path = `messages[${i}]`;
    const msg = expectObject(list[i], path);
    const role = expectString(msg.role, `${path}.role`);
    switch (role) {
      case 'system':
      case 'developer':
        checkKeys(msg, path, ['role', 'content']);
        // Anthropic has one system prompt, so system turns anywhere in the conversation are
        // gathered into it, in order.
        for (const block of textBlocks(msg.content, `${path}.content`)) system.push(block);
        break;
      case 'user':
        checkKeys(msg, path, ['role', 'content']);
        push('user', userBlocks(msg.content, `${path}.content`));
        break;
      case 'assistant':
        checkKeys(msg, path, ['role', 'content', 'refusal', 'tool_calls']);
        push('assistant', assistantBlocks(msg, path));
        break;
      case 'tool': {
        checkKeys(msg, path, ['role', 'content', 'tool_call_id']);
        const toolUseId = expectNonEmptyString(msg.tool_call_id, `${path}.tool_call_id`);
        const content = textBlocks(msg.content, `${path}.content`);
        // An empty result is sent without content, as Anthropic documents it (content is optional).
        push('user', [
          content.length > 0
            ? { type: 'tool_result', tool_use_id: toolUseId, content }
            : { type: 'tool_result', tool_use_id: toolUseId },
        ]);
        break;
      }
      case 'function':
        throw new UnsupportedParameterError(
          `${path}.role`,
          "legacy 'function' messages: use 'tool' messages",
        );
      default:
        throw new InvalidParameterError(`${path}.role`, 'unknown role');
    }
  }
  if (messages.length === 0) {
    throw new InvalidParameterError(
      'messages',
      'must contain at least one non-empty user or assistant message',
    );
  }
  let systemOut: TranslatedMessages['system'];
  if (system.length === 1 && system[0]?.cache_control === undefined) systemOut = system[0]?.text;
  else if (system.length > 0) systemOut = system;
  return { system: systemOut, messages };
}

/** Refuses message fields with no Anthropic counterpart (`name`, `audio`, `function_call`). */
function checkKeys(msg: JsonObject, path: string, allowed: readonly string[]): void {
  for (const key in msg) {
    if (msg[key] != null && !allowed.includes(key)) throw new UnsupportedParameterError(`${path}.${key}`);
  }
}

/** A text block; empty text is skipped because Anthropic rejects empty text blocks. */
function pushText(out: AnthropicContentBlockParam[], text: string, part?: JsonObject): void {
  if (text.length === 0) return;
  const block: AnthropicTextBlockParam = { type: 'text', text };
  if (part?.prompt_cache_breakpoint != null) block.cache_control = { type: 'ephemeral' };
  out.push(block);
}

/** Content that may only hold text: a string or an array of text parts. */
function textBlocks(content: unknown, path: string): AnthropicTextBlockParam[] {
  const out: AnthropicTextBlockParam[] = [];
  if (typeof content === 'string') {
    pushText(out, content);
    return out;
  }
  const parts = expectArray(content, path);
  for (let j = 0; j < parts.length; j++) {
    const part = expectObject(parts[j], `${path}[${j}]`);
    const type = expectString(part.type, `${path}[${j}].type`);
    if (type !== 'text')
      throw new UnsupportedParameterError(`${path}[${j}].type`, 'only text parts are allowed here');
    pushText(out, expectString(part.text, `${path}[${j}].text`), part);
  }
  return out;
}

function userBlocks(content: unknown, path: string): AnthropicContentBlockParam[] {
  const out: AnthropicContentBlockParam[] = [];
  if (typeof content === 'string') {
    pushText(out, content);
    return out;
  }
  const parts = expectArray(content, path);
  for (let j = 0; j < parts.length; j++) {
    const partPath = `${path}[${j}]`;
    const part = expectObject(parts[j], partPath);
    const type = expectString(part.type, `${partPath}.type`);
    if (type === 'text') pushText(out, expectString(part.text, `${partPath}.text`), part);
    else if (type === 'image_url') out.push(imageBlock(part, partPath));
    else throw new UnsupportedParameterError(`${partPath}.type`, 'only text and image_url parts');
  }
  return out;
}

function imageBlock(part: JsonObject, path: string): AnthropicImageBlockParam {
  const image = expectObject(part.image_url, `${path}.image_url`);
  const url = expectNonEmptyString(image.url, `${path}.image_url.url`);
  // Anthropic always reads images at full resolution, which is what 'high' asks for; 'low'
  // (cheaper, downscaled) cannot be honoured.
  if (image.detail != null && image.detail !== 'auto' && image.detail !== 'high') {
    throw new UnsupportedParameterError(`${path}.image_url.detail`, "only 'auto' and 'high' are supported");
  }
  const block: AnthropicImageBlockParam = {
    type: 'image',
    source: imageSource(url, `${path}.image_url.url`),
  };
  if (part.prompt_cache_breakpoint != null) block.cache_control = { type: 'ephemeral' };
  return block;
}

function imageSource(url: string, path: string): AnthropicImageBlockParam['source'] {
  if (url.startsWith('data:')) {
    // RFC 2397: data:[<mediatype>][;base64],<data>
    const comma = url.indexOf(',');
    const header = comma === -1 ? '' : url.slice(5, comma);
    if (!header.endsWith(';base64'))
      throw new InvalidParameterError(path, 'data URLs must be base64-encoded');
    const mediaType = header.slice(0, -7).toLowerCase();
    if (!IMAGE_MEDIA_TYPES.has(mediaType)) {
      throw new UnsupportedParameterError(path, 'image type must be jpeg, png, gif or webp');
    }
    return { type: 'base64', media_type: mediaType as AnthropicImageMediaType, data: url.slice(comma + 1) };
  }
  const scheme = url.slice(0, 8).toLowerCase();
  if (scheme.startsWith('https://') || scheme.startsWith('http://')) return { type: 'url', url };
  throw new InvalidParameterError(path, 'expected an http(s) URL or a base64 data URL');
}

function assistantBlocks(msg: JsonObject, path: string): AnthropicContentBlockParam[] {
  const out: AnthropicContentBlockParam[] = [];
  const content = msg.content;
  if (typeof content === 'string') pushText(out, content);
  else if (content != null) {
    const parts = expectArray(content, `${path}.content`);
    for (let j = 0; j < parts.length; j++) {
      const partPath = `${path}.content[${j}]`;
      const part = expectObject(parts[j], partPath);
      const type = expectString(part.type, `${partPath}.type`);
      if (type === 'text') pushText(out, expectString(part.text, `${partPath}.text`), part);
      else if (type === 'refusal') pushText(out, expectString(part.refusal, `${partPath}.refusal`));
      else throw new UnsupportedParameterError(`${partPath}.type`, 'only text and refusal parts');
    }
  }
  if (msg.refusal != null) pushText(out, expectString(msg.refusal, `${path}.refusal`));
  if (msg.tool_calls != null) {
    const calls = expectArray(msg.tool_calls, `${path}.tool_calls`);
    for (let j = 0; j < calls.length; j++) {
      const callPath = `${path}.tool_calls[${j}]`;
      const call = expectObject(calls[j], callPath);
      if (call.type !== 'function')
        throw new UnsupportedParameterError(`${callPath}.type`, 'only function tool calls');
      const fn = expectObject(call.function, `${callPath}.function`);
      out.push({
        type: 'tool_use',
        id: expectNonEmptyString(call.id, `${callPath}.id`),
        name: expectNonEmptyString(fn.name, `${callPath}.function.name`),
        input: parseArguments(fn.arguments, `${callPath}.function.arguments`),
      });
    }
  }
  return out;
}

/** Tool-call arguments are a JSON string in OpenAI and an object in Anthropic. */
function parseArguments(value: unknown, path: string): JsonObject {
  const text = expectString(value, path);
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new InvalidParameterError(path, 'must be a JSON object encoded as a string');
  }
  if (!isObject(parsed)) throw new InvalidParameterError(path, 'must be a JSON object encoded as a string');
  return parsed;
}
