/**
 * Stream-safe output filtering (issue 7, item 7). Text deltas go in; text that has been checked
 * comes out. The filter always holds back the last `holdBack` characters and never cuts through a
 * finding, so a secret or PII value split across deltas is never flushed before the whole of it
 * has been seen (any value shorter than the window is checked in one piece). A block stops the
 * stream (`blocked: true`); the caller ends it with an error event. `end()` checks and flushes the rest.
 *
 * With a vault, pseudonyms in the answer (`<EMAIL_1>`) are restored in what is emitted; the cut
 * never falls inside a placeholder.
 */
import { applySpans, createRedactionCounter, type Vault } from './actions.ts';
import type { Guardrails, InspectResult } from './inspect.ts';
import type { GuardrailPolicy } from './policy.ts';

export interface StreamChunk {
  /** Safe text to send now (may be empty). */
  text: string;
  /** Stop the stream: a guardrail blocked the answer. Nothing more will be emitted. */
  blocked: boolean;
  blockedBy?: InspectResult['blockedBy'];
  /** Findings in the text emitted by this chunk: detector → type → count (never the text). */
  counts: Record<string, Record<string, number>>;
}

export interface StreamFilter {
  push(delta: string): StreamChunk;
  end(): StreamChunk;
}

export interface StreamFilterOptions {
  guardrails: Guardrails;
  policy: GuardrailPolicy;
  vault?: Vault;
  /** Characters held back; must exceed the longest value to catch (default 256). */
  holdBack?: number;
  /** Re-check only once this many characters are pending beyond the window (default 32): fewer scans. */
  minFlush?: number;
  /**
   * 'window' (default) always holds back `holdBack` characters: needed when a value to catch may
   * contain spaces (names, phone numbers, addresses). 'token' holds back only the unfinished last
   * word (up to `holdBack`) and any unclosed PEM block: enough for secrets, which are single
   * tokens, and it adds almost nothing to the time to first token.
   */
  mode?: 'window' | 'token';
}

/** Longest PEM block held back whole; past it the text is inspected and released like any other. */
const MAX_PEM_HOLD = 16_384;
const PEM_BEGIN = '-----BEGIN';
const PEM_END = '-----END';

/**
 * Where token mode must cut: before the unfinished last word (looked for at most `holdBack` back)
 * and before an unclosed PEM block. The PEM state is tracked as text arrives, so every push costs
 * time in proportion to the delta, not to everything held (no quadratic work on long blocks).
 */
interface TokenCutter {
  /** Call after `added` characters were appended to `pending`. */
  grew(pending: string, added: number): void;
  /** Call after the first `n` characters of `pending` were released. */
  released(n: number): void;
  cut(pending: string): number;
}

function createTokenCutter(holdBack: number): TokenCutter {
  let pemAt = -1;
  const scan = (pending: string, from: number): void => {
    let at = Math.max(0, from);
    for (;;) {
      if (pemAt === -1) {
        const begin = pending.indexOf(PEM_BEGIN, at);
        if (begin === -1) return;
        pemAt = begin;
        at = begin + PEM_BEGIN.length;
      }
      const end = pending.indexOf(PEM_END, Math.max(at, pemAt + PEM_BEGIN.length));
      if (end === -1) return;
      pemAt = -1;
      at = end + PEM_END.length;
    }
  };
  return {
    grew(pending, added) {
      scan(pending, pending.length - added - PEM_BEGIN.length);
      if (pemAt !== -1 && pending.length - pemAt > MAX_PEM_HOLD) pemAt = -1;
    },
    released(n) {
      if (pemAt !== -1) pemAt = Math.max(0, pemAt - n);
    },
    cut(pending) {
      let cut = pending.length;
      const floor = Math.max(0, pending.length - holdBack);
      while (cut > floor && !/\s/.test(pending[cut - 1] as string)) cut--;
      if (pemAt !== -1) cut = Math.min(cut, pemAt);
      return cut;
    },
  };
}

const CONTEXT_CHARS = 128;
const PLACEHOLDER_PREFIX = /<[A-Z][A-Z0-9_]*$|<[A-Z][A-Z0-9_]*_\d*$|<$/;

export function createStreamFilter(options: StreamFilterOptions): StreamFilter {
  const holdBack = Math.max(options.holdBack ?? 256, (options.vault?.maxPlaceholderLength ?? 0) + 1);
  const minFlush = options.minFlush ?? 32;
  const tokenMode = options.mode === 'token';
  const cutter = createTokenCutter(holdBack);
  const counter = createRedactionCounter(); // one numbering for the whole answer
  let pending = '';
  // The end of what was already sent, scanned again as left context: a rule like
  // "api_key = <value>" must still match when "api_key = " went out in an earlier chunk.
  let sentTail = '';
  let stopped = false;

  const emit = (final: boolean): StreamChunk => {
    const counts: StreamChunk['counts'] = {};
    if (stopped) return { text: '', blocked: true, counts };
    if (!final && !tokenMode && pending.length < holdBack + minFlush)
      return { text: '', blocked: false, counts };
    if (!final && tokenMode && cutter.cut(pending) <= 0) return { text: '', blocked: false, counts };
    const offset = sentTail.length;
    const result = options.guardrails.inspect([sentTail + pending], options.policy, 'output', {
      vault: options.vault,
      withSpans: true,
    });
    if (result.decision === 'block') {
      stopped = true;
      pending = '';
      return { text: '', blocked: true, blockedBy: result.blockedBy, counts };
    }
    const spans = (result.spans?.[0] ?? [])
      .filter((s) => s.end > offset)
      .map((s) => ({ ...s, start: Math.max(0, s.start - offset), end: s.end - offset }));
    let cut = final ? pending.length : tokenMode ? cutter.cut(pending) : pending.length - holdBack;
    // Never cut through a finding: hold it back whole until it is entirely before the cut.
    for (const s of spans) if (s.start < cut && s.end > cut) cut = Math.min(cut, s.start);
    if (!final) {
      const open = PLACEHOLDER_PREFIX.exec(pending.slice(Math.max(0, cut - 64), cut));
      if (open) cut -= open[0].length;
    }
    if (cut <= 0) return { text: '', blocked: false, counts };
    const head = spans.filter((s) => s.end <= cut);
    for (const s of head) {
      const name = s.detector ?? 'unknown';
      counts[name] ??= {};
      const d = counts[name];
      const k = s.ruleId ?? s.type;
      d[k] = (d[k] ?? 0) + 1;
    }
    const text = applySpans(pending.slice(0, cut), head, counter, options.vault);
    sentTail = (sentTail + pending.slice(0, cut)).slice(-CONTEXT_CHARS);
    pending = pending.slice(cut);
    cutter.released(cut);
    return { text: options.vault ? options.vault.restore(text) : text, blocked: false, counts };
  };

  return {
    push(delta) {
      if (stopped) return { text: '', blocked: true, counts: {} };
      pending += delta;
      cutter.grew(pending, delta.length);
      return emit(false);
    },
    end() {
      return emit(true);
    },
  };
}
