import type { FastifyRequest } from 'fastify';
import { PortcullisError } from '../errors/catalogue.ts';
import {
  type AnswerCheck,
  type AnswerValidator,
  JSON_SCHEMA_LIMITS,
  type JsonSchemaValidators,
  SchemaRefusedError,
} from '../guardrails/json-schema.ts';
import type { JsonSchemaPolicy } from '../guardrails/policy.ts';
import { budgetClocks, startBudget } from '../util/cpu-clock.ts';
import type { AnswerFilter } from './stream-guard.ts';
import type { Format } from './texts.ts';

/**
 * Structured output in the data plane (DESIGN.md stage 7, issue 7 item 7): which schema a request
 * asks for, in each wire format, and what happens to an answer that does not match it.
 *
 *   chat       response_format: {type: 'json_schema', json_schema: {name, schema, strict}} | {type: 'json_object'}
 *   responses  text.format: {type: 'json_schema', name, schema, strict} | {type: 'json_object'}
 *   messages   output_config.format: {type: 'json_schema', schema}
 *
 * The schema is compiled before the provider is called, so a schema that cannot be used is the
 * client's 400, never a 500 and never a paid call. Answers are checked as the client would get
 * them (after the other output guardrails), so the promise is about what arrives.
 */
type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface StructuredOutput {
  kind: 'json_schema' | 'json_object';
  check: AnswerValidator;
}

function refused(param: string, reason: string): PortcullisError {
  return new PortcullisError('invalid_request', {
    param,
    vars: { detail: `${param} is not a usable JSON Schema: ${reason}` },
  });
}

/**
 * The structured output a request asks for, compiled (cached per workspace); undefined when it
 * asks for text or for nothing. Throws invalid_request (400) naming the field when the schema is
 * malformed, unsafe or refers outside itself.
 */
export function structuredOutputOf(
  format: Format,
  body: Json,
  validators: JsonSchemaValidators,
  scope: string,
): StructuredOutput | undefined {
  let spec: unknown;
  let at: string;
  if (format === 'chat') [spec, at] = [body.response_format, 'response_format'];
  else if (format === 'responses')
    [spec, at] = [isObject(body.text) ? body.text.format : undefined, 'text.format'];
  else if (format === 'messages')
    [spec, at] = [
      isObject(body.output_config) ? body.output_config.format : undefined,
      'output_config.format',
    ];
  else return undefined;
  // Anything else (text, a type we do not know) is left for the provider to accept or refuse.
  if (!isObject(spec)) return undefined;
  if (spec.type === 'json_object' && format !== 'messages')
    return { kind: 'json_object', check: validators.jsonObject };
  if (spec.type !== 'json_schema') return undefined;
  // Chat nests the schema under json_schema; the Responses API and Anthropic put it on the format.
  let holder: Json = spec;
  if (format === 'chat') {
    if (!isObject(spec.json_schema))
      throw refused(`${at}.json_schema`, 'it must be an object holding the schema');
    holder = spec.json_schema;
    at = `${at}.json_schema`;
  }
  const param = `${at}.schema`;
  // OpenAI makes the schema optional: without one, the answer must still be JSON.
  const schema = holder.schema === undefined ? {} : holder.schema;
  try {
    return { kind: 'json_schema', check: validators.compile(schema, scope) };
  } catch (err) {
    if (err instanceof SchemaRefusedError) throw refused(param, err.message);
    throw err;
  }
}

/** The answer texts that must match, per client format: message content, never tool arguments. */
export function structuredTexts(format: Format, body: Json): string[] {
  const out: string[] = [];
  const list = (v: unknown): Json[] => (Array.isArray(v) ? v.filter(isObject) : []);
  if (format === 'chat') {
    // content null: the model called a tool or refused (message.refusal) — nothing to check.
    for (const choice of list(body.choices)) {
      const content = isObject(choice.message) ? choice.message.content : undefined;
      if (typeof content === 'string') out.push(content);
    }
  } else if (format === 'responses') {
    for (const item of list(body.output)) {
      if (item.type !== 'message') continue;
      for (const part of list(item.content))
        if (part.type === 'output_text' && typeof part.text === 'string') out.push(part.text);
    }
  } else if (format === 'messages') {
    for (const block of list(body.content))
      if (block.type === 'text' && typeof block.text === 'string') out.push(block.text);
  }
  return out;
}

