import type { Guardrails } from '../guardrails/inspect.ts';
import { PII_ENTITIES } from '../guardrails/pii.ts';
import { DEFAULT_POLICY, mergePolicy } from '../guardrails/policy.ts';

/**
 * Redaction before content is stored (DESIGN.md invariant 1): every PII entity type and every
 * secret rule, replaced by `[TYPE_n]` placeholders, whatever the workspace's own guardrail policy
 * says (its policy decides what the provider sees; this decides what the disk sees). Injection
 * scoring is off: it only blocks, it never rewrites.
 */
const STORAGE_POLICY = mergePolicy(DEFAULT_POLICY, {
  'prompt-injection': { enabled: false },
  pii: {
    enabled: true,
    where: 'both',
    action: 'redact',
    entities: PII_ENTITIES,
    custom: [],
    // Stored text can be long; a detector that still overruns counts as failed (below).
    timeBudgetMs: 2000,
    onError: 'block',
  },
  secrets: { enabled: true, where: 'both', action: 'redact', timeBudgetMs: 2000, onError: 'block' },
});

/**
 * The texts with PII and secrets redacted, or undefined when a detector failed or overran: then
 * nothing is stored (fail closed — an unredacted value must never reach the disk).
 */
export function redactForStorage(guardrails: Guardrails, texts: readonly string[]): string[] | undefined {
  const result = guardrails.inspect(texts, STORAGE_POLICY, 'input');
  if (result.decision === 'block') return undefined;
  const out = [...texts];
  for (const { index, text } of result.replacements) out[index] = text;
  return out;
}
