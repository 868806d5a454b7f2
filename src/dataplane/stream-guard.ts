import type { PortcullisError } from '../errors/catalogue.ts';
import type { StreamChunk } from '../guardrails/stream.ts';

/**
 * Output guardrails on streams, per client wire format. Text deltas go through the request's
 * stream filter, which holds back only what still needs checking; the filtered text replaces the
 * delta, and events left empty are dropped. Events that repeat the whole text at the end (the
 * Responses API's *.done events) get the filtered text, so nothing unchecked slips out there.
 *
 * Each guard returns the events to send, or `blocked` — then the relay sends its format's error
 * event (code guardrail_blocked, or the filter's own error such as output_schema_violation) and
 * stops reading from the provider.
 */
export type Guarded<T> = { events: T[]; blocked: false } | ({ events: T[]; blocked: true } & StreamStop);

/** Why a stream stopped, as its error event says it: a catalogue code, its type and status. */
export interface StreamStop {
  reason: string;
  code: string;
  type: PortcullisError['type'];
  /** For the call record: the status the request would have had before the stream started. */
  status: number;
}

/** A chunk that may carry its own catalogue error instead of a guardrail_blocked (structured output). */
export interface AnswerChunk extends StreamChunk {
  error?: PortcullisError;
}

/** A stream filter whose blocks may name their own error; every StreamFilter is one. */
export interface AnswerFilter {
  push(delta: string): AnswerChunk;
  end(): AnswerChunk;
}

