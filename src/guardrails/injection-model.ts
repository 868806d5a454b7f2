/**
 * The statistical half of the injection scorer: logistic regression over hashed features
 * (word unigrams + bigrams, character 4-grams) of the normalised text. Trained by
 * scripts/train-injection.ts; weights ship as int8 (models/injection.json, ~90 KB).
 *
 * Hashing keeps the model a fixed size with no vocabulary; collisions cost a little accuracy.
 */

export interface InjectionModelFile {
  version: 1;
  /** Number of hash buckets (a power of two). */
  dim: number;
  bias: number;
  /** int8 weights = round(w / scale), base64. */
  scale: number;
  weights: string;
  /** Where the model came from and how well it did (written by the training script). */
  meta: Record<string, unknown>;
}

export interface InjectionModel {
  dim: number;
  bias: number;
  weights: Float32Array;
}

/** Features looked at: the first part of a long text and its end (where jailbreaks put the ask). */
export const FEATURE_HEAD_CHARS = 6_000;
export const FEATURE_TAIL_CHARS = 2_000;

export function loadModel(file: InjectionModelFile): InjectionModel {
  const q = Buffer.from(file.weights, 'base64');
  if (q.length !== file.dim) throw new Error('injection model: weight count does not match dim');
  const weights = new Float32Array(file.dim);
  for (let i = 0; i < file.dim; i++) weights[i] = ((q[i]! << 24) >> 24) * file.scale;
  return { dim: file.dim, bias: file.bias, weights };
}

/** FNV-1a 32-bit over a string's UTF-16 units, continued from `h`. */
function fnv(s: string, from: number, to: number, h: number): number {
  for (let i = from; i < to; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const WORD = /[\p{L}\p{N}']+/gu;
const SEED_WORD = 0x811c9dc5;
const SEED_BIGRAM = 0x2e1f6b3d;
const SEED_CHAR = 0x5bd1e995;

/** Distinct hashed feature indices of a normalised text (`normalize(text).leet`). */
export function features(text: string, dim: number): Uint32Array {
  const s =
    text.length > FEATURE_HEAD_CHARS + FEATURE_TAIL_CHARS
      ? `${text.slice(0, FEATURE_HEAD_CHARS)} ${text.slice(text.length - FEATURE_TAIL_CHARS)}`
      : text;
  const mask = dim - 1;
  const seen = new Set<number>();
  let prev = -1;
  for (const m of s.matchAll(WORD)) {
    const w = m[0];
    const h = fnv(w, 0, w.length, SEED_WORD);
    seen.add(h & mask);
    if (prev >= 0) seen.add((Math.imul(prev ^ SEED_BIGRAM, 0x01000193) ^ h) & mask);
    prev = h;
  }
  for (let i = 0; i + 4 <= s.length; i++) seen.add(fnv(s, i, i + 4, SEED_CHAR) & mask);
  return Uint32Array.from(seen);
}

/** P(injection) for a feature set: binary features scaled by 1/sqrt(n) (so long texts do not saturate). */
export function predict(model: InjectionModel, feats: Uint32Array): number {
  if (feats.length === 0) return 1 / (1 + Math.exp(-model.bias));
  let z = 0;
  for (let i = 0; i < feats.length; i++) z += model.weights[feats[i]! & (model.dim - 1)]!;
  z = model.bias + z / Math.sqrt(feats.length);
  return 1 / (1 + Math.exp(-z));
}
