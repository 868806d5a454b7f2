/**
 * Shared shapes of the guardrail detectors. Every detector is a pure function of its input text
 * (plus its compiled configuration): no I/O, no clock, no module state.
 */

/** A detected value in a text: [start, end) in UTF-16 code units, as String.prototype.slice takes them. */
export interface Span {
  /** Entity type, upper snake case: EMAIL, PHONE, CREDIT_CARD, IBAN, US_SSN, IP_ADDRESS, DATE_OF_BIRTH,
   *  STREET_ADDRESS, PERSON, SECRET, or a custom entity's name. Used in placeholders (`[EMAIL_1]`). */
  type: string;
  start: number;
  end: number;
  /** 0..1: how sure the detector is that this is the entity (validated structure → high). */
  confidence: number;
  /** For secrets: the rule that matched (`aws-access-token`, `portcullis-api-key`, …). */
  ruleId?: string;
}

/**
 * Thrown by a detector that was asked to stop (its time budget is spent) in the middle of a scan:
 * a long text must not hold the event loop for seconds before the budget is even looked at.
 * inspect() reports it as a timeout (fail closed by default).
 */
export class DetectorStopped extends Error {
  constructor() {
    super('detector stopped: time budget spent');
    this.name = 'DetectorStopped';
  }
}

/** Asked by a long-running detector now and then; true means stop (throw DetectorStopped). */
export type ShouldStop = () => boolean;

/**
 * The detectors a policy can configure; names as in `portcullis guardrails set --detector`.
 * `json-schema` checks structured-output answers against the request's schema (json-schema.ts);
 * the text detectors run through inspect().
 */
export type DetectorName = 'prompt-injection' | 'pii' | 'secrets' | 'json-schema';
export const DETECTOR_NAMES: readonly DetectorName[] = ['prompt-injection', 'pii', 'secrets', 'json-schema'];

/** Shannon entropy in bits per character (gitleaks' measure for "random enough to be a key"). */
export function shannonEntropy(s: string): number {
  if (s.length === 0) return 0;
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/** Sort by start, then drop spans overlapping an earlier kept one (the longer / more confident wins ties). */
export function resolveOverlaps(spans: Span[]): Span[] {
  const sorted = [...spans].sort(
    (a, b) => a.start - b.start || b.end - b.start - (a.end - a.start) || b.confidence - a.confidence,
  );
  const out: Span[] = [];
  for (const s of sorted) {
    const last = out.at(-1);
    if (last && s.start < last.end) {
      // Keep the wider cover so a redaction never leaves half a value behind.
      if (s.end > last.end) last.end = s.end;
      continue;
    }
    out.push({ ...s });
  }
  return out;
}
