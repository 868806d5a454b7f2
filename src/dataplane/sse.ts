import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { UpstreamFormatError } from '../providers/errors.ts';

/**
 * Reads server-sent events from an upstream body one network chunk at a time. Nothing is buffered
 * beyond the event being assembled, so memory stays flat whatever the answer's length, and the
 * consumer's pace (the client's back-pressure) sets the pace of reading from the provider.
 */
export interface SseEvent {
  event: string | undefined;
  data: string;
}

/** Longest single event accepted from a provider (a guard against a never-ending line). */
const MAX_EVENT_BYTES = 8 * 1024 * 1024;

export async function* readSse(body: AsyncIterable<Buffer | string>): AsyncGenerator<SseEvent[], void, void> {
  let batch: SseEvent[] = [];
  let pending = 0;
  const parser = createParser({
    onEvent(message: EventSourceMessage) {
      pending = 0;
      batch.push({ event: message.event, data: message.data });
    },
  });
  const decoder = new TextDecoder();
  for await (const chunk of body) {
    const text = typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    pending += text.length;
    if (pending > MAX_EVENT_BYTES)
      throw new UpstreamFormatError('stream', 'an event exceeded the size limit');
    parser.feed(text);
    if (batch.length > 0) {
      const out = batch;
      batch = [];
      yield out;
    }
  }
  parser.reset({ consume: true });
  if (batch.length > 0) yield batch;
}

/** Parses one event's JSON payload; a provider sending something else is a 502, not a crash. */
export function parseEventJson(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    throw new UpstreamFormatError('stream', 'an event is not valid JSON');
  }
}
