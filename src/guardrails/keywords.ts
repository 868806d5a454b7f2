/**
 * Aho-Corasick keyword automaton (Aho & Corasick 1975): one pass over a text finds every keyword
 * that occurs, case-insensitively, whatever the number of keywords — one table lookup per
 * character, where a regex alternation of hundreds of keywords costs V8 a backtracking attempt per
 * keyword at many positions. Used by the secret scanner's prefilter (where each keyword starts)
 * and the injection scorer's pattern prefilter (which keywords occur).
 */

/** Where keywords occur in a text: `count` hits, each a keyword index and its start offset. */
export interface KeywordHits {
  count: number;
  keyword: Int32Array;
  start: Int32Array;
}

/**
 * Aho-Corasick automaton (Aho & Corasick 1975) over ASCII keywords, as a full transition table read
 * one UTF-16 code unit at a time. The text is copied into a Uint16Array with one native call
 * (`Buffer#write` as UTF-16LE), which V8 reads much faster than `charCodeAt`. ASCII case folds;
 * so do the two non-ASCII characters whose lower case is ASCII (U+212A KELVIN SIGN → "k",
 * U+0130 → "i"), so the scan finds every keyword that the lower-cased text holds (and, as U+0130
 * really lower-cases to "i" + U+0307, a few more: harmless in a prefilter).
 */
export function createKeywordAutomaton(
  keywords: readonly string[],
): (text: string, hits: KeywordHits) => void {
  const classOf = new Uint8Array(65536); // code unit → alphabet class (0: no keyword has it)
  let classes = 1;
  for (const k of keywords)
    for (let i = 0; i < k.length; i++)
      if (classOf[k.charCodeAt(i)] === 0) classOf[k.charCodeAt(i)] = classes++;
  for (let c = 65; c <= 90; c++) classOf[c] = classOf[c + 32]!;
  classOf[0x212a] = classOf[0x6b]!;
  classOf[0x0130] = classOf[0x69]!;
  const next: number[][] = [new Array<number>(classes).fill(-1)];
  const out: number[][] = [[]];
  keywords.forEach((k, id) => {
    let s = 0;
    for (let i = 0; i < k.length; i++) {
      const a = classOf[k.charCodeAt(i)]!;
      if (next[s]![a]! < 0) {
        next[s]![a] = next.length;
        next.push(new Array<number>(classes).fill(-1));
        out.push([]);
      }
      s = next[s]![a]!;
    }
    out[s]!.push(id);
  });
  const fail = new Array<number>(next.length).fill(0);
  const queue: number[] = [];
  for (let a = 0; a < classes; a++) {
    if (next[0]![a]! < 0) next[0]![a] = 0;
    else queue.push(next[0]![a]!);
  }
  for (const s of queue) {
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
  // Entry = target state × classes (the row offset), shifted left, low bit set when keywords end there.
  const table = new Int32Array(next.length * classes);
  next.forEach((row, s) => {
    row.forEach((t, a) => {
      table[s * classes + a] = ((t * classes) << 1) | (out[t]!.length > 0 ? 1 : 0);
    });
  });
  const outStart = new Int32Array(next.length + 1);
  out.forEach((o, s) => {
    outStart[s + 1] = outStart[s]! + o.length;
  });
  const outKeyword = Int32Array.from(out.flat());
  const keywordLength = Int32Array.from(keywords, (k) => k.length);
  const longest = Math.max(1, ...keywordLength);
  // The copy of the text; kept between calls up to 1 Mi units (2 MB), per call beyond.
  const KEPT = 1 << 20;
  let kept = new Uint16Array(4096);
  let keptBytes = Buffer.from(kept.buffer);
  const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  const report = (hits: KeywordHits, at: number, s: number): void => {
    const state = s / classes;
    for (let o = outStart[state]!; o < outStart[state + 1]!; o++) {
      if (hits.count === hits.keyword.length) {
        const grow = (a: Int32Array): Int32Array => {
          const b = new Int32Array(a.length * 2);
          b.set(a);
          return b;
        };
        hits.keyword = grow(hits.keyword);
        hits.start = grow(hits.start);
      }
      const k = outKeyword[o]!;
      hits.keyword[hits.count] = k;
      hits.start[hits.count++] = at + 1 - keywordLength[k]!;
    }
  };

  return (text, hits) => {
    const len = text.length;
    if (kept.length < len && len <= KEPT) {
      kept = new Uint16Array(Math.min(KEPT, Math.max(len, kept.length * 2)));
      keptBytes = Buffer.from(kept.buffer);
    }
    const units = len <= kept.length ? kept : new Uint16Array(len);
    const bytes = units === kept ? keptBytes : Buffer.from(units.buffer);
    if (littleEndian) bytes.write(text, 0, 'utf16le');
    else for (let i = 0; i < len; i++) units[i] = text.charCodeAt(i);
    hits.count = 0;
    // Two runs, over the two halves, advance side by side: each table lookup waits for the one
    // before it in its run, so two runs keep two lookups in flight (~25 % faster). The second run
    // starts `longest - 1` units before the middle, so it has seen the whole of any keyword that
    // ends in its half, and reports only from the middle on.
    const mid = len >> 1;
    let a = 0;
    let b = 0;
    for (let j = Math.max(0, mid - longest + 1); j < mid; j++) b = table[b + classOf[units[j]!]!]! >> 1;
    for (let i = 0, j = mid; j < len; i++, j++) {
      const eb = table[b + classOf[units[j]!]!]!;
      b = eb >> 1;
      if ((eb & 1) !== 0) report(hits, j, b);
      if (i < mid) {
        const ea = table[a + classOf[units[i]!]!]!;
        a = ea >> 1;
        if ((ea & 1) !== 0) report(hits, i, a);
      }
    }
  };
}

export interface KeywordMatcher {
  /** Marks `hit[id] = mark` for the id of every keyword found in `text`. */
  scan(text: string, hit: Uint32Array, mark: number): void;
}

/** Which keywords occur, as ids: ASCII keywords (lower-cased); `ids[i]` is what keyword i reports. */
export function createKeywordMatcher(keywords: readonly string[], ids: readonly number[]): KeywordMatcher {
  const index = new Map<string, number[]>();
  keywords.forEach((k, i) => {
    for (let j = 0; j < k.length; j++)
      if (k.charCodeAt(j) >= 128) throw new Error(`keyword must be ASCII: ${k}`);
    const key = k.toLowerCase();
    const list = index.get(key);
    if (list) list.push(ids[i]!);
    else index.set(key, [ids[i]!]);
  });
  const idsOf = [...index.values()];
  const find = createKeywordAutomaton([...index.keys()]);
  const hits: KeywordHits = { count: 0, keyword: new Int32Array(256), start: new Int32Array(256) };
  return {
    scan(text, hit, mark) {
      find(text, hits);
      for (let i = 0; i < hits.count; i++) for (const id of idsOf[hits.keyword[i]!]!) hit[id] = mark;
    },
  };
}
