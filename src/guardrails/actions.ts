/**
 * What happens to detected values: redaction (typed placeholders, irreversible) and
 * pseudonymisation (typed placeholders the vault maps back in the answer).
 *
 * Placeholders are numbered per type in order of first appearance, and the same value always gets
 * the same placeholder within a request, so the model can refer to "<EMAIL_1>" consistently.
 * Redaction uses [TYPE_n], pseudonyms <TYPE_n>: a redacted value can never be "restored".
 */
import type { Span } from './types.ts';

/** Per-request, in-memory only: created for one request and dropped with it. */
export interface Vault {
  /** Placeholder for a value, allocating `<TYPE_n>` on first sight. */
  placeholderFor(type: string, value: string): string;
  /** Replace every known placeholder in a model answer by its original value. */
  restore(text: string): string;
  /** Longest placeholder issued so far (the stream filter holds back at least this much). */
  readonly maxPlaceholderLength: number;
  readonly size: number;
}

export function createVault(): Vault {
  const byValue = new Map<string, string>();
  const byPlaceholder = new Map<string, string>();
  const counters = new Map<string, number>();
  let maxLen = 0;
  return {
    placeholderFor(type, value) {
      const key = `${type}\u0000${value}`;
      const known = byValue.get(key);
      if (known) return known;
      const n = (counters.get(type) ?? 0) + 1;
      counters.set(type, n);
      const ph = `<${type}_${n}>`;
      byValue.set(key, ph);
      byPlaceholder.set(ph, value);
      maxLen = Math.max(maxLen, ph.length);
      return ph;
    },
    restore(text) {
      if (byPlaceholder.size === 0 || !text.includes('<')) return text;
      return text.replace(/<[A-Z][A-Z0-9_]*_\d+>/g, (ph) => byPlaceholder.get(ph) ?? ph);
    },
    get maxPlaceholderLength() {
      return maxLen;
    },
    get size() {
      return byPlaceholder.size;
    },
  };
}

/** Numbering state for [TYPE_n] redaction placeholders across the texts of one request. */
export interface RedactionCounter {
  label(type: string, value: string): string;
}

export function createRedactionCounter(): RedactionCounter {
  const seen = new Map<string, string>();
  const counters = new Map<string, number>();
  return {
    label(type, value) {
      const key = `${type}\u0000${value}`;
      const known = seen.get(key);
      if (known) return known;
      const n = (counters.get(type) ?? 0) + 1;
      counters.set(type, n);
      const ph = `[${type}_${n}]`;
      seen.set(key, ph);
      return ph;
    },
  };
}

export interface TaggedSpan extends Span {
  /** What the policy does with it; only redact and pseudonymize change the text. */
  action: 'redact' | 'pseudonymize' | 'log' | 'block';
  detector?: 'pii' | 'secrets';
}

/** Apply redactions and pseudonyms; spans must not overlap (detectors return them resolved). */
export function applySpans(
  text: string,
  spans: readonly TaggedSpan[],
  counter: RedactionCounter,
  vault: Vault | undefined,
): string {
  if (spans.length === 0) return text;
  const sorted = spans
    .filter((s) => s.action === 'redact' || s.action === 'pseudonymize')
    .sort((a, b) => a.start - b.start);
  let out = '';
  let at = 0;
  for (const s of sorted) {
    if (s.start < at) continue; // overlapping leftovers from two detectors: the first one covers it
    const value = text.slice(s.start, s.end);
    out += text.slice(at, s.start);
    // Without a vault a pseudonym cannot be restored later: redact instead of leaking the value.
    out +=
      s.action === 'pseudonymize' && vault
        ? vault.placeholderFor(s.type, value)
        : counter.label(s.type, value);
    at = s.end;
  }
  return out + text.slice(at);
}

/** `redact(text, spans)`: every span replaced by `[TYPE_n]`. */
export function redact(text: string, spans: readonly Span[], counter = createRedactionCounter()): string {
  return applySpans(
    text,
    spans.map((s) => ({ ...s, action: 'redact' as const })),
    counter,
    undefined,
  );
}

/** `pseudonymize(text, spans, vault)`: every span replaced by `<TYPE_n>`, reversible with `vault.restore`. */
export function pseudonymize(text: string, spans: readonly Span[], vault: Vault): string {
  return applySpans(
    text,
    spans.map((s) => ({ ...s, action: 'pseudonymize' as const })),
    createRedactionCounter(),
    vault,
  );
}
