/**
 * The statistical half of the injection scorer: logistic regression over hashed features of the
 * normalised text (`normalize(text).leet`): word unigrams and bigrams, and character n-grams
 * (4-grams in the shipped model). Trained by scripts/train-injection.ts; weights ship as int8
 * (models/injection.json).
 *
 * Hashing keeps the model a fixed size with no vocabulary; collisions cost a little accuracy.
 * Character n-grams see through spelling variants and word splits that word features miss
 * ("instruct ions", "jail-broken"); word bigrams keep short phrases ("ignore previous").
 *
 * Everything is found in one pass over the text: words by FNV-1a, character n-grams (n ≤ 4) by
 * packing the last n characters (8 bits each) into one integer as the pass goes and hashing that
 * by multiplication — no inner loop per position.
 */

export interface InjectionModelFile {
  /** 4: word 1-2-grams (FNV-1a) + packed char n-grams. Files of earlier versions are refused. */
  version: 4;
  /** Character n-gram sizes, each from 1 to 4. */
  charGrams: number[];
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
  charGrams: readonly number[];
  bias: number;
  weights: Float32Array;
  /** The int8 weights as shipped, and their scale: what `probability` sums (a quarter of the memory). */
  quantized: Int8Array;
  scale: number;
}

export const featureSet = (charGrams: readonly number[]): string =>
  `word unigrams + bigrams (FNV-1a), char ${charGrams.join('/')}-grams (packed, multiplicative hash)`;

/** Features looked at: the first part of a long text and its end (where jailbreaks put the ask). */
export const FEATURE_HEAD_CHARS = 6_000;
export const FEATURE_TAIL_CHARS = 2_000;

const checkGrams = (charGrams: readonly number[]): void => {
  if (
    charGrams.length === 0 ||
    new Set(charGrams).size !== charGrams.length ||
    charGrams.some((n) => !Number.isInteger(n) || n < 1 || n > 4)
  )
    throw new Error('injection model: character n-gram sizes must be distinct integers from 1 to 4');
};

export function loadModel(file: InjectionModelFile): InjectionModel {
  if (file.version !== 4) throw new Error('injection model: unsupported version (retrain)');
  checkGrams(file.charGrams);
  const q = Buffer.from(file.weights, 'base64');
  if (q.length !== file.dim || (file.dim & (file.dim - 1)) !== 0 || file.dim < 2)
    throw new Error('injection model: weight count does not match dim');
  const quantized = new Int8Array(q.buffer.slice(q.byteOffset, q.byteOffset + q.length));
  const weights = new Float32Array(file.dim);
  for (let i = 0; i < file.dim; i++) weights[i] = quantized[i]! * file.scale;
  return {
    dim: file.dim,
    charGrams: [...file.charGrams],
    bias: file.bias,
    weights,
    quantized,
    scale: file.scale,
  };
}

const FNV_PRIME = 0x01000193;
const SEED_WORD = 0x811c9dc5;
const SEED_BIGRAM = 0x2e1f6b3d;
/** Odd multipliers (Knuth's multiplicative hashing), one per n-gram size. */
const GRAM_MULTIPLIER = [0, 0x9e3779b1, 0x85ebca77, 0xc2b2ae3d, 0x27d4eb2f];
const NON_ASCII_WORD = /[\p{L}\p{N}]/u;
/** Whether a UTF-16 unit above U+007F is a letter or digit: 0 not yet known, 1 no, 2 yes. */
const nonAsciiWord = new Uint8Array(0x10000);

function isNonAsciiWordChar(c: number): boolean {
  let known = nonAsciiWord[c]!;
  if (known === 0) {
    known = NON_ASCII_WORD.test(String.fromCharCode(c)) ? 2 : 1;
    nonAsciiWord[c] = known;
  }
  return known === 2;
}

export interface Featurizer {
  /**
   * Distinct hashed feature indices of a normalised text. The returned array is a view into a
   * buffer reused by the next call: copy it to keep it.
   */
  features(text: string): Uint32Array;
  /** The model's probability for a normalised text: `predict(model, features(text))`, int8 weights. */
  probability(model: InjectionModel, text: string): number;
}

/**
 * Feature extraction without per-call allocation: a stamp array marks the buckets already taken
 * in this call (cheaper than a Set), and the index buffer holds `dim` entries — distinct buckets
 * can never be more — so it never grows. The loop keeps its state in locals.
 */
