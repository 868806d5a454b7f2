/**
 * Where the text is in each wire format, for the guardrail stages: every piece of prompt or answer
 * text a request or response carries, as slots that can be read and rewritten in place (redaction,
 * pseudonymisation). Roles matter: prompt-injection scoring applies to what the application did
 * not write itself (user turns, tool results), not to its own system prompt.
 *
 * Only text is collected. Images, audio and token arrays pass through unchanged; tool-call
 * arguments produced by the model are answers and are checked on the way out.
 */
export type SlotRole = 'system' | 'user' | 'assistant' | 'tool';

export interface TextSlot {
  role: SlotRole;
  get(): string;
  set(text: string): void;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function field(holder: Json, key: string, role: SlotRole, out: TextSlot[]): void {
  if (typeof holder[key] !== 'string') return;
  out.push({
    role,
    get: () => holder[key] as string,
    set: (text) => {
      holder[key] = text;
    },
  });
}

function roleOf(value: unknown): SlotRole {
  if (value === 'system' || value === 'developer') return 'system';
  if (value === 'assistant') return 'assistant';
  if (value === 'tool' || value === 'function') return 'tool';
  return 'user';
}

/** OpenAI content: a string, or parts of which `text` / `input_text` / `output_text` carry text. */
function openAIContent(holder: Json, key: string, role: SlotRole, out: TextSlot[]): void {
  const content = holder[key];
  if (typeof content === 'string') field(holder, key, role, out);
  else if (Array.isArray(content)) {
    for (const part of content) if (isObject(part)) field(part, 'text', role, out);
  }
}

/** Anthropic content: a string, or blocks: text, and tool_result whose content nests again. */
function anthropicContent(holder: Json, key: string, role: SlotRole, out: TextSlot[]): void {
  const content = holder[key];
  if (typeof content === 'string') {
    field(holder, key, role, out);
    return;
  }
  if (!Array.isArray(content)) return;
  for (const block of content) {
    if (!isObject(block)) continue;
    if (block.type === 'text') field(block, 'text', role, out);
    else if (block.type === 'tool_result') anthropicContent(block, 'content', 'tool', out);
  }
}

export type Format = 'chat' | 'messages' | 'embeddings' | 'responses';

/** An object field inspected as its JSON text (tool inputs); a rewrite that breaks JSON keeps a redacted string. */
function jsonSlot(holder: Json, key: string, out: TextSlot[]): void {
  out.push({
    role: 'assistant',
    get: () => JSON.stringify(holder[key]),
    set: (text) => {
      try {
        holder[key] = JSON.parse(text);
      } catch {
        holder[key] = { redacted: text };
      }
    },
  });
}

/** The prompt texts of a request body, which is modified in place through the slots. */
export function requestTexts(format: Format, body: Json): TextSlot[] {
  const out: TextSlot[] = [];
  if (format === 'chat') {
    for (const m of Array.isArray(body.messages) ? body.messages : []) {
      if (isObject(m)) openAIContent(m, 'content', roleOf(m.role), out);
    }
  } else if (format === 'messages') {
    anthropicContent(body, 'system', 'system', out);
    for (const m of Array.isArray(body.messages) ? body.messages : []) {
      if (isObject(m)) anthropicContent(m, 'content', roleOf(m.role), out);
    }
  } else if (format === 'embeddings') {
    const input = body.input;
    if (typeof input === 'string') field(body, 'input', 'user', out);
    else if (Array.isArray(input)) {
      input.forEach((item, i) => {
        if (typeof item === 'string') {
          out.push({
            role: 'user',
            get: () => input[i] as string,
            set: (text) => {
              input[i] = text;
            },
          });
        }
      });
    }
  } else {
    field(body, 'instructions', 'system', out);
    const input = body.input;
    if (typeof input === 'string') field(body, 'input', 'user', out);
    else if (Array.isArray(input)) {
      for (const item of input) {
        if (!isObject(item)) continue;
        if (item.type === 'function_call_output') field(item, 'output', 'tool', out);
        else openAIContent(item, 'content', roleOf(item.role), out);
      }
    }
  }
  return out;
}

/** The answer texts of a non-streaming response in the client's format. */
export function answerTexts(format: Format, body: Json): TextSlot[] {
  const out: TextSlot[] = [];
  if (format === 'chat') {
    for (const choice of Array.isArray(body.choices) ? body.choices : []) {
      if (!isObject(choice) || !isObject(choice.message)) continue;
      field(choice.message, 'content', 'assistant', out);
      field(choice.message, 'refusal', 'assistant', out);
      for (const call of Array.isArray(choice.message.tool_calls) ? choice.message.tool_calls : []) {
        if (isObject(call) && isObject(call.function)) field(call.function, 'arguments', 'assistant', out);
      }
    }
  } else if (format === 'messages') {
    for (const block of Array.isArray(body.content) ? body.content : []) {
      if (!isObject(block)) continue;
      if (block.type === 'text') field(block, 'text', 'assistant', out);
      else if (block.type === 'tool_use' && isObject(block.input)) jsonSlot(block, 'input', out);
    }
  } else if (format === 'responses') {
    for (const item of Array.isArray(body.output) ? body.output : []) {
      if (!isObject(item)) continue;
      for (const part of Array.isArray(item.content) ? item.content : []) {
        if (isObject(part)) field(part, 'text', 'assistant', out);
      }
      field(item, 'arguments', 'assistant', out);
    }
  }
  return out;
}