/** Checks one answer text under the policy: the error to answer with, or undefined to deliver it. */
export interface StructuredCheck {
  (text: string): PortcullisError | undefined;
  /** The answer grew past `chars`, more than can be held and checked: decided like any error. */
  tooLarge(chars: number): PortcullisError | undefined;
}

function detailOf(result: Exclude<AnswerCheck, { outcome: 'valid' }>, maxChars: number): string {
  if (result.outcome === 'error') {
    return result.reason === 'too_large'
      ? `the answer is longer than ${maxChars} characters, too long to check`
      : 'the answer could not be checked';
  }
  const where = `keyword "${result.keyword}" fails at JSON pointer "${result.pointer}"`;
  return result.keyword === 'json' ? `${where} (the answer is not JSON)` : where;
}

export function createStructuredCheck(
  output: StructuredOutput,
  policy: JsonSchemaPolicy,
  request: FastifyRequest,
  /** The budget's wall clock; the CPU clock that may excuse an overrun follows it when injected (tests). */
  now?: () => number,
): StructuredCheck {
  const format = output.kind === 'json_object' ? 'JSON object' : 'JSON schema';
  const clocks = budgetClocks(now);
  const decide = (result: AnswerCheck, maxChars: number): PortcullisError | undefined => {
    if (result.outcome === 'valid') return undefined;
    const failed = result.outcome === 'error' ? result.reason : undefined;
    const blocks = failed ? policy.onError === 'block' : policy.action === 'block';
    // Metadata only, like every guardrail finding: the keyword, never the answer or the pointer.
    request.log.info(
      {
        event: 'guardrail',
        where: 'output',
        decision: blocks ? 'block' : 'allow',
        findings: [
          {
            detector: 'json-schema',
            action: policy.action,
            counts: result.outcome === 'invalid' ? { [result.keyword]: 1 } : {},
            error: failed,
          },
        ],
      },
      'guardrail findings',
    );
    if (!blocks) return undefined;
    return new PortcullisError('output_schema_violation', {
      vars: { format, detail: detailOf(result, maxChars), requestId: request.id },
    });
  };
  const check = (text: string): PortcullisError | undefined => {
    const overran = startBudget(clocks);
    let result = output.check(text);
    // Checks are synchronous and bounded; the budget is measured, as for the other detectors.
    if (result.outcome !== 'error' && overran(policy.timeBudgetMs))
      result = { outcome: 'error', reason: 'timeout' };
    return decide(result, JSON_SCHEMA_LIMITS.maxAnswerChars);
  };
  return Object.assign(check, {
    tooLarge: (chars: number) => decide({ outcome: 'error', reason: 'too_large' }, chars),
  });
}

/**
 * The stream filter for answer text under a structured-output request, around `inner` (the
 * other output guardrails, so the check sees what the client would). With a blocking policy the
 * whole text is held and released only once the complete answer matched: a client never reads a
 * non-matching answer that looks complete — the stream ends with the output_schema_violation
 * error event instead, before any of its text. With a log policy the text flows as usual and is
 * checked (and logged) at the end. Holding is bounded: past `maxChars` the check reports the
 * answer as too large, and the policy's onError decides.
 */
export function structuredStreamFilter(
  inner: AnswerFilter,
  check: StructuredCheck,
  hold: boolean,
  maxChars: number = JSON_SCHEMA_LIMITS.maxAnswerChars,
): AnswerFilter {
  let held = '';
  // Past the bound: log mode stops copying; hold mode (onError allow) stops holding.
  let over = false;
  return {
    push(delta) {
      const out = inner.push(delta);
      if (out.blocked || over) return out;
      held += out.text;
      if (held.length <= maxChars) return hold ? { ...out, text: '' } : out;
      over = true;
      const text = held;
      held = '';
      if (!hold) return out;
      const error = check.tooLarge(maxChars);
      if (error) return { ...out, text: '', blocked: true, error };
      return { ...out, text };
    },
    end() {
      const out = inner.end();
      if (out.blocked) return out;
      if (over) {
        if (!hold) check.tooLarge(maxChars);
        return out;
      }
      held += out.text;
      const error = check(held);
      if (!hold) return out;
      if (error) return { ...out, text: '', blocked: true, error };
      return { ...out, text: held };
    },
  };
}
