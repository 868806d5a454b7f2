/**
 * Required literals of a regular expression: a set of strings at least one of which occurs in
 * every text the expression matches. A keyword scan (keywords.ts) over a text then tells, for many
 * expressions at once, which ones cannot match and need not run — the prefilter idea of RE2's
 * `FilteredRE2` and Hyperscan, reduced to what the injection patterns need.
 *
 * The analysis is conservative: anything it does not understand (classes, `.`, escapes such as
 * `\s`, backreferences) counts as "some character", which ends a literal; when an alternative
 * has no required literal, neither has the alternation. A wrong answer here would hide a match,
 * so every construct outside the small understood set is treated as unknown, never guessed.
 * Literals are lower-cased; use them only for expressions matched against lower-cased text
 * without the `i` flag (or with it: the keyword scan folds ASCII case).
 */

type Item =
  | { kind: 'char'; ch: string; min: number; max: number }
  | { kind: 'group'; alts: Item[][]; min: number; max: number }
  | { kind: 'zero' }
  | { kind: 'other' };

/** Most strings a run of literals may fan out to before it is cut (optional parts multiply). */
const MAX_FANOUT = 64;

class Parser {
  private i = 0;
  private readonly src: string;
  constructor(src: string) {
    this.src = src;
  }

  parse(): Item[][] {
    const alts = this.alternation();
    if (this.i !== this.src.length) throw new Error('unbalanced )');
    return alts;
  }

  private alternation(): Item[][] {
    const alts: Item[][] = [this.sequence()];
    while (this.src[this.i] === '|') {
      this.i++;
      alts.push(this.sequence());
    }
    return alts;
  }

  private sequence(): Item[] {
    const seq: Item[] = [];
    while (this.i < this.src.length && this.src[this.i] !== '|' && this.src[this.i] !== ')') {
      const atom = this.atom();
      seq.push(this.quantified(atom));
    }
    return seq;
  }

  private atom(): Item {
    const s = this.src;
    const c = s[this.i++]!;
    if (c === '\\') {
      const e = s[this.i++];
      if (e === undefined) throw new Error('trailing backslash');
      if (e === 'b' || e === 'B') return { kind: 'zero' };
      // Any escaped non-alphanumeric is that character itself (identity escape, without the u flag).
      if (!/[A-Za-z0-9]/.test(e)) return { kind: 'char', ch: e, min: 1, max: 1 };
      // Escapes of one character whose spelling varies (\x41, \u0041, \12 octal, \cJ…): "some
      // character". Spellings that would read differently without the u flag are refused.
      const expect = (re: RegExp): void => {
        const m = re.exec(s.slice(this.i));
        if (!m) throw new Error(`unsupported escape \\${e}`);
        this.i += m[0].length;
      };
      if (e === 'u') expect(/^[0-9a-fA-F]{4}/);
      else if (e === 'x') expect(/^[0-9a-fA-F]{2}/);
      else if (e === 'c') expect(/^[a-zA-Z]/);
      else if (/[0-9]/.test(e)) expect(/^[0-9]*/);
      else if (e === 'p' || e === 'P' || e === 'k') throw new Error(`unsupported escape \\${e}`);
      else if (!/[dDwWsSnrtfv]/.test(e)) throw new Error(`unsupported escape \\${e}`);
      return { kind: 'other' };
    }
    if (c === '[') {
      // In JavaScript a "]" right after "[" or "[^" closes the class ([] and [^] are classes).
      if (s[this.i] === '^') this.i++;
      while (this.i < s.length && s[this.i] !== ']') this.i += s[this.i] === '\\' ? 2 : 1;
      if (this.i >= s.length) throw new Error('unterminated class');
      this.i++;
      return { kind: 'other' };
    }
    if (c === '(') {
      let lookaround = false;
      if (s[this.i] === '?') {
        const head = s.slice(this.i, this.i + 3);
        if (head.startsWith('?:')) this.i += 2;
        else if (head.startsWith('?=') || head.startsWith('?!')) {
          this.i += 2;
          lookaround = true;
        } else if (head === '?<=' || head === '?<!') {
          this.i += 3;
          lookaround = true;
        } else if (head.startsWith('?<')) this.i = s.indexOf('>', this.i) + 1;
        else throw new Error(`unsupported group (${head}`);
      }
      const alts = this.alternation();
      if (s[this.i] !== ')') throw new Error('unterminated group');
      this.i++;
      return lookaround ? { kind: 'zero' } : { kind: 'group', alts, min: 1, max: 1 };
    }
    if (c === '^' || c === '$') return { kind: 'zero' };
    if (c === '.') return { kind: 'other' };
    if (c === '*' || c === '+' || c === '?') throw new Error('nothing to repeat');
    if (c === '{' && /^\{\d+(,\d*)?\}/.test(s.slice(this.i - 1))) throw new Error('nothing to repeat');
    return { kind: 'char', ch: c.toLowerCase(), min: 1, max: 1 };
  }

