/**
 * Measures the guardrail detectors on ../shared/data and test/fixtures/guardrails and prints the
 * figures quoted in docs/guardrails.md.   npm run eval:guardrails
 *
 * Injection figures use only held-out rows (scripts/guardrails-data.ts isTestRow); the fixtures were
 * never trained on. PII and secret detectors are not trained, so they are measured on all rows.
 */
import { createInjectionScorer } from '../src/guardrails/injection.ts';
import { createGuardrails } from '../src/guardrails/inspect.ts';
import { createPiiDetector } from '../src/guardrails/pii.ts';
import { DEFAULT_POLICY, mergePolicy } from '../src/guardrails/policy.ts';
import { createSecretScanner } from '../src/guardrails/secrets.ts';
import { DATA_DIR, injectionSources, isTestRow, readJsonl } from './guardrails-data.ts';

interface Counts {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
}
const zero = (): Counts => ({ tp: 0, fp: 0, fn: 0, tn: 0 });
const tally = (c: Counts, truth: boolean, said: boolean): void => {
  if (truth && said) c.tp++;
  else if (truth) c.fn++;
  else if (said) c.fp++;
  else c.tn++;
};
const pct = (x: number): string => (Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : '—');
const fmt = (c: Counts): string => {
  const p = c.tp / (c.tp + c.fp);
  const r = c.tp / (c.tp + c.fn);
  const f1 = (2 * p * r) / (p + r);
  const fpr = c.fp / (c.fp + c.tn);
  return `P ${pct(p)}  R ${pct(r)}  F1 ${pct(f1)}  FPR ${pct(fpr)}  (tp ${c.tp} fp ${c.fp} fn ${c.fn} tn ${c.tn})`;
};

/** Thresholds reported: the flag level, the default block threshold, and the former default. */
const BLOCK_AT = DEFAULT_POLICY['prompt-injection'].threshold;
const THRESHOLDS = [...new Set([0.5, BLOCK_AT, 0.85])].sort();

function injection(): void {
  console.log(
    `\n## Prompt injection (held-out split; thresholds 0.5 = flag, ${BLOCK_AT} = default block, 0.85 = former default)`,
  );
  const scorer = createInjectionScorer();
  for (const src of injectionSources()) {
    for (const t of THRESHOLDS) {
      const all = zero();
      const byCat = new Map<string, Counts>();
      for (const r of src.rows) {
        if (!isTestRow(r.text)) continue;
        const said = scorer.score(r.text).score >= t;
        tally(all, r.label === 1, said);
        const cat = typeof r.attack_type === 'string' ? r.attack_type.split(':')[0]! : undefined;
        if (cat) {
          if (!byCat.has(cat)) byCat.set(cat, zero());
          tally(byCat.get(cat)!, r.label === 1, said);
        }
      }
      console.log(`${src.name} @${t}: ${fmt(all)}`);
      for (const [c, v] of byCat)
        console.log(`  ${c}: recall ${pct(v.tp / (v.tp + v.fn))} (${v.tp}/${v.tp + v.fn})`);
    }
  }
  const fixtures = readJsonl(new URL('../test/fixtures/guardrails/injection.jsonl', import.meta.url));
  for (const t of THRESHOLDS) {
    const byKind = new Map<string, Counts>();
    const byCat = new Map<string, Counts>();
    const all = zero();
    for (const r of fixtures) {
      const said = scorer.score(r.text).score >= t;
      tally(all, r.label === 1, said);
      for (const [m, k] of [
        [byKind, String(r.kind)],
        [byCat, String(r.category ?? 'benign')],
      ] as const) {
        if (!m.has(k)) m.set(k, zero());
        tally(m.get(k)!, r.label === 1, said);
      }
    }
    console.log(`fixtures (own, short direct/indirect + benign look-alikes) @${t}: ${fmt(all)}`);
    for (const [k, v] of byKind) {
      console.log(
        `  ${k}: ${k === 'benign' ? `false positives ${v.fp}/${v.fp + v.tn}` : `recall ${pct(v.tp / (v.tp + v.fn))}`}`,
      );
    }
    for (const [k, v] of byCat)
      if (k !== 'benign') console.log(`  category ${k}: recall ${v.tp}/${v.tp + v.fn}`);
  }
}

const benignPrompts = (): string[] =>
  readJsonl(new URL('prompt-injection/llm-warden.jsonl', DATA_DIR))
    .filter((r) => r.label === 0)
    .map((r) => r.text);

