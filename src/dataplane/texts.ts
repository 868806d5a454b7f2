/**
 * Where the text is in each wire format, for the guardrail stages: every piece of prompt or answer
 * text a request or response carries, as slots that can be read and rewritten in place (redaction,
 * pseudonymisation). Roles matter: prompt-injection scoring applies to what the application did
 * not write itself (user turns, tool results), not to its own system prompt.
 *
 * Every string under the fields that carry conversation (messages, system, tools, input,
 * prediction, prompt variables) is collected, except identifiers, enums and binary payloads: a
 * field not known here is inspected rather than skipped (fail closed). Images, audio and token
 * arrays pass through unchanged.
 */
export type SlotRole = 'system' | 'user' | 'assistant' | 'tool';

export interface TextSlot {
  role: SlotRole;
  /** Where the text is in the body, as OpenAI's `param` names it (`messages.2.content.0.text`). */
  path: string;
  get(): string;
  set(text: string): void;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function roleOf(value: unknown): SlotRole {
  if (value === 'system' || value === 'developer') return 'system';
  if (value === 'assistant') return 'assistant';
  if (value === 'tool' || value === 'function') return 'tool';
  return 'user';
}

export type Format = 'chat' | 'messages' | 'embeddings' | 'responses';

/**
 * Keys whose string values are never text: identifiers, enums, and binary payloads (base64 images,
 * audio, files, thinking signatures). Everything else under a walked field is inspected, so a
 * field this code does not know about (a new content type, a tool description, a message `name`)
 * is covered rather than skipped.
 */
const NOT_TEXT = new Set([
  'type',
  'role',
  'id',
  'tool_call_id',
  'tool_use_id',
  'call_id',
  'media_type',
  'detail',
  'format',
  'data',
  'file_data',
  'file_id',
  'signature',
  'cache_control',
  'status',
  'model',
]);

function isBinaryUrl(key: string, value: string): boolean {
  return (key === 'url' || key === 'image_url') && value.startsWith('data:');
}

/** Every text string under `value`, as slots that rewrite it in place. */
function walk(
  holder: Json | unknown[],
  key: string | number,
  role: SlotRole,
  out: TextSlot[],
  depth = 0,
  parent = '',
): void {
  if (depth > 64) return;
  const path = parent === '' ? String(key) : `${parent}.${key}`;
  const value = (holder as Record<string | number, unknown>)[key];
  if (typeof value === 'string') {
    if (value.length === 0 || (typeof key === 'string' && isBinaryUrl(key, value))) return;
    out.push({
      role,
      path,
      get: () => (holder as Record<string | number, unknown>)[key] as string,
      set: (text) => {
        (holder as Record<string | number, unknown>)[key] = text;
      },
    });
  } else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) walk(value, i, role, out, depth + 1, path);
  } else if (isObject(value)) {
    for (const k of Object.keys(value)) {
      // A plain-text document source carries its text in `data` (elsewhere `data` is base64).
      if ((NOT_TEXT.has(k) && !(k === 'data' && value.type === 'text')) || k === 'input_audio') continue;
      // Results of tools and quoted documents are third-party text: scored as tool output.
      const inner =
        value.type === 'tool_result' || value.type === 'document' || value.type === 'function_call_output'
          ? 'tool'
          : role;
      walk(value, k, inner, out, depth + 1, path);
    }
  }
}

/** The prompt texts of a request body, which is modified in place through the slots. */
export function requestTexts(format: Format, body: Json): TextSlot[] {
  const out: TextSlot[] = [];
  const messages = Array.isArray(body.messages) ? body.messages : [];
  if (format === 'chat' || format === 'messages') {
    if (format === 'messages') walk(body, 'system', 'system', out);
    messages.forEach((m, i) => {
      if (isObject(m)) walk(messages, i, roleOf(m.role), out, 0, 'messages');
    });
    // Tool definitions and predicted output are written by the application, not by a user.
    walk(body, 'tools', 'system', out);
    if (format === 'chat') walk(body, 'prediction', 'assistant', out);
  } else if (format === 'embeddings') {
    walk(body, 'input', 'user', out);
  } else {
    walk(body, 'instructions', 'system', out);
    walk(body, 'tools', 'system', out);
    const input = body.input;
    if (Array.isArray(input)) {
      input.forEach((item, i) => {
        if (!isObject(item)) return;
        const role =
          item.type === 'function_call_output'
            ? 'tool'
            : item.type === 'function_call'
              ? 'assistant'
              : roleOf(item.role);
        walk(input, i, role, out, 0, 'input');
      });
    } else walk(body, 'input', 'user', out);
    if (isObject(body.prompt)) walk(body.prompt, 'variables', 'user', out, 0, 'prompt');
  }
  return out;
}

/** The answer texts of a non-streaming response in the client's format (everything but ids and enums). */
export function answerTexts(format: Format, body: Json): TextSlot[] {
  const out: TextSlot[] = [];
  if (format === 'chat') {
    const choices = Array.isArray(body.choices) ? body.choices : [];
    choices.forEach((choice, i) => {
      if (isObject(choice)) walk(choice, 'message', 'assistant', out, 0, `choices.${i}`);
    });
  } else if (format === 'messages') {
    walk(body, 'content', 'assistant', out);
  } else if (format === 'responses') {
    walk(body, 'output', 'assistant', out);
  }
  return out;
}
