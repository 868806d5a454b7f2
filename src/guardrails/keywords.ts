/**
 * Aho-Corasick keyword matcher (Aho & Corasick 1975) for the secret scanner's prefilter: one pass
 * over the text finds every rule keyword that occurs, case-insensitively, whatever the number of
 * keywords. A regex alternation of 200+ keywords costs V8 a backtracking attempt per keyword at
 * many positions; this is one table lookup per character.
 *
 * Case folding matches `text.toLowerCase()` for ASCII keywords: ASCII letters fold to lower case,
 * and the two non-ASCII characters whose lower case is ASCII (U+212A KELVIN SIGN → "k", U+0130 →
 * "i" + U+0307) are folded too, so the prefilter never misses what the lower-cased text holds.
 */

export interface KeywordMatcher {
  /** Marks `hit[id] = mark` for the id of every keyword found in `text`. */
  scan(text: string, hit: Uint32Array, mark: number): void;
}

/** Builds a matcher over ASCII keywords (lower-cased); `ids[i]` is what keyword i reports. */
export function createKeywordMatcher(keywords: readonly string[], ids: readonly number[]): KeywordMatcher {
  // Alphabet: the distinct characters of the keywords; everything else is class 0.
  const classOf = new Uint8Array(128);
  let classes = 1;
  for (const k of keywords) {
    for (let i = 0; i < k.length; i++) {
      const c = k.charCodeAt(i);
      if (c >= 128) throw new Error(`keyword must be ASCII: ${k}`);
      if (classOf[c] === 0) classOf[c] = classes++;
    }
  }
  for (let c = 65; c <= 90; c++) classOf[c] = classOf[c + 32]!; // A-Z read as a-z
  // Trie.
  const next: number[][] = [new Array<number>(classes).fill(-1)];
  const out: number[][] = [[]];
  keywords.forEach((k, i) => {
    let s = 0;
    for (let j = 0; j < k.length; j++) {
      const a = classOf[k.charCodeAt(j)]!;
      if (next[s]![a]! < 0) {
        next[s]![a] = next.length;
        next.push(new Array<number>(classes).fill(-1));
        out.push([]);
      }
      s = next[s]![a]!;
    }
    out[s]!.push(ids[i]!);
  });
  // Failure links by breadth-first search, folded into a full transition table (a DFA).
  const fail = new Array<number>(next.length).fill(0);
  const queue: number[] = [];
  for (let a = 0; a < classes; a++) {
    const t = next[0]![a]!;
    if (t < 0) next[0]![a] = 0;
    else queue.push(t);
  }
  for (let qi = 0; qi < queue.length; qi++) {
    const s = queue[qi]!;
    out[s]!.push(...out[fail[s]!]!);
    for (let a = 0; a < classes; a++) {
      const t = next[s]![a]!;
      if (t < 0) next[s]![a] = next[fail[s]!]![a]!;
      else {
        fail[t] = next[fail[s]!]![a]!;
        queue.push(t);
      }
    }
  }
  const table = new Int32Array(next.length * classes);
  next.forEach((row, s) => {
    table.set(row, s * classes);
  });
  const outputs = out.map((o) => Int32Array.from(new Set(o)));
  const hasOut = Uint8Array.from(outputs, (o) => (o.length > 0 ? 1 : 0));

  return {
    scan(text, hit, mark) {
      let s = 0;
      const step = (a: number): void => {
        s = table[s * classes + a]!;
        if (hasOut[s] === 1) for (const id of outputs[s]!) hit[id] = mark;
      };
      for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (c < 128) {
          s = table[s * classes + classOf[c]!]!;
          if (hasOut[s] === 1) for (const id of outputs[s]!) hit[id] = mark;
        } else if (c === 0x212a) step(classOf[107]!);
        else if (c === 0x0130) {
          step(classOf[105]!);
          step(0); // U+0307 COMBINING DOT ABOVE
        } else s = 0;
      }
    },
  };
}