function pii(): void {
  console.log('\n## PII (presidio-synth: a span counts when it overlaps a gold span of the same type)');
  const d = createPiiDetector();
  const MAP: Record<string, string> = {
    EMAIL_ADDRESS: 'EMAIL',
    PHONE_NUMBER: 'PHONE',
    CREDIT_CARD: 'CREDIT_CARD',
    IBAN_CODE: 'IBAN',
    US_SSN: 'US_SSN',
    IP_ADDRESS: 'IP_ADDRESS',
    STREET_ADDRESS: 'STREET_ADDRESS',
    PERSON: 'PERSON',
    DATE_TIME: 'DATE_OF_BIRTH', // presidio has no DOB type: a DOB we find must at least be a gold date
  };
  const st = new Map<string, { tp: number; fn: number; fp: number }>();
  const get = (t: string): { tp: number; fn: number; fp: number } => {
    if (!st.has(t)) st.set(t, { tp: 0, fn: 0, fp: 0 });
    return st.get(t)!;
  };
  for (const r of readJsonl(new URL('pii/presidio-synth.jsonl', DATA_DIR))) {
    const spans = d.scan(r.text);
    const gold = (r.entities as Array<{ type: string; start: number; end: number }>).filter(
      (e) => MAP[e.type],
    );
    const ov = (a: { start: number; end: number }, b: { start: number; end: number }) =>
      a.start < b.end && b.start < a.end;
    for (const g of gold) {
      const t = MAP[g.type]!;
      if (t === 'DATE_OF_BIRTH') continue; // most gold dates are not birth dates: no recall figure
      if (spans.some((s) => s.type === t && ov(s, g))) get(t).tp++;
      else get(t).fn++;
    }
    for (const s of spans) if (!gold.some((g) => MAP[g.type] === s.type && ov(s, g))) get(s.type).fp++;
    for (const s of spans)
      if (gold.some((g) => MAP[g.type] === s.type && ov(s, g)) && s.type === 'DATE_OF_BIRTH')
        get(s.type).tp++;
  }
  for (const [t, v] of [...st].sort()) {
    console.log(
      `${t.padEnd(15)} P ${pct(v.tp / (v.tp + v.fp))}  R ${t === 'DATE_OF_BIRTH' ? '—' : pct(v.tp / (v.tp + v.fn))}  (tp ${v.tp} fp ${v.fp} fn ${v.fn})`,
    );
  }
  const benign = benignPrompts();
  const fpByType = new Map<string, number>();
  let withAny = 0;
  let structured = 0;
  for (const t of benign) {
    const spans = d.scan(t);
    if (spans.length) withAny++;
    if (spans.some((s) => ['EMAIL', 'PHONE', 'CREDIT_CARD', 'IBAN', 'US_SSN'].includes(s.type))) structured++;
    for (const s of spans) fpByType.set(s.type, (fpByType.get(s.type) ?? 0) + 1);
  }
  console.log(
    `llm-warden benign prompts (${benign.length}): any finding ${pct(withAny / benign.length)}, structured (email/phone/card/IBAN/SSN) ${pct(structured / benign.length)}; spans by type ${JSON.stringify(Object.fromEntries(fpByType))}`,
  );
}

function secrets(): void {
  console.log('\n## Secrets (gitleaks-samples: path-based rows skipped; negatives = clean rows only)');
  const s = createSecretScanner();
  const all = zero();
  const missed = new Map<string, number>();
  for (const r of readJsonl(new URL('secrets/gitleaks-samples.jsonl', DATA_DIR))) {
    if (r.path_based_rule) continue;
    if (r.label === 0 && r.negative_review !== 'clean') continue;
    const said = s.scan(r.text).length > 0;
    tally(all, r.label === 1, said);
    if (r.label === 1 && !said) missed.set(String(r.rule_id), (missed.get(String(r.rule_id)) ?? 0) + 1);
  }
  console.log(`any secret: ${fmt(all)}`);
  console.log(`missed by rule: ${JSON.stringify(Object.fromEntries(missed))}`);
  const benign = benignPrompts();
  const hits = benign.filter((t) => s.scan(t).length > 0).length;
  console.log(
    `llm-warden benign prompts: ${hits}/${benign.length} with a finding (${pct(hits / benign.length)})`,
  );
}

function speed(): void {
  console.log(
    '\n## Speed (this machine, one core; best of 5 rounds, each the mean of many runs after warm-up)',
  );
  const ROUNDS = 5;
  const time = (fn: () => void, n: number): number => {
    for (let i = 0; i < Math.min(200, n); i++) fn();
    let best = Number.POSITIVE_INFINITY;
    for (let r = 0; r < ROUNDS; r++) {
      const t = performance.now();
      for (let i = 0; i < n; i++) fn();
      best = Math.min(best, ((performance.now() - t) / n) * 1000);
    }
    return best;
  };
  const prompt = `${'Hi team, please summarise the attached meeting notes and list the action items with owners and dates. '.repeat(9)}Reply to jane@corp.example or call +1 415 555 2671.`;
  const scorer = createInjectionScorer();
  const pii = createPiiDetector();
  const sec = createSecretScanner();
  const g = createGuardrails();
  const all = mergePolicy(DEFAULT_POLICY, {
    'prompt-injection': { where: 'both' },
    pii: { action: 'redact' },
  });
  console.log(`prompt: ${prompt.length} chars`);
  console.log(`injection score: ${time(() => scorer.score(prompt), 2000).toFixed(1)} µs`);
  console.log(`PII scan: ${time(() => pii.scan(prompt), 2000).toFixed(1)} µs`);
  console.log(`secret scan: ${time(() => sec.scan(prompt), 2000).toFixed(1)} µs`);
  console.log(
    `inspect(), all detectors on, redacting: ${time(() => g.inspect([prompt], all, 'input'), 2000).toFixed(1)} µs`,
  );
  const prompts = benignPrompts();
  const corpus = prompts.join('\n');
  const kb = Buffer.byteLength(corpus) / 1024;
  const perKb = time(() => {
    for (const p of prompts) scorer.score(p);
  }, 1);
  console.log(
    `injection score on the ${prompts.length} llm-warden benign prompts (${(kb / prompts.length).toFixed(1)} KB mean): ${(perKb / kb).toFixed(1)} µs per KB`,
  );
  const chunks = corpus.match(/[\s\S]{1,4096}/g) ?? [];
  const mb = kb / 1000;
  const rate = (fn: (c: string) => void): string => {
    const us = time(() => {
      for (const c of chunks) fn(c);
    }, 1);
    return (mb / (us / 1e6)).toFixed(1);
  };
  console.log(
    `throughput on llm-warden benign text (4 KB chunks): PII ${rate((c) => pii.scan(c))} MB/s, secrets ${rate((c) => sec.scan(c))} MB/s, PII + secrets ${rate(
      (c) => {
        pii.scan(c);
        sec.scan(c);
      },
    )} MB/s`,
  );
}

injection();
pii();
secrets();
speed();
