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

/** Start of the text that must stay held back in token mode (see StreamFilterOptions.mode). */
function tokenCut(pending: string, holdBack: number): number {
  let cut = pending.length;
  while (cut > 0 && !/\s/.test(pending[cut - 1] as string)) cut--;
  if (pending.length - cut > holdBack) cut = pending.length - holdBack;
  // A PEM block spans lines: keep it whole from its header until its END line has arrived.
  const begin = pending.lastIndexOf('-----BEGIN');
  if (begin !== -1 && pending.indexOf('-----END', begin) === -1) cut = Math.min(cut, begin);
  return cut;
}

const CONTEXT_CHARS = 128;
const PLACEHOLDER_PREFIX = /<[A-Z][A-Z0-9_]*$|<[A-Z][A-Z0-9_]*_\d*$|<$/;

export function createStreamFilter(options: StreamFilterOptions): StreamFilter {
  const holdBack = Math.max(options.holdBack ?? 256, (options.vault?.maxPlaceholderLength ?? 0) + 1);
  const minFlush = options.minFlush ?? 32;
  const tokenMode = options.mode === 'token';
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
    if (!final && tokenMode && tokenCut(pending, holdBack) <= 0) return { text: '', blocked: false, counts };
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
    let cut = final ? pending.length : tokenMode ? tokenCut(pending, holdBack) : pending.length - holdBack;
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
    return { text: options.vault ? options.vault.restore(text) : text, blocked: false, counts };
  };

  return {
    push(delta) {
      if (stopped) return { text: '', blocked: true, counts: {} };
      pending += delta;
      return emit(false);
    },
    end() {
      return emit(true);
    },
  };
}
