import type { Decision, Guardrails, InspectResult, Stage } from '../guardrails/inspect.ts';

/**
 * What the guardrails decided for one request, for its span: decisions, detector/action pairs and
 * the blocking detector and category. Codes only: the texts inspected never reach this object.
 */
export interface GuardrailNotes {
  input?: Decision;
  output?: Decision;
  /** `where:detector:action` (or `:error` when a detector failed), e.g. `input:pii:redact`. */
  findings: Set<string>;
  /** `detector:category`, e.g. `pii:EMAIL`, `prompt-injection:instruction_override`. */
  blockedBy?: string;
}

const RANK: Record<Decision, number> = { allow: 0, modified: 1, block: 2 };
/** Findings kept per request: a long stream inspects many windows, but the pairs are few. */
const MAX_FINDINGS = 32;

export function newGuardrailNotes(): GuardrailNotes {
  return { findings: new Set() };
}

export function noteInspection(notes: GuardrailNotes, stage: Stage, result: InspectResult): void {
  const before = notes[stage];
  if (before === undefined || RANK[result.decision] > RANK[before]) notes[stage] = result.decision;
  for (const f of result.findings) {
    if (!f.error && Object.keys(f.counts).length === 0) continue;
    if (notes.findings.size >= MAX_FINDINGS) break;
    notes.findings.add(`${stage}:${f.detector}:${f.error ? 'error' : f.action}`);
  }
  if (result.blockedBy && notes.blockedBy === undefined)
    notes.blockedBy = `${result.blockedBy.detector}:${result.blockedBy.category}`;
}

/** The same guardrails, each inspection also noted (the stream filter's windows included). */
export function watchedGuardrails(guardrails: Guardrails, notes: GuardrailNotes): Guardrails {
  return {
    inspect(texts, policy, stage, context) {
      const result = guardrails.inspect(texts, policy, stage, context);
      noteInspection(notes, stage, result);
      return result;
    },
  };
}