  private quantified(atom: Item): Item {
    const s = this.src;
    let min = 1;
    let max = 1;
    const q = s[this.i];
    if (q === '?') [min, max] = [0, 1];
    else if (q === '*') [min, max] = [0, Number.POSITIVE_INFINITY];
    else if (q === '+') [min, max] = [1, Number.POSITIVE_INFINITY];
    else if (q === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(s.slice(this.i));
      if (!m) return atom; // a literal "{" in web syntax: treated as a char by atom() on the next turn
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === '' ? Number.POSITIVE_INFINITY : Number(m[3]);
      this.i += m[0].length - 1;
    } else return atom;
    this.i++;
    if (s[this.i] === '?') this.i++; // lazy: same language
    if (atom.kind === 'zero') return atom;
    if (atom.kind === 'other') return min === 0 ? { kind: 'other' } : atom;
    return { ...atom, min, max };
  }
}

/** Every full string an item sequence can be, when it is made of literals only (else null). */
function pureStrings(seq: readonly Item[]): string[] | null {
  let cur = [''];
  for (const item of seq) {
    if (item.kind === 'zero') continue;
    if (item.kind === 'other' || item.max > 1) return null;
    let options: string[] | null;
    if (item.kind === 'char') options = [item.ch];
    else {
      options = [];
      for (const alt of item.alts) {
        const strings = pureStrings(alt);
        if (!strings) return null;
        options.push(...strings);
      }
    }
    if (item.min === 0) options = [...options, ''];
    if (cur.length * options.length > MAX_FANOUT) return null;
    cur = cur.flatMap((a) => options.map((b) => a + b));
  }
  return cur;
}

/** Candidate sets of a sequence: each set holds strings one of which every match contains. */
function candidates(seq: readonly Item[]): string[][] {
  const out: string[][] = [];
  let cur = [''];
  const emit = (): void => {
    const set = [...new Set(cur)];
    if (set.every((s) => s.length > 0)) out.push(set);
    cur = [''];
  };
  for (const item of seq) {
    if (item.kind === 'zero') continue;
    if (item.kind === 'other') {
      emit();
      continue;
    }
    if (item.kind === 'char' && item.max === 1) {
      const options = item.min === 0 ? [item.ch, ''] : [item.ch];
      if (cur.length * options.length > MAX_FANOUT) emit();
      cur = cur.flatMap((a) => options.map((b) => a + b));
      continue;
    }
    if (item.kind === 'char') {
      // Repeated: one copy is certain when min ≥ 1; what follows is not adjacent to a known text.
      if (item.min >= 1) cur = cur.map((a) => a + item.ch);
      emit();
      continue;
    }
    // A group: extend the current run when its alternatives are plain strings, else cut here and
    // let the group (when required) offer its own best set.
    let strings = item.max === 1 ? pureStringsOfAlts(item.alts) : null;
    if (strings && item.min === 0) strings = [...strings, ''];
    if (strings && cur.length * strings.length <= MAX_FANOUT) {
      const options = strings;
      cur = cur.flatMap((a) => options.map((b) => a + b));
      continue;
    }
    emit();
    if (item.min >= 1) {
      const inner = bestOfAlternation(item.alts);
      if (inner) out.push(inner);
    }
  }
  emit();
  return out;
}

function pureStringsOfAlts(alts: readonly Item[][]): string[] | null {
  const out: string[] = [];
  for (const alt of alts) {
    const strings = pureStrings(alt);
    if (!strings) return null;
    out.push(...strings);
  }
  return out.length <= MAX_FANOUT ? out : null;
}

/** Prefer the set whose shortest string is longest (rarer in text), then the smaller set. */
function better(a: string[], b: string[]): boolean {
  const minA = Math.min(...a.map((s) => s.length));
  const minB = Math.min(...b.map((s) => s.length));
  return minA !== minB ? minA > minB : a.length < b.length;
}

function bestOfSequence(seq: readonly Item[]): string[] | null {
  let best: string[] | null = null;
  for (const set of candidates(seq)) if (!best || better(set, best)) best = set;
  return best;
}

function bestOfAlternation(alts: readonly Item[][]): string[] | null {
  const union = new Set<string>();
  for (const alt of alts) {
    const best = bestOfSequence(alt);
    if (!best) return null;
    for (const s of best) union.add(s);
  }
  return [...union];
}

/** Drops strings that contain another one of the set: the shorter already implies the longer. */
function minimal(set: readonly string[]): string[] {
  const sorted = [...set].sort((a, b) => a.length - b.length);
  const kept: string[] = [];
  for (const s of sorted) if (!kept.some((k) => s.includes(k))) kept.push(s);
  return kept;
}

/**
 * Strings one of which every match of `source` contains, or null when none can be derived (the
 * expression must then always run). Throws on syntax it cannot read, so a pattern it would
 * misjudge fails at start-up rather than going unchecked.
 */
export function requiredLiterals(source: string): string[] | null {
  const best = bestOfAlternation(new Parser(source).parse());
  return best ? minimal(best) : null;
}

/**
 * Several such sets at once, each one necessary on its own (a match holds a string of every
 * set): the expression can only match a text that has all of them. Best sets first, at most
 * `max`; empty when none can be derived.
 */
export function requiredLiteralSets(source: string, max = 3): string[][] {
  const alts = new Parser(source).parse();
  if (alts.length !== 1) {
    const best = bestOfAlternation(alts);
    return best ? [minimal(best)] : [];
  }
  const sets = candidates(alts[0]!).map(minimal);
  sets.sort((a, b) => (better(a, b) ? -1 : better(b, a) ? 1 : 0));
  return sets.slice(0, max);
}