export function createFeaturizer(dim: number, charGrams: readonly number[] = [4]): Featurizer {
  checkGrams(charGrams);
  if ((dim & (dim - 1)) !== 0 || dim < 2) throw new Error('injection model: dim must be a power of two');
  const bits = Math.log2(dim);
  const mask = dim - 1;
  const grams = Int32Array.from(charGrams);
  const single = charGrams.length === 1 ? charGrams[0]! : 0;
  // One byte per bucket (cleared every 255 calls): a quarter of the cache a Uint32Array would take.
  const stamps = new Uint8Array(dim);
  let stamp = 0;
  const out = new Uint32Array(dim);

  function scan(text: string): number {
    const s =
      text.length > FEATURE_HEAD_CHARS + FEATURE_TAIL_CHARS
        ? `${text.slice(0, FEATURE_HEAD_CHARS)} ${text.slice(text.length - FEATURE_TAIL_CHARS)}`
        : text;
    stamp = (stamp + 1) & 0xff;
    if (stamp === 0) {
      stamps.fill(0);
      stamp = 1;
    }
    const mark = stamp;
    let n = 0;
    let k = 0;
    const len = s.length;
    let prev = -1;
    let h = SEED_WORD;
    let inWord = false;
    let packed = 0;
    for (let i = 0; i <= len; i++) {
      const c = i < len ? s.charCodeAt(i) : 32;
      // Character n-grams: the last n characters, 8 bits each (a non-Latin-1 unit folded to 8).
      if (i < len) {
        packed = (packed << 8) | ((c ^ (c >>> 8)) & 0xff);
        if (single !== 0) {
          if (i + 1 >= single) {
            const gram = single === 4 ? packed : packed & ((1 << (8 * single)) - 1);
            k = Math.imul(gram ^ single, GRAM_MULTIPLIER[single]!) >>> (32 - bits);
            if (stamps[k] !== mark) {
              stamps[k] = mark;
              out[n++] = k;
            }
          }
        } else {
          for (let g = 0; g < grams.length; g++) {
            const size = grams[g]!;
            if (i + 1 < size) continue;
            const gram = size === 4 ? packed : packed & ((1 << (8 * size)) - 1);
            k = Math.imul(gram ^ size, GRAM_MULTIPLIER[size]!) >>> (32 - bits);
            if (stamps[k] !== mark) {
              stamps[k] = mark;
              out[n++] = k;
            }
          }
        }
      }
      // Words (letters, digits, apostrophe) and word bigrams.
      const word =
        i < len &&
        (c < 128
          ? (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 39 || (c >= 65 && c <= 90)
          : isNonAsciiWordChar(c));
      if (word) {
        h = Math.imul(h ^ c, FNV_PRIME);
        inWord = true;
      } else if (inWord) {
        const w = h >>> 0;
        k = w & mask;
        if (stamps[k] !== mark) {
          stamps[k] = mark;
          out[n++] = k;
        }
        if (prev >= 0) {
          k = (Math.imul(prev ^ SEED_BIGRAM, FNV_PRIME) ^ w) & mask;
          if (stamps[k] !== mark) {
            stamps[k] = mark;
            out[n++] = k;
          }
        }
        prev = w;
        h = SEED_WORD;
        inWord = false;
      }
    }
    return n;
  }

  return {
    features(text: string): Uint32Array {
      return out.subarray(0, scan(text));
    },
    probability(model: InjectionModel, text: string): number {
      if (
        model.dim !== dim ||
        model.charGrams.length !== charGrams.length ||
        model.charGrams.some((g, i) => g !== charGrams[i])
      )
        throw new Error('injection model: featurizer built for another model');
      const n = scan(text);
      const q = model.quantized;
      let sum = 0;
      for (let i = 0; i < n; i++) sum += q[out[i]!]!;
      const z = n === 0 ? model.bias : model.bias + (sum * model.scale) / Math.sqrt(n);
      return 1 / (1 + Math.exp(-z));
    },
  };
}

/** P(injection) for a feature set: binary features scaled by 1/sqrt(n) (so long texts do not saturate). */
export function predict(model: InjectionModel, feats: Uint32Array): number {
  if (feats.length === 0) return 1 / (1 + Math.exp(-model.bias));
  let z = 0;
  const w = model.weights;
  for (let i = 0; i < feats.length; i++) z += w[feats[i]!]!;
  z = model.bias + z / Math.sqrt(feats.length);
  return 1 / (1 + Math.exp(-z));
}
