import { Readable } from 'node:stream';
import { createParser } from 'eventsource-parser';
import { answerTexts, type Format, requestTexts } from '../dataplane/texts.ts';

/**
 * What one call of an opted-in workspace said: the prompt as it left for the provider (after the
 * workspace's input guardrails) and the answer as the client received it (after output guardrails
 * and translation), read from the payload Fastify is about to send — so streams are captured from
 * the very bytes relayed, not from the provider's. Only created for workspaces that opted in:
 * for every other call nothing here runs and no text is held.
 */
export interface CapturedCall {
  endpoint: Format;
  status: number;
  prompt: string;
  answer: string;
}

export interface ContentCapture {
  /** Called from onSend: returns the payload unchanged, or a stream that relays it while reading it. */
  tap(payload: unknown, status: number): unknown;
}

/** Answer text kept per call; beyond it the answer is cut (memory stays bounded for endless streams). */
export const MAX_ANSWER_CHARS = 1_000_000;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** The text a client-format stream event adds to the answer (text, refusals, tool-call arguments). */
function eventText(format: Format, event: unknown): string {
  if (!isObject(event)) return '';
  if (format === 'chat') {
    let out = '';
    for (const choice of Array.isArray(event.choices) ? event.choices : []) {
      const delta = isObject(choice) && isObject(choice.delta) ? choice.delta : undefined;
      if (!delta) continue;
      out += str(delta.content) + str(delta.refusal);
      for (const call of Array.isArray(delta.tool_calls) ? delta.tool_calls : [])
        if (isObject(call) && isObject(call.function)) out += str(call.function.arguments);
    }
    return out;
  }
  if (format === 'messages') {
    const delta = event.type === 'content_block_delta' && isObject(event.delta) ? event.delta : undefined;
    return delta ? str(delta.text) + str(delta.partial_json) + str(delta.thinking) : '';
  }
  if (format === 'responses') {
    const type = str(event.type);
    return type.endsWith('.delta') && type.startsWith('response.') ? str(event.delta) : '';
  }
  return '';
}

function jsonAnswer(format: Format, payload: string): string {
  if (format === 'embeddings') return '';
  try {
    const body: unknown = JSON.parse(payload);
    if (!isObject(body)) return '';
    return answerTexts(format, body)
      .map((s) => s.get())
      .join('\n');
  } catch {
    return '';
  }
}

export function createContentCapture(
  format: Format,
  body: Json,
  save: (call: CapturedCall) => void,
): ContentCapture {
  // Copied now: later stages may still rewrite the body object.
  const prompt = requestTexts(format, body)
    .map((s) => s.get())
    .join('\n');
  let saved = false;
  const finish = (status: number, answer: string): void => {
    if (saved) return;
    saved = true;
    save({ endpoint: format, status, prompt, answer: status < 400 ? answer : '' });
  };

  return {
    tap(payload, status) {
      if (payload instanceof Readable) {
        let answer = '';
        const parser = createParser({
          onEvent(message) {
            if (answer.length >= MAX_ANSWER_CHARS) return;
            try {
              answer += eventText(format, JSON.parse(message.data));
            } catch {
              // Not JSON ([DONE], a relay's own error text): no answer text in it.
            }
          },
        });
        const decoder = new TextDecoder();
        // for-await hands a client disconnect (destroy) back to the source, so the relay's own
        // cleanup (usage record, limit settlement) still runs.
        async function* relay(): AsyncGenerator<Buffer | string> {
          try {
            for await (const chunk of payload as AsyncIterable<Buffer | string>) {
              parser.feed(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
              yield chunk;
            }
          } finally {
            finish(status, answer.slice(0, MAX_ANSWER_CHARS));
          }
        }
        return Readable.from(relay(), { objectMode: false, highWaterMark: 0 });
      }
      const text = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString() : '';
      finish(status, jsonAnswer(format, text).slice(0, MAX_ANSWER_CHARS));
      return payload;
    },
  };
}
