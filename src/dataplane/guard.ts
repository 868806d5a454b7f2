import type { FastifyRequest } from 'fastify';
import { PortcullisError } from '../errors/catalogue.ts';
import { createVault, type Vault } from '../guardrails/actions.ts';
import type { Finding, Guardrails, InspectResult } from '../guardrails/inspect.ts';
import type { JsonSchemaValidators } from '../guardrails/json-schema.ts';
import { appliesTo, type GuardrailPolicy } from '../guardrails/policy.ts';
import { createStreamFilter, type StreamFilter } from '../guardrails/stream.ts';
import { checkHostedCapabilities } from './hosted-tools.ts';
import type { AnswerFilter, FilterSlot } from './stream-guard.ts';
import {
  createStructuredCheck,
  type StructuredCheck,
  structuredOutputOf,
  structuredStreamFilter,
  structuredTexts,
} from './structured.ts';
import { answerTexts, type Format, requestTexts, type TextSlot } from './texts.ts';

/**
 * Guardrails for one request (DESIGN.md stages 5 and 7): the prompt is inspected before it leaves,
 * the answer before it reaches the client, streams included. Blocks are refusals that name the
 * detector and category, never the text; redactions and pseudonyms rewrite the texts in place;
 * findings are logged as counts. A detector that fails blocks (fail closed) unless the policy
 * says otherwise.
 */
export interface RequestGuard {
  /**
   * Refuses unlisted provider-hosted tools and beta flags, then inspects and rewrites the request
   * body's texts in place; throws guardrail_blocked. Compiles the structured output the request
   * asks for (json-schema detector); throws invalid_request when its schema cannot be used.
   */
  inspectInput(format: Format, body: Record<string, unknown>): void;
  /**
   * True when the answer must be inspected, checked against a schema or have pseudonyms restored:
   * raw pass-through is off. Known after inspectInput.
   */
  readonly outputActive: boolean;
  /** Inspects and rewrites a non-streaming answer in place; throws guardrail_blocked. */
  inspectAnswer(format: Format, body: Record<string, unknown>): void;
  /**
   * Checks a non-streaming answer, as inspectAnswer left it, against the structured output the
   * request asked for: the error to answer with (output_schema_violation), or undefined.
   */
  checkStructured(format: Format, body: Record<string, unknown>): PortcullisError | undefined;
  /** Extra provider calls when checkStructured fails (the json-schema policy's `retries`). */
  readonly structuredRetries: number;
  /**
   * A filter for streamed answer text (`slot` 'text') or a tool call's arguments ('tool'), or
   * undefined when nothing applies to output.
   */
  streamFilter(slot?: FilterSlot): AnswerFilter | undefined;
  /** Whether the answer may call this function tool (the policy's tool allowlist). */
  toolAllowed(name: string): boolean;
}

const CONTENT_POLICY = 'guardrail_blocked';

function blocked(
  where: 'input' | 'output',
  result: { blockedBy?: { detector: string; category: string } },
): PortcullisError {
  const by = result.blockedBy ?? { detector: 'guardrail', category: 'policy' };
  return new PortcullisError(CONTENT_POLICY, {
    vars: { where: where === 'input' ? 'request' : 'answer', detector: by.detector, category: by.category },
  });
}

/** Findings as a log line: detectors, actions, counts and categories only. */
function logFindings(request: FastifyRequest, where: 'input' | 'output', result: InspectResult): void {
  const findings = result.findings.filter((f: Finding) => Object.keys(f.counts).length > 0 || f.error);
  if (findings.length === 0) return;
  request.log.info(
    {
      event: 'guardrail',
      where,
      decision: result.decision,
      findings: findings.map((f) => ({
        detector: f.detector,
        action: f.action,
        counts: f.counts,
        categories: f.categories,
        score: f.score,
        error: f.error,
      })),
    },
    'guardrail findings',
  );
}

/** Blocks an answer calling a tool outside the allowlist (OWASP LLM08): names no tool, like every block. */
export const TOOL_NOT_ALLOWED = { detector: 'tools', category: 'tool_not_allowed' } as const;

/** Names of the function tools a non-streaming answer calls, in each client wire format. */
function calledTools(format: Format, body: Record<string, unknown>): string[] {
  const names: string[] = [];
  const add = (value: unknown): void => {
    if (typeof value === 'string') names.push(value);
  };
  const items = (value: unknown): Record<string, unknown>[] =>
    Array.isArray(value)
      ? value.filter((v): v is Record<string, unknown> => typeof v === 'object' && v !== null)
      : [];
  if (format === 'chat') {
    for (const choice of items(body.choices)) {
      const message = items([choice.message])[0];
      for (const call of items(message?.tool_calls)) add(items([call.function])[0]?.name ?? call.name);
      add(items([message?.function_call])[0]?.name);
    }
  } else if (format === 'messages') {
    for (const block of items(body.content)) if (block.type === 'tool_use') add(block.name);
  } else if (format === 'responses') {
    for (const item of items(body.output)) {
      if (item.type === 'function_call' || item.type === 'custom_tool_call') add(item.name);
    }
  }
  return names;
}

/** Passes text through unchanged: streams that only need the tool allowlist. */
const PASS_THROUGH: StreamFilter = {
  push: (text) => ({ text, blocked: false, counts: {} }),
  end: () => ({ text: '', blocked: false, counts: {} }),
};

