import type { StreamFilter } from '../guardrails/stream.ts';

/**
 * Output guardrails on streams, per client wire format. Text deltas go through the request's
 * stream filter, which holds back only what still needs checking; the filtered text replaces the
 * delta, and events left empty are dropped. Events that repeat the whole text at the end (the
 * Responses API's *.done events) get the filtered text, so nothing unchecked slips out there.
 *
 * Each guard returns the events to send, or `blocked` — then the relay sends its format's error
 * event (code guardrail_blocked) and stops reading from the provider.
 */
export type Guarded<T> = { events: T[]; blocked: false } | { events: T[]; blocked: true; reason: string };

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function reason(chunk: { blockedBy?: { detector: string; category: string } }): string {
  const by = chunk.blockedBy ?? { detector: 'guardrail', category: 'policy' };
  return `The answer was blocked by the workspace's ${by.detector} guardrail (${by.category}).`;
}

/** chat.completion.chunk objects (OpenAI clients). */
export function createOpenAIChunkGuard(filter: StreamFilter): (chunk: Json) => Guarded<Json> {
  return (chunk) => {
    const choices = Array.isArray(chunk.choices) ? chunk.choices : [];
    const choice = choices[0];
    if (!isObject(choice)) return { events: [chunk], blocked: false };
    const delta = isObject(choice.delta) ? choice.delta : undefined;
    const events: Json[] = [];
    if (delta && typeof delta.content === 'string' && delta.content.length > 0) {
      const out = filter.push(delta.content);
      if (out.blocked) return { events, blocked: true, reason: reason(out) };
      delta.content = out.text;
    }
    if (choice.finish_reason !== null && choice.finish_reason !== undefined) {
      // The answer is complete: whatever the filter still holds is checked and sent with this
      // chunk's own text, in order, before the finish reason.
      const rest = filter.end();
      if (rest.blocked) return { events, blocked: true, reason: reason(rest) };
      if (rest.text.length > 0) {
        if (delta) delta.content = `${typeof delta.content === 'string' ? delta.content : ''}${rest.text}`;
        else choice.delta = { content: rest.text };
      }
    }
    const empty =
      delta !== undefined &&
      delta.content === '' &&
      Object.keys(delta).every((k) => k === 'content') &&
      (choice.finish_reason === null || choice.finish_reason === undefined) &&
      !chunk.usage;
    if (!empty) events.push(chunk);
    return { events, blocked: false };
  };
}

/** Anthropic Messages stream events (Anthropic clients). A new filter serves each text block. */
export function createAnthropicEventGuard(newFilter: () => StreamFilter): (event: Json) => Guarded<Json> {
  let filter: StreamFilter | undefined;
  return (event) => {
    if (event.type === 'content_block_delta' && isObject(event.delta) && event.delta.type === 'text_delta') {
      filter ??= newFilter();
      const out = filter.push(typeof event.delta.text === 'string' ? event.delta.text : '');
      if (out.blocked) return { events: [], blocked: true, reason: reason(out) };
      if (out.text.length === 0) return { events: [], blocked: false };
      return { events: [{ ...event, delta: { ...event.delta, text: out.text } }], blocked: false };
    }
    if (event.type === 'content_block_stop' && filter) {
      const rest = filter.end();
      filter = undefined;
      if (rest.blocked) return { events: [], blocked: true, reason: reason(rest) };
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
export function createResponsesEventGuard(newFilter: () => StreamFilter): (event: Json) => Guarded<Json> {
  const filters = new Map<string, StreamFilter>();
  const sent = new Map<string, string>();
  const key = (e: Json): string => `${String(e.output_index ?? 0)}:${String(e.content_index ?? 0)}`;
  const flush = (k: string): { text: string; blocked?: string } => {
    const filter = filters.get(k);
    if (!filter) return { text: '' };
    filters.delete(k);
    const rest = filter.end();
    if (rest.blocked) return { text: '', blocked: reason(rest) };
    sent.set(k, (sent.get(k) ?? '') + rest.text);
    return { text: rest.text };
  };
  const rewriteParts = (parts: unknown, outputIndex: unknown): void => {
    if (!Array.isArray(parts)) return;
    parts.forEach((part, i) => {
      const k = `${String(outputIndex ?? 0)}:${i}`;
      if (isObject(part) && typeof part.text === 'string' && sent.has(k)) part.text = sent.get(k);
    });
  };
  return (event) => {
    const type = event.type;
    if (type === 'response.output_text.delta' && typeof event.delta === 'string') {
      const k = key(event);
      let filter = filters.get(k);
      if (!filter) {
        filter = newFilter();
        filters.set(k, filter);
      }
      const out = filter.push(event.delta);
      if (out.blocked) return { events: [], blocked: true, reason: reason(out) };
      if (out.text.length === 0) return { events: [], blocked: false };
      sent.set(k, (sent.get(k) ?? '') + out.text);
      return { events: [{ ...event, delta: out.text }], blocked: false };
    }
    if (type === 'response.output_text.done') {
      const k = key(event);
      const rest = flush(k);
      if (rest.blocked) return { events: [], blocked: true, reason: rest.blocked };
      const events: Json[] = [];
      if (rest.text.length > 0)
        events.push({ ...event, type: 'response.output_text.delta', delta: rest.text });
      events.push({ ...event, text: sent.get(k) ?? '' });
      return { events, blocked: false };
    }
    if (
      type === 'response.content_part.done' &&
      isObject(event.part) &&
      typeof event.part.text === 'string'
    ) {
      const k = key(event);
      if (sent.has(k)) event.part.text = sent.get(k);
    } else if (type === 'response.output_item.done' && isObject(event.item)) {
      rewriteParts(event.item.content, event.output_index);
    } else if (
      (type === 'response.completed' || type === 'response.incomplete') &&
      isObject(event.response)
    ) {
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
