import type { Tiktoken } from 'js-tiktoken/lite';

/**
 * Input-token estimates made before the call, so token limits and worst-case cost can be reserved
 * up front (issue 6). The provider's reported usage settles the reservation afterwards, so an
 * estimate only has to be close, never exact.
 *
 * By default every prompt is estimated as UTF-8 bytes / 3: a little above the real count for
 * English (≈ 4 bytes per token) and close for code and CJK text (≈ 3 bytes per token), at no cost.
 * With `exactUpToChars` > 0, prompts up to that length are counted with js-tiktoken's o200k_base
 * (the GPT-4o / o-series encoding). That is off by default because building the encoder costs
 * ~0.5 s and ~165 MB of resident memory (measured by the benchmark), more than the whole gateway
 * otherwise needs, for a precision the settlement makes irrelevant.
 */
export interface TokenEstimator {
  /** Estimated input tokens of a request body for an endpoint. */
  inputTokens(endpoint: string, body: Readonly<Record<string, unknown>>): number;
  /** Tokens of one text (exact up to the threshold). */
  count(text: string): number;
}

/** OpenAI's chat format adds a few tokens per message for roles and separators. */
const PER_MESSAGE = 4;
/** A flat reservation per image or file part; the provider's usage settles it. */
const PER_ATTACHMENT = 1_024;

let encoder: Promise<Tiktoken> | undefined;

/**
 * The encoder, loaded only when exact counting is configured: an immutable table built once per
 * process and shared by every app in it (like the module cache that holds its ranks).
 */
function sharedEncoder(): Promise<Tiktoken> {
  encoder ??= Promise.all([import('js-tiktoken/lite'), import('js-tiktoken/ranks/o200k_base')]).then(
    ([lite, ranks]) => new lite.Tiktoken(ranks.default),
  );
  return encoder;
}

export async function createTokenEstimator(options: { exactUpToChars: number }): Promise<TokenEstimator> {
  const enc = options.exactUpToChars > 0 ? await sharedEncoder() : undefined;
  const count = (text: string): number => {
    if (text.length === 0) return 0;
    if (enc && text.length <= options.exactUpToChars) return enc.encode(text).length;
    return Math.ceil(Buffer.byteLength(text, 'utf8') / 3);
  };
  return {
    count,
    inputTokens(_endpoint, body) {
      const parts = { texts: [] as string[], attachments: 0, messages: 0 };
      collect(body.messages, parts, true);
      collect(body.system, parts, true);
      collect(body.instructions, parts, true);
      collect(body.input, parts, true);
      collect(body.prompt, parts, true);
      // Tool definitions and schemas are sent to the model as text too.
      let extra = 0;
      for (const field of ['tools', 'functions', 'response_format', 'text']) {
        const value = body[field];
        if (value !== undefined && value !== null && typeof value === 'object')
          extra += Math.ceil(JSON.stringify(value).length / 3);
      }
      let total = extra + parts.messages * PER_MESSAGE + parts.attachments * PER_ATTACHMENT;
      // One pass over the joined text: cheaper than one encode per fragment, same count to ±1 per part.
      total += count(parts.texts.join('\n'));
      return total;
    },
  };
}

const TEXT_KEYS = new Set([
  'content',
  'text',
  'input',
  'system',
  'instructions',
  'prompt',
  'arguments',
  'output',
]);
const ATTACHMENT_TYPES = new Set([
  'image_url',
  'image',
  'input_image',
  'input_audio',
  'file',
  'document',
  'input_file',
]);

function collect(
  value: unknown,
  out: { texts: string[]; attachments: number; messages: number },
  textual: boolean,
  depth = 0,
): void {
  if (depth > 16 || value === undefined || value === null) return;
  if (typeof value === 'string') {
    if (textual) out.texts.push(value);
    return;
  }
  if (Array.isArray(value)) {
    for (const item of value) collect(item, out, textual, depth + 1);
    return;
  }
  if (typeof value !== 'object') return;
  const obj = value as Record<string, unknown>;
  if (typeof obj.role === 'string') out.messages += 1;
  if (typeof obj.type === 'string' && ATTACHMENT_TYPES.has(obj.type)) {
    out.attachments += 1;
    return;
  }
  for (const key in obj) collect(obj[key], out, TEXT_KEYS.has(key), depth + 1);
}

/** The output cap a request sets, by endpoint; undefined when it sets none. */
export function requestedMaxTokens(
  endpoint: string,
  body: Readonly<Record<string, unknown>>,
): number | undefined {
  if (endpoint === 'embeddings') return 0;
  const fields = endpoint === 'responses' ? ['max_output_tokens'] : ['max_completion_tokens', 'max_tokens'];
  for (const field of fields) {
    const value = body[field];
    if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  }
  return undefined;
}
