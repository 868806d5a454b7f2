import type { FastifyRequest } from 'fastify';
import { PortcullisError } from '../errors/catalogue.ts';
import { createVault, type Vault } from '../guardrails/actions.ts';
import type { Finding, Guardrails, InspectResult } from '../guardrails/inspect.ts';
import { appliesTo, type GuardrailPolicy } from '../guardrails/policy.ts';
import { createStreamFilter, type StreamFilter } from '../guardrails/stream.ts';
import { answerTexts, type Format, requestTexts, type TextSlot } from './texts.ts';

/**
 * Guardrails for one request (DESIGN.md stages 5 and 7): the prompt is inspected before it leaves,
 * the answer before it reaches the client, streams included. Blocks are refusals that name the
 * detector and category, never the text; redactions and pseudonyms rewrite the texts in place;
 * findings are logged as counts. A detector that fails blocks (fail closed) unless the policy
 * says otherwise.
 */
export interface RequestGuard {
  /** Inspects and rewrites the request body's texts in place; throws guardrail_blocked. */
  inspectInput(format: Format, body: Record<string, unknown>): void;
  /** True when the answer must be inspected (or pseudonyms restored): raw pass-through is off. */
  readonly outputActive: boolean;
  /** Inspects and rewrites a non-streaming answer in place; throws guardrail_blocked. */
  inspectAnswer(format: Format, body: Record<string, unknown>): void;
  /** A filter for streamed answer text, or undefined when nothing applies to output. */
  streamFilter(): StreamFilter | undefined;
}

const CONTENT_POLICY = 'guardrail_blocked';

function blocked(where: 'input' | 'output', result: Pick<InspectResult, 'blockedBy'>): PortcullisError {
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

function apply(slots: TextSlot[], picked: number[], result: InspectResult): void {
  for (const { index, text } of result.replacements) slots[picked[index] as number]?.set(text);
}

export function createRequestGuard(
  guardrails: Guardrails,
  policy: GuardrailPolicy,
  request: FastifyRequest,
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

  return {
    inspectInput(format, body) {
      inspect(requestTexts(format, body), 'input');
    },
    outputActive: outputDetectors || vault !== undefined,
    inspectAnswer(format, body) {
      // Log probabilities repeat the answer token by token, outside the texts inspected.
      if (outputDetectors && Array.isArray(body.choices)) {
        for (const choice of body.choices) {
          if (typeof choice === 'object' && choice !== null && 'logprobs' in choice) {
            (choice as Record<string, unknown>).logprobs = null;
          }
        }
      }
      const slots = answerTexts(format, body);
      if (outputDetectors) inspect(slots, 'output');
      if (vault && vault.size > 0) for (const slot of slots) slot.set(vault.restore(slot.get()));
    },
    streamFilter() {
      if (!outputDetectors && !vault) return undefined;
      return createStreamFilter({ guardrails, policy, vault, mode: wholeWindow ? 'window' : 'token' });
    },
  };
}

export { CONTENT_POLICY };
