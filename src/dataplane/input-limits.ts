import type { Config } from '../config/schema.ts';
import { PortcullisError } from '../errors/catalogue.ts';
import { type Format, requestTexts } from './texts.ts';

/**
 * Input limits (issue 7 item 2, OWASP LLM10 unbounded consumption): a request too large in any
 * dimension is refused before it costs a limit reservation, a guardrail scan or a provider call.
 * Body bytes are Fastify's (`limits.bodyBytes`); these are the shapes a body of legal size can
 * still abuse: many turns, one enormous text, many tools, deep nesting (slow walks, parser
 * stacks), and an output ceiling far above what any model produces.
 */
export type InputLimits = Config['guardrails']['input'];

type Json = Record<string, unknown>;

function exceeded(limit: string, value: number, max: number, param: string | null): PortcullisError {
  return new PortcullisError('input_limit_exceeded', { vars: { limit, value, max }, param });
}

/** Nesting depth of a parsed JSON value (a scalar is 0, `{}` is 1), without recursion. */
export function jsonDepth(value: unknown, stopAbove = Number.POSITIVE_INFINITY): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (typeof v !== 'object' || v === null) continue;
    if (depth > deepest) deepest = depth;
    if (deepest > stopAbove) return deepest;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return deepest;
}

/** Throws input_limit_exceeded for the first limit the body breaks. */
export function checkInputLimits(format: Format, body: Json, limits: InputLimits): void {
  const depth = jsonDepth(body, limits.maxDepth);
  if (depth > limits.maxDepth) throw exceeded('maxDepth (JSON nesting depth)', depth, limits.maxDepth, null);

  const turns = format === 'responses' ? body.input : format === 'embeddings' ? undefined : body.messages;
  if (Array.isArray(turns) && turns.length > limits.maxMessages) {
    const param = format === 'responses' ? 'input' : 'messages';
    throw exceeded('maxMessages (number of messages)', turns.length, limits.maxMessages, param);
  }
  if (Array.isArray(body.tools) && body.tools.length > limits.maxTools) {
    throw exceeded('maxTools (number of tools)', body.tools.length, limits.maxTools, 'tools');
  }
  for (const field of ['max_tokens', 'max_completion_tokens', 'max_output_tokens']) {
    const value = body[field];
    if (typeof value === 'number' && value > limits.maxOutputTokens) {
      throw exceeded('maxOutputTokens (output token ceiling)', value, limits.maxOutputTokens, field);
    }
  }

  let bytes = 0;
  for (const slot of requestTexts(format, body)) {
    const text = slot.get();
    if (text.length > limits.maxTextChars) {
      throw exceeded('maxTextChars (characters per text)', text.length, limits.maxTextChars, slot.path);
    }
    bytes += Buffer.byteLength(text, 'utf8');
  }
  // The same conservative estimate as the limits stage (UTF-8 bytes / 3): it never undercounts.
  const tokens = Math.ceil(bytes / 3);
  if (tokens > limits.maxPromptTokens) {
    throw exceeded('maxPromptTokens (estimated prompt tokens)', tokens, limits.maxPromptTokens, null);
  }
}