/** Which answer text a filter serves: the answer itself, or a tool call's arguments. */
export type FilterSlot = 'text' | 'tool';
export type NewFilter = (slot: FilterSlot) => AnswerFilter;

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every function tool the answer calls is allowed (the policy's tool allowlist); by default any. */
export type ToolCheck = (name: string) => boolean;
const anyTool: ToolCheck = () => true;
/** What a block says: its own error, or the guardrail that blocked. */
type Block = { error?: PortcullisError; blockedBy?: { detector: string; category: string } };

const TOOL_BLOCK: Block = { blockedBy: { detector: 'tools', category: 'tool_not_allowed' } };

function stop(chunk: Block): StreamStop {
  if (chunk.error) {
    const e = chunk.error;
    return { reason: e.message, code: e.code, type: e.type, status: e.status };
  }
  const by = chunk.blockedBy ?? { detector: 'guardrail', category: 'policy' };
  return {
    reason: `The answer was blocked by the workspace's ${by.detector} guardrail (${by.category}).`,
    code: 'guardrail_blocked',
    type: 'invalid_request_error',
    // Recorded like the 400 it would have been before the stream started.
    status: 400,
  };
}

const blockedBy = <T>(chunk: Block): Guarded<T> => ({ events: [], blocked: true, ...stop(chunk) });

/**
 * chat.completion.chunk objects (OpenAI clients). Every choice (`n` > 1) and every tool call's
 * arguments get their own filter, so interleaved streams never hide a value from the check.
 * Log probabilities repeat the text token by token, so they are dropped while output guardrails
 * are on.
 */
export function createOpenAIChunkGuard(
  newFilter: NewFilter,
  toolAllowed: ToolCheck = anyTool,
): (chunk: Json) => Guarded<Json> {
  const filters = new Map<string, AnswerFilter>();
  const filterFor = (key: string, slot: FilterSlot): AnswerFilter => {
    let f = filters.get(key);
    if (!f) {
      f = newFilter(slot);
      filters.set(key, f);
    }
    return f;
  };
  return (chunk) => {
    const choices = Array.isArray(chunk.choices) ? chunk.choices : [];
    let keep = choices.length === 0;
    for (const choice of choices) {
      if (!isObject(choice)) continue;
      const c = String(choice.index ?? 0);
      if ('logprobs' in choice) choice.logprobs = null;
      let delta = isObject(choice.delta) ? choice.delta : undefined;
      if (delta && typeof delta.content === 'string' && delta.content.length > 0) {
        const out = filterFor(`${c}:content`, 'text').push(delta.content);
        if (out.blocked) return blockedBy(out);
        delta.content = out.text;
      }
      const calls = delta && Array.isArray(delta.tool_calls) ? delta.tool_calls : [];
      for (const call of calls) {
        // The name arrives with the call's first chunk, before any of its arguments.
        if (isObject(call) && isObject(call.function) && typeof call.function.name === 'string') {
          if (!toolAllowed(call.function.name)) return blockedBy(TOOL_BLOCK);
        }
        if (!isObject(call) || !isObject(call.function) || typeof call.function.arguments !== 'string')
          continue;
        const out = filterFor(`${c}:tool:${String(call.index ?? 0)}`, 'tool').push(call.function.arguments);
        if (out.blocked) return blockedBy(out);
        call.function.arguments = out.text;
      }
      if (choice.finish_reason !== null && choice.finish_reason !== undefined) {
        // This choice is complete: what its filters still hold is checked and sent, in order,
        // before the finish reason.
        for (const [key, filter] of filters) {
          if (!key.startsWith(`${c}:`)) continue;
          filters.delete(key);
          const rest = filter.end();
          if (rest.blocked) return blockedBy(rest);
          if (rest.text.length === 0) continue;
          if (delta === undefined) {
            delta = {};
            choice.delta = delta;
          }
          if (key.endsWith(':content')) {
            delta.content = `${typeof delta.content === 'string' ? delta.content : ''}${rest.text}`;
          } else {
            const index = Number(key.slice(key.lastIndexOf(':') + 1));
            if (!Array.isArray(delta.tool_calls)) delta.tool_calls = [];
            const list = delta.tool_calls as Json[];
            const existing = list.find((t) => isObject(t) && t.index === index && isObject(t.function));
            if (existing && isObject(existing.function)) {
              existing.function.arguments = `${typeof existing.function.arguments === 'string' ? existing.function.arguments : ''}${rest.text}`;
            } else list.push({ index, function: { arguments: rest.text } });
          }
        }
      }
      const emptyDelta =
        delta === undefined ||
        Object.entries(delta).every(
          ([k, v]) =>
            (k === 'content' && (v === '' || v === null)) ||
            (k === 'tool_calls' &&
              Array.isArray(v) &&
              v.every(
                (t) =>
                  isObject(t) &&
                  t.id === undefined &&
                  (!isObject(t.function) || (t.function.name === undefined && t.function.arguments === '')),
              )),
        );
      if (!emptyDelta || (choice.finish_reason !== null && choice.finish_reason !== undefined)) keep = true;
    }
    return { events: keep || chunk.usage ? [chunk] : [], blocked: false };
  };
}

/** Anthropic Messages stream events (Anthropic clients). A new filter serves each text block. */
export function createAnthropicEventGuard(
  newFilter: NewFilter,
  toolAllowed: ToolCheck = anyTool,
): (event: Json) => Guarded<Json> {
  let filter: AnswerFilter | undefined;
  return (event) => {
    if (
      event.type === 'content_block_start' &&
      isObject(event.content_block) &&
      event.content_block.type === 'tool_use' &&
      !toolAllowed(String(event.content_block.name))
    ) {
      return blockedBy(TOOL_BLOCK);
    }
    if (event.type === 'content_block_delta' && isObject(event.delta) && event.delta.type === 'text_delta') {
      filter ??= newFilter('text');
      const out = filter.push(typeof event.delta.text === 'string' ? event.delta.text : '');
      if (out.blocked) return blockedBy(out);
      if (out.text.length === 0) return { events: [], blocked: false };
      return { events: [{ ...event, delta: { ...event.delta, text: out.text } }], blocked: false };
    }
    if (event.type === 'content_block_stop' && filter) {
      const rest = filter.end();
      filter = undefined;
      if (rest.blocked) return blockedBy(rest);
      const events: Json[] = [];
      if (rest.text.length > 0) {
        events.push({
          type: 'content_block_delta',
          index: event.index,
          delta: { type: 'text_delta', text: rest.text },
        });
      }
      events.push(event);
      return { events, blocked: false };
    }
    return { events: [event], blocked: false };
  };
}

/** Responses API stream events: output_text deltas filtered, the *.done repeats rewritten. */
export function createResponsesEventGuard(
  newFilter: NewFilter,
  toolAllowed: ToolCheck = anyTool,
): (event: Json) => Guarded<Json> {
  const filters = new Map<string, AnswerFilter>();
  const sent = new Map<string, string>();
  const key = (e: Json): string => `${String(e.output_index ?? 0)}:${String(e.content_index ?? 0)}`;
  const flush = (k: string): { text: string; blocked?: AnswerChunk } => {
    const filter = filters.get(k);
    if (!filter) return { text: '' };
    filters.delete(k);
    const rest = filter.end();
    if (rest.blocked) return { text: '', blocked: rest };
    sent.set(k, (sent.get(k) ?? '') + rest.text);
    return { text: rest.text };
  };
  const rewriteParts = (parts: unknown, outputIndex: unknown): void => {
    if (!Array.isArray(parts)) return;
    parts.forEach((part, i) => {
      const k = `${String(outputIndex ?? 0)}:${i}`;
      if (isObject(part) && typeof part.text === 'string' && sent.has(k)) part.text = sent.get(k);
      if (isObject(part) && Array.isArray(part.logprobs)) part.logprobs = [];
    });
  };
  // Log probabilities repeat the unfiltered text token by token (include:
  // message.output_text.logprobs): emptied, as for chat, while output guardrails are on.
  const noLogprobs = (e: Json): Json => (Array.isArray(e.logprobs) ? { ...e, logprobs: [] } : e);
  return (event) => {
    const type = event.type;
    // A call is announced by output_item.added, before its arguments stream.
    const item = isObject(event.item) ? event.item : undefined;
    if (
      (type === 'response.output_item.added' || type === 'response.output_item.done') &&
      (item?.type === 'function_call' || item?.type === 'custom_tool_call') &&
      !toolAllowed(String(item.name))
    ) {
      return blockedBy(TOOL_BLOCK);
    }
    if (type === 'response.output_text.delta' && typeof event.delta === 'string') {
      const k = key(event);
      let filter = filters.get(k);
      if (!filter) {
        filter = newFilter('text');
        filters.set(k, filter);
      }
      const out = filter.push(event.delta);
      if (out.blocked) return blockedBy(out);
      if (out.text.length === 0) return { events: [], blocked: false };
      sent.set(k, (sent.get(k) ?? '') + out.text);
      return { events: [noLogprobs({ ...event, delta: out.text })], blocked: false };
    }
    if (type === 'response.output_text.done') {
      const k = key(event);
      const rest = flush(k);
      if (rest.blocked) return blockedBy(rest.blocked);
      const events: Json[] = [];
      if (rest.text.length > 0) {
        // Built from the done event minus its `text`: that is the whole unfiltered answer.
        const { text: _unfiltered, ...fields } = event;
        events.push(noLogprobs({ ...fields, type: 'response.output_text.delta', delta: rest.text }));
      }
      events.push(noLogprobs({ ...event, text: sent.get(k) ?? '' }));
      return { events, blocked: false };
    }
    if (
      type === 'response.content_part.done' &&
      isObject(event.part) &&
      typeof event.part.text === 'string'
    ) {
      const k = key(event);
      if (sent.has(k)) event.part.text = sent.get(k);
      if (Array.isArray(event.part.logprobs)) event.part.logprobs = [];
    } else if (type === 'response.output_item.done' && isObject(event.item)) {
      rewriteParts(event.item.content, event.output_index);
    } else if (
      (type === 'response.completed' || type === 'response.incomplete') &&
      isObject(event.response)
    ) {
      // A provider that skipped output_text.done: what is still held is checked now, and the
      // final response repeats only checked text (held text unchecked would leak here).
      for (const k of [...filters.keys()]) {
        const rest = flush(k);
        if (rest.blocked) return blockedBy(rest.blocked);
      }
      const output = event.response.output;
      if (Array.isArray(output)) {
        output.forEach((item, i) => {
          if (isObject(item)) rewriteParts(item.content, i);
        });
      }
      // The convenience field repeats the text too; it is rebuilt by the SDK from output anyway.
      if ('output_text' in event.response) delete event.response.output_text;
    }
    return { events: [event], blocked: false };
  };
}
