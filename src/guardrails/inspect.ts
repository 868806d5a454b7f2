/**
 * The guardrail stage's entry point (DESIGN.md stages 5 and 7): run the detectors a policy turns on
 * over the texts of a request or answer, decide allow / block / modified, and say why in findings
 * that carry types, counts, categories and scores — never the matched text (security invariant 1).
 *
 * Fail closed (invariant 4): a detector that throws, or takes longer than its time budget, counts as
 * a block unless its policy says onError: 'allow' (then the finding records the error, for audit).
 * Detectors are synchronous and their work per text is bounded (normalize.ts, regex policy), so the
 * budget is checked after each detector rather than by preemption.
 */

import { budgetClocks, startBudget } from '../util/cpu-clock.ts';
import { applySpans, createRedactionCounter, type TaggedSpan, type Vault } from './actions.ts';
import { createInjectionScorer, type InjectionScorer, type InjectionScorerOptions } from './injection.ts';
import { createPiiDetector, type PiiDetector } from './pii.ts';
import {
  type Action,
  appliesTo,
  type GuardrailPolicy,
  type PiiPolicy,
  type SecretsPolicy,
} from './policy.ts';
import { createSecretScanner, type SecretScanner } from './secrets.ts';
import { type DetectorName, DetectorStopped, type Span } from './types.ts';

export type Stage = 'input' | 'output';
export type Decision = 'allow' | 'block' | 'modified';

export interface Finding {
  detector: DetectorName;
  action: Action;
  /** Entity type (or secret rule id) → count, over all texts. */
  counts: Record<string, number>;
  /** Injection categories that matched. */
  categories?: string[];
  /** Injection: the highest score over the texts. */
  score?: number;
  /** Which texts (indices into the input array) had findings. */
  texts: number[];
  /** Set when the detector failed; with onError 'allow' the request went on regardless. */
  error?: 'exception' | 'timeout';
}

export interface InspectResult {
  decision: Decision;
  findings: Finding[];
  /** Changed texts only (index into the input array → new text); empty unless decision is 'modified'. */
  replacements: Array<{ index: number; text: string }>;
  /** With `withSpans`: per input text, the positions, types and actions of span findings (no text). */
  spans?: TaggedSpan[][];
  /** On block: the detector and the first category/type that caused it (for the error message). */
  blockedBy?: { detector: DetectorName; category: string };
  durationMs: number;
}

export interface InspectContext {
  /** The request's pseudonym vault; required for pseudonymize (without it values are redacted). */
  vault?: Vault;
  /** Return span positions (the stream filter needs them to place its cut). */
  withSpans?: boolean;
}

export interface Guardrails {
  inspect(
    texts: readonly string[],
    policy: GuardrailPolicy,
    stage: Stage,
    context?: InspectContext,
  ): InspectResult;
}

export interface GuardrailsDeps {
  /** Monotonic milliseconds; default performance.now. Injected so tests can force a timeout. */
  now?: () => number;
  /**
   * The CPU clock that may excuse a wall-time overrun of a detector's budget (src/util/cpu-clock.ts):
   * this thread's CPU time by default; `now` when only `now` is injected (tests).
   */
  cpuNow?: () => number;
  injection?: InjectionScorerOptions;
  /** Detector factories, replaceable in tests (e.g. one that throws) and for custom builds. */
  createInjectionScorer?: (o: InjectionScorerOptions) => InjectionScorer;
  createPiiDetector?: (p: PiiPolicy) => PiiDetector;
  createSecretScanner?: (p: SecretsPolicy) => SecretScanner;
}

const CACHE_LIMIT = 256;