function apply(slots: TextSlot[], picked: number[], result: InspectResult): void {
  for (const { index, text } of result.replacements) slots[picked[index] as number]?.set(text);
}

/** Structured-output checks: the process's compiled-schema cache and the caller's workspace (cache scope). */
export interface StructuredDeps {
  validators: JsonSchemaValidators;
  scope: string;
}

export function createRequestGuard(
  guardrails: Guardrails,
  policy: GuardrailPolicy,
  request: FastifyRequest,
  structured?: StructuredDeps,
): RequestGuard {
  const injection = policy['prompt-injection'];
  const pseudonymizing =
    (policy.pii.enabled && policy.pii.action === 'pseudonymize') ||
    (policy.secrets.enabled && policy.secrets.action === 'pseudonymize');
  const vault: Vault | undefined = pseudonymizing ? createVault() : undefined;
  // The application's own system prompt is not scored for injection (it is not attacker text);
  // the other detectors still see it.
  const systemPolicy: GuardrailPolicy = injection.enabled
    ? { ...policy, 'prompt-injection': { ...injection, enabled: false } }
    : policy;
  const outputDetectors =
    (policy.pii.enabled && appliesTo(policy.pii, 'output')) ||
    (policy.secrets.enabled && appliesTo(policy.secrets, 'output')) ||
    (injection.enabled && appliesTo(injection, 'output'));
  // Values with spaces (names, phone numbers) need the whole window; secrets are single tokens.
  const wholeWindow = policy.pii.enabled && appliesTo(policy.pii, 'output') && policy.pii.action !== 'log';

  const inspect = (slots: TextSlot[], where: 'input' | 'output'): void => {
    if (slots.length === 0) return;
    const groups =
      where === 'input'
        ? [
            { p: policy, picked: slots.flatMap((s, i) => (s.role === 'system' ? [] : [i])) },
            { p: systemPolicy, picked: slots.flatMap((s, i) => (s.role === 'system' ? [i] : [])) },
          ]
        : [{ p: policy, picked: slots.map((_, i) => i) }];
    for (const { p, picked } of groups) {
      if (picked.length === 0) continue;
      const result = guardrails.inspect(
        picked.map((i) => (slots[i] as TextSlot).get()),
        p,
        where,
        { vault },
      );
      logFindings(request, where, result);
      if (result.decision === 'block') throw blocked(where, result);
      if (result.decision === 'modified') apply(slots, picked, result);
    }
  };

  const allowedTools = policy.tools.allow === null ? undefined : new Set(policy.tools.allow);
  const toolAllowed = (name: string): boolean => allowedTools === undefined || allowedTools.has(name);
  const schemaPolicy = policy['json-schema'];
  let structuredCheck: StructuredCheck | undefined;

  return {
    inspectInput(format, body) {
      checkHostedCapabilities(format, body, request.headers['anthropic-beta'], policy);
      inspect(requestTexts(format, body), 'input');
      if (structured && schemaPolicy.enabled) {
        const output = structuredOutputOf(format, body, structured.validators, structured.scope);
        if (output) structuredCheck = createStructuredCheck(output, schemaPolicy, request);
      }
    },
    get outputActive() {
      return (
        outputDetectors || vault !== undefined || allowedTools !== undefined || structuredCheck !== undefined
      );
    },
    get structuredRetries() {
      return structuredCheck && schemaPolicy.action === 'block' ? schemaPolicy.retries : 0;
    },
    checkStructured(format, body) {
      if (!structuredCheck) return undefined;
      for (const text of structuredTexts(format, body)) {
        const error = structuredCheck(text);
        if (error) return error;
      }
      return undefined;
    },
    toolAllowed,
    inspectAnswer(format, body) {
      if (!calledTools(format, body).every(toolAllowed))
        throw blocked('output', { blockedBy: TOOL_NOT_ALLOWED });
      // Log probabilities repeat the answer token by token, outside the texts inspected.
      if (outputDetectors && Array.isArray(body.choices)) {
        for (const choice of body.choices) {
          if (typeof choice === 'object' && choice !== null && 'logprobs' in choice) {
            (choice as Record<string, unknown>).logprobs = null;
          }
        }
      }
      // The Responses API's, per output_text part (include: message.output_text.logprobs).
      if (outputDetectors && Array.isArray(body.output)) {
        for (const item of body.output as Array<{ content?: unknown } | null>) {
          const parts: unknown[] = Array.isArray(item?.content) ? item.content : [];
          for (const part of parts as Array<{ logprobs?: unknown } | null>) {
            if (part && Array.isArray(part.logprobs)) part.logprobs = [];
          }
        }
      }
      const slots = answerTexts(format, body);
      if (outputDetectors) inspect(slots, 'output');
      if (vault && vault.size > 0) for (const slot of slots) slot.set(vault.restore(slot.get()));
    },
    streamFilter(slot = 'text') {
      const filter =
        outputDetectors || vault
          ? createStreamFilter({ guardrails, policy, vault, mode: wholeWindow ? 'window' : 'token' })
          : PASS_THROUGH;
      if (slot === 'text' && structuredCheck)
        return structuredStreamFilter(filter, structuredCheck, schemaPolicy.action === 'block');
      return outputDetectors || vault || allowedTools ? filter : undefined;
    },
  };
}

export { CONTENT_POLICY };