export function createGuardrails(deps: GuardrailsDeps = {}): Guardrails {
  const now = deps.now ?? (() => performance.now());
  const clocks = budgetClocks(deps.now, deps.cpuNow);
  const injection = (deps.createInjectionScorer ?? createInjectionScorer)(deps.injection ?? {});
  const makePii =
    deps.createPiiDetector ??
    ((p: PiiPolicy) => createPiiDetector({ entities: p.entities, custom: p.custom }));
  const makeSecrets =
    deps.createSecretScanner ?? ((p: SecretsPolicy) => createSecretScanner({ disabled: p.disabledRules }));
  // Compiled detectors per distinct configuration (policies are few; configurations fewer).
  const piiCache = new Map<string, PiiDetector>();
  const secretCache = new Map<string, SecretScanner>();
  const cached = <T>(cache: Map<string, T>, key: string, make: () => T): T => {
    let v = cache.get(key);
    if (!v) {
      if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
      v = make();
      cache.set(key, v);
    }
    return v;
  };

  return {
    inspect(texts, policy, stage, context = {}) {
      const started = now();
      const findings: Finding[] = [];
      const spansByText: TaggedSpan[][] = texts.map(() => []);
      let blockedBy: InspectResult['blockedBy'];
      const block = (detector: DetectorName, category: string): void => {
        blockedBy ??= { detector, category };
      };

      const run = (
        detector: DetectorName,
        budgetMs: number,
        onError: 'block' | 'allow',
        action: Action,
        body: (f: Finding, shouldStop: () => boolean) => void,
      ): void => {
        const finding: Finding = { detector, action, counts: {}, texts: [] };
        const overran = startBudget(clocks);
        try {
          body(finding, () => overran(budgetMs));
          if (overran(budgetMs)) finding.error = 'timeout';
        } catch (err) {
          finding.error = err instanceof DetectorStopped ? 'timeout' : 'exception';
        }
        if (finding.error) {
          findings.push(finding);
          if (onError === 'block')
            block(detector, finding.error === 'timeout' ? 'detector_timeout' : 'detector_error');
          return;
        }
        if (finding.texts.length > 0) findings.push(finding);
      };

      const p = policy['prompt-injection'];
      if (appliesTo(p, stage)) {
        run('prompt-injection', p.timeBudgetMs, p.onError, p.action, (f) => {
          const categories = new Set<string>();
          let top = 0;
          texts.forEach((t, i) => {
            const r = injection.score(t);
            // Hidden text is reported even under the threshold: smuggling is a finding on its own.
            if (r.score >= p.threshold || r.flags.includes('hidden_text')) {
              f.texts.push(i);
              for (const c of r.categories) categories.add(c);
              if (r.flags.includes('hidden_text')) categories.add('hidden_text');
            }
            top = Math.max(top, r.score);
          });
          f.score = top;
          f.categories = [...categories];
          for (const c of categories) f.counts[c] = (f.counts[c] ?? 0) + 1;
          if (f.texts.length > 0 && p.action === 'block' && top >= p.threshold) {
            block('prompt-injection', f.categories[0] ?? 'prompt_injection');
          }
        });
      }

      const spanDetector = (
        detector: 'pii' | 'secrets',
        dp: PiiPolicy | SecretsPolicy,
        scan: (t: string, shouldStop: () => boolean) => Span[],
        countKey: (s: Span) => string,
      ): void => {
        if (!appliesTo(dp, stage)) return;
        run(detector, dp.timeBudgetMs, dp.onError, dp.action, (f, shouldStop) => {
          texts.forEach((t, i) => {
            const spans = scan(t, shouldStop).filter((s) => s.confidence >= dp.threshold);
            if (spans.length === 0) return;
            f.texts.push(i);
            for (const s of spans) f.counts[countKey(s)] = (f.counts[countKey(s)] ?? 0) + 1;
            for (const s of spans) spansByText[i]!.push({ ...s, action: dp.action, detector });
          });
          if (f.texts.length > 0 && dp.action === 'block') block(detector, Object.keys(f.counts)[0]!);
        });
      };

      const sp = policy.secrets;
      if (appliesTo(sp, stage)) {
        const scanner = cached(secretCache, JSON.stringify(sp.disabledRules), () => makeSecrets(sp));
        spanDetector(
          'secrets',
          sp,
          (t) => scanner.scan(t),
          (s) => s.ruleId ?? s.type,
        );
      }
      const pp = policy.pii;
      if (appliesTo(pp, stage)) {
        const detector = cached(piiCache, JSON.stringify([pp.entities, pp.custom]), () => makePii(pp));
        spanDetector(
          'pii',
          pp,
          (t, shouldStop) => detector.scan(t, shouldStop),
          (s) => s.type,
        );
      }

      const durationMs = now() - started;
      const spans = context.withSpans ? spansByText : undefined;
      if (blockedBy) return { decision: 'block', findings, replacements: [], blockedBy, durationMs, spans };
      const counter = createRedactionCounter();
      const replacements: InspectResult['replacements'] = [];
      spansByText.forEach((spans, index) => {
        if (spans.length === 0) return;
        // Secrets were pushed first: where a secret and a PII span overlap, the secret's action wins.
        const kept: TaggedSpan[] = [];
        for (const s of spans.filter((x) => x.action === 'redact' || x.action === 'pseudonymize'))
          if (!kept.some((k) => s.start < k.end && k.start < s.end)) kept.push(s);
        const text = applySpans(texts[index]!, kept, counter, context.vault);
        if (text !== texts[index]) replacements.push({ index, text });
      });
      return {
        decision: replacements.length > 0 ? 'modified' : 'allow',
        findings,
        replacements,
        durationMs,
        spans,
      };
    },
  };
}
