/**
 * Derives src/guardrails/rules/gitleaks.json from gitleaks' default configuration
 * (`config/gitleaks.toml`, MIT License, Copyright (c) 2019 Zachary Rice).
 *
 *   node scripts/gen-secret-rules.ts path/to/gitleaks.toml [--version v8.28.0]
 *
 * Why generated data and not a package: no npm package ships a maintained secret rule set as plain
 * data (secretlint's rules are code bound to its async engine, ~20 providers; the npm `gitleaks`
 * package holds a 2019 config of 30 rules). Gitleaks' config is the most complete maintained set.
 * The TOML used for the committed JSON is gitleaks v8.28.0's default config (the one compiled into
 * the v8.28.0 binary; upstream path `config/gitleaks.toml`).
 *
 * Gitleaks' regexes are Go RE2. We translate them to JavaScript:
 * - a leading `(?i)` becomes the `i` flag; an inline `(?i)` / `(?-i)` becomes a scoped modifier
 *   group `(?i:…)` that ends where Go's flag would (the enclosing group, re-opened after `|`);
 * - `(?P<name>` becomes `(?<name>`; `\z` becomes `$` (no `m` flag, so `$` is the end of the text, as in Go);
 * - the leading `[\w.-]{0,50}?` of the "keyword = value" rules is dropped: it only widens the match
 *   to the left and never changes the captured secret, but costs a 50-step backtrack at every
 *   position of the text.
 * Rules that need a file path (`path = …`, alone or with a regex) are skipped: a prompt has no path.
 * So are allowlists that need a path.
 *
 * Each rule also gets `anchored`: every match starts with one of its keywords (read from the regex
 * by leadingLiterals), so the scanner may try the regex only where a keyword starts.
 *
 * Portcullis's overrides (EXTRA_RULES, GLOBAL_STOPWORDS, applyOverrides; listed in the JSON's
 * `additions`) are the only places where the JSON differs from the translation; each says why.
 * Nothing in the JSON is edited by hand: change the overrides here and regenerate.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

type TomlValue = string | number | boolean | TomlValue[];
type Table = Record<string, TomlValue>;

/** Enough TOML for gitleaks' config: tables, arrays of tables, strings ('''…''', '…', "…"), numbers, arrays. */
function parseToml(text: string): { root: Table; rules: Array<Table & { allowlists: Table[] }> } {
  const root: Table = {};
  const rules: Array<Table & { allowlists: Table[] }> = [];
  let current: Table = root;
  let i = 0;
  const skipWs = (): void => {
    while (i < text.length) {
      const c = text[i]!;
      if (c === '#') {
        while (i < text.length && text[i] !== '\n') i++;
      } else if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === ',') i++;
      else break;
    }
  };
  const readValue = (): TomlValue => {
    skipWs();
    if (text.startsWith("'''", i)) {
      const end = text.indexOf("'''", i + 3);
      const v = text.slice(i + 3, end);
      i = end + 3;
      return v;
    }
    const c = text[i];
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      const v = text.slice(i + 1, end);
      i = end + 1;
      return v;
    }
    if (c === '"') {
      let v = '';
      i++;
      while (text[i] !== '"') {
        if (text[i] === '\\') {
          const n = text[i + 1]!;
          v += n === 'n' ? '\n' : n === 't' ? '\t' : n;
          i += 2;
        } else v += text[i++];
      }
      i++;
      return v;
    }
    if (c === '[') {
      i++;
      const arr: TomlValue[] = [];
      for (;;) {
        skipWs();
        if (text[i] === ']') {
          i++;
          return arr;
        }
        arr.push(readValue());
      }
    }
    const m = /^[^\s,\]]+/.exec(text.slice(i, i + 64));
    if (!m) throw new Error(`unparsable value at ${i}`);
    i += m[0].length;
    if (m[0] === 'true' || m[0] === 'false') return m[0] === 'true';
    return Number(m[0]);
  };
  while (i < text.length) {
    skipWs();
    if (i >= text.length) break;
    if (text.startsWith('[[rules.allowlists]]', i)) {
      current = {};
      rules.at(-1)!.allowlists.push(current);
      i += 20;
    } else if (text.startsWith('[[rules]]', i)) {
      const rule = { allowlists: [] as Table[] };
      rules.push(rule as Table & { allowlists: Table[] });
      current = rule as unknown as Table;
      i += 9;
    } else if (text[i] === '[') {
      const end = text.indexOf(']', i);
      const name = text.slice(i + 1, end);
      const t: Table = {};
      root[name] = t as unknown as TomlValue;
      current = t;
      i = end + 1;
    } else {
      const eq = text.indexOf('=', i);
      const key = text.slice(i, eq).trim();
      i = eq + 1;
      current[key] = readValue();
    }
  }
  return { root, rules };
}

/** Translate one Go RE2 pattern to a JavaScript source + flags (see the header for the rules). */
export function goRegexToJs(go: string): { source: string; flags: string } {
  let src = go;
  let flags = '';
  if (src.startsWith('(?i)')) {
    src = src.slice(4);
    flags = 'i';
  }
  src = src.replace(/^(?:\[\\w\.-\]\{0,50\}\?)/, '');
  if (src.startsWith('(?i:[\\w.-]{0,50}?')) src = `(?i:${src.slice('(?i:[\\w.-]{0,50}?'.length)}`;
  let out = '';
  // One entry per open group: the inline flag groups opened at that level that must be closed.
  const stack: string[][] = [[]];
  let inClass = false;
  for (let k = 0; k < src.length; k++) {
    const c = src[k]!;
    if (c === '\\') {
      const n = src[k + 1];
      out += n === 'z' ? '$' : c + (n ?? '');
      k++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      out += c;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += c;
      if (src[k + 1] === ']' || src[k + 1] === '^') out += src[++k];
      continue;
    }
    if (c === '(') {
      const inline = /^\(\?(-?[ims]+)\)/.exec(src.slice(k));
      if (inline) {
        out += `(?${inline[1]}:`;
        stack.at(-1)!.push(inline[1]!);
        k += inline[0].length - 1;
        continue;
      }
      stack.push([]);
      // Go's named group `(?P<name>…)` is JavaScript's `(?<name>…)`.
      if (src.startsWith('(?P<', k)) {
        out += '(?<';
        k += 3;
      } else out += c;
      continue;
    }
    if (c === '|') {
      const open = stack.at(-1)!;
      out += `${')'.repeat(open.length)}|${open.map((f) => `(?${f}:`).join('')}`;
      continue;
    }
    if (c === ')') {
      out += `${')'.repeat(stack.pop()!.length)})`;
      continue;
    }
    out += c;
  }
  out += ')'.repeat(stack.pop()!.length);
  new RegExp(out, flags); // throws on anything we failed to translate
  return { source: out, flags };
}

const strings = (v: TomlValue | undefined): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];

/**
 * Lower-cased literal texts that a match of the JavaScript regex `source` can start with; '' in the
 * result means that some match may start otherwise. Understands literals, escaped punctuation, small
 * character classes, groups, alternation and quantifiers; anything else (`.`, `\w`, lookarounds, big
 * classes) ends the prefix where it stands — a prefix cut short is still a prefix, so the answer is
 * never wrong, only sometimes shorter than it could be.
 */
export function leadingLiterals(source: string): string[] {
  const MAX_TEXTS = 64;
  let i = 0;
  type Run = { texts: string[]; open: boolean }; // open: the whole run was literal
  const product = (a: string[], b: string[]): string[] => [...new Set(a.flatMap((x) => b.map((y) => x + y)))];
  /** Moves past the rest of the current alternative (to its `|` or `)`), minding escapes, classes and groups. */
  const skipAlternative = (): void => {
    for (let depth = 0; i < source.length; i++) {
      const c = source[i];
      if (c === '\\') i++;
      else if (c === '[') {
        for (i++; i < source.length && source[i] !== ']'; i++) if (source[i] === '\\') i++;
      } else if (c === '(') depth++;
      else if (c === ')' && depth-- === 0) return;
      else if (c === '|' && depth === 0) return;
    }
  };
  const charClass = (): string[] | null => {
    const out = new Set<string>();
    let known = source[i] !== '^';
    for (; i < source.length && source[i] !== ']'; i++) {
      let c = source[i]!;
      if (c === '\\') {
        c = source[++i] ?? '';
        if (/\w/.test(c)) known = false; // \w, \s, \d, \x60, \t…: not read here
      }
      if (source[i + 1] === '-' && source[i + 2] !== ']' && source[i + 2] !== undefined) {
        const to = source[i + 2] === '\\' ? source[i + 3]! : source[i + 2]!;
        const span = to.charCodeAt(0) - c.charCodeAt(0);
        if (span < 0 || span > 8) known = false;
        else for (let k = 0; k <= span; k++) out.add(String.fromCharCode(c.charCodeAt(0) + k).toLowerCase());
        i += source[i + 2] === '\\' ? 3 : 2;
      } else out.add(c.toLowerCase());
    }
    i++; // ]
    return known ? [...out] : null;
  };
  const atom = (): Run | null => {
    const c = source[i++]!;
    if (c === '\\') {
      const e = source[i++] ?? '';
      if (e === 'b' || e === 'B') return { texts: [''], open: true };
      return /\w/.test(e) ? null : { texts: [e], open: true };
    }
    if (c === '[') {
      const chars = charClass();
      return chars ? { texts: chars, open: true } : null;
    }
    if (c === '(') {
      const head = source[i] === '?' ? /^\?(?::|[ims-]+:|<(?![=!])[\w$]+>)/.exec(source.slice(i))?.[0] : '';
      if (head === undefined) {
        i--; // a lookaround: let skipAlternative step over the whole group
        return null;
      }
      i += head.length;
      const inner = alternation();
      i++; // )
      return inner;
    }
    if (c === '^' || c === '$') return { texts: [''], open: true };
    if (c === '.') return null;
    return { texts: [c.toLowerCase()], open: true };
  };
  const quantifier = (): [number, number] => {
    const m = /^(?:\?|\*|\+|\{(\d+)(?:(,)(\d*))?\})\??/.exec(source.slice(i));
    if (!m) return [1, 1];
    i += m[0].length;
    if (m[0][0] === '?') return [0, 1];
    if (m[0][0] === '*') return [0, Number.POSITIVE_INFINITY];
    if (m[0][0] === '+') return [1, Number.POSITIVE_INFINITY];
    const min = Number(m[1]);
    return [min, m[2] ? (m[3] ? Number(m[3]) : Number.POSITIVE_INFINITY) : min];
  };
  const sequence = (): Run => {
    let texts = [''];
    while (i < source.length && source[i] !== '|' && source[i] !== ')') {
      const a = atom();
      const [min, max] = a ? quantifier() : [1, 1];
      const options = a && min === 0 ? [...a.texts, ''] : a?.texts;
      if (!a || !options || texts.length * options.length > MAX_TEXTS || (min === 0 && max > 1)) {
        skipAlternative();
        return { texts, open: false };
      }
      texts = product(texts, options);
      if (!a.open || max > 1) {
        skipAlternative();
        return { texts, open: false };
      }
    }
    return { texts, open: true };
  };
  function alternation(): Run {
    const texts = new Set<string>();
    let open = true;
    for (;;) {
      const run = sequence();
      for (const t of run.texts) texts.add(t);
      open &&= run.open;
      if (source[i] !== '|') return { texts: [...texts], open };
      i++;
    }
  }
  return alternation().texts;
}

type RuleTable = Table & { allowlists: Table[] };

/** One gitleaks rule as our JSON holds it. */
function translateRule(r: RuleTable) {
  const allowlists = r.allowlists
    .filter((a) => !a.paths && !a.commits)
    .map((a) => ({
      target: (a.regexTarget as string | undefined) ?? 'secret',
      regexes: strings(a.regexes).map(goRegexToJs),
      stopwords: strings(a.stopwords).map((s) => s.toLowerCase()),
    }))
    .filter((a) => a.regexes.length > 0 || a.stopwords.length > 0);
  const regex = goRegexToJs(r.regex as string);
  const keywords = strings(r.keywords).map((k) => k.toLowerCase());
  const starts = leadingLiterals(regex.source);
  return {
    id: r.id as string,
    description: r.description as string,
    ...regex,
    secretGroup: typeof r.secretGroup === 'number' ? r.secretGroup : 0,
    entropy: typeof r.entropy === 'number' ? r.entropy : 0,
    keywords,
    // Every match starts with one of the keywords: the scanner need try the regex only there.
    anchored: starts.every((s) => keywords.some((k) => s.startsWith(k))) && keywords.length > 0,
    allowlists,
  };
}
/** The translation of a gitleaks TOML, without our overrides. */
export function translateConfig(toml: string, version: string) {
  const { root, rules } = parseToml(toml);
  const global = (root.allowlist ?? {}) as unknown as Table;
  const pathRules = rules.filter((r) => typeof r.regex !== 'string' || r.path !== undefined);
  return {
    source: `gitleaks ${version}, config/gitleaks.toml (https://github.com/gitleaks/gitleaks)`,
    license: 'MIT License, Copyright (c) 2019 Zachary Rice',
    generator: 'scripts/gen-secret-rules.ts',
    additions: [] as string[],
    global: {
      regexes: strings(global.regexes).map(goRegexToJs),
      stopwords: strings(global.stopwords).map((s) => s.toLowerCase()),
    },
    rules: rules.filter((r) => !pathRules.includes(r)).map(translateRule),
    skipped: pathRules.length,
  };
}

// ---- Portcullis's overrides: the only places where the JSON differs from the translation. ----

/**
 * Rules gitleaks defines (cmd/generate/config/rules/*.go) but does not ship in the default config.
 * square-secret: `SquareSecret()` in square.go, absent from v8.28.0's config, so a Square OAuth
 * secret (`sq0csp-` + 43) went unreported. gitleaks' own true-positive samples for it are drawn from
 * `[0-9A-Za-z\\-_]` — in Go that is 0-9A-Za-z plus the range `\`..`_` (`\ ] ^ _`) — while the rule
 * says `[\w-]`; the body class here is the union, so both the samples and base64url secrets match.
 * The literal `sq0csp-` prefix and the fixed length keep it as narrow as upstream's.
 */
const EXTRA_RULES: RuleTable[] = [
  {
    id: 'square-secret',
    description:
      'Detected a Square OAuth application secret, risking unauthorized payment processing and financial data exposure.',
    regex: String.raw`\b(sq0csp-[\w\\\]^-]{43})(?:[\x60'"\s;]|\\[nr]|$)`,
    entropy: 2,
    keywords: ['sq0csp-'],
    allowlists: [],
  },
];

/** Consecutive runs of `n` characters of an alphabet: "abcdefghij", "bcdefghijk", … */
const runsOf = (alphabet: string, n: number): string[] =>
  Array.from({ length: alphabet.length - n + 1 }, (_, k) => alphabet.slice(k, k + n));

/**
 * Global stopwords added to gitleaks' own (which already hold "abcdefghijklmnopqrstuvwxyz"):
 * a run of 10 consecutive letters or digits is typed, not random (a random base62 string holds one
 * with odds below 1e-15), and "..." marks an elided value ("ops_eyJ...", "sk-abc...xyz").
 */
const GLOBAL_STOPWORDS = ['...', ...runsOf('abcdefghijklmnopqrstuvwxyz', 10), ...runsOf('0123456789', 10)];

/**
 * Words in a key's name that say its value is not a real one ("fakeToken", "invalid_api_key"), and
 * pairs of segments that do ("nonMatchingToken", "NOT_REAL_KEY"). Lower-case; notRealKeyName()
 * builds the regex.
 */
const NOT_REAL_WORDS = ['fake', 'dummy', 'mock', 'bogus', 'placeholder', 'wrong', 'invalid'];
const NOT_REAL_PAIR = [
  ['non', 'not'],
  ['valid', 'matching', 'real'],
] as const;

/**
 * A regex for the `match` allowlist that finds a NOT_REAL word or pair as a whole segment of the key's name,
 * never inside a longer word ("MOCKAROO_API_KEY", "cache_invalidation_secret" and "HAMMOCK_TOKEN"
 * are real keys) and never in the value. The name is the run of `[\w.-]` the match starts with
 * (the generic rule puts an `=`, `:`, `>`, `,` or quote between name and value). Segments are split
 * at `_ . -`, digits and camelCase boundaries, so case matters and the regex has no `i` flag: a
 * word is written lower-case ("fake"), capitalised ("Fake") or upper-case ("FAKE"); before it
 * stands no letter (lower-case form) or no capital (the others, so "myFakeKey" counts); after it
 * no lower-case letter, and after the upper-case form no capital that starts another upper-case
 * run either ("FAKEToken" counts, "INVALIDATION" does not).
 */
function notRealKeyName(): string {
  const forms = (words: readonly string[]) => {
    const alt = (ws: string[]) => `(?:${ws.join('|')})`;
    return [
      { re: alt([...words]), before: '(?<![A-Za-z])', after: '(?![a-z])' },
      {
        re: alt(words.map((w) => w[0]!.toUpperCase() + w.slice(1))),
        before: '(?<![A-Z])',
        after: '(?![a-z])',
      },
      { re: alt(words.map((w) => w.toUpperCase())), before: '(?<![A-Z])', after: '(?![a-z]|[A-Z](?![a-z]))' },
    ];
  };
  const terms = forms(NOT_REAL_WORDS).map((f) => f.before + f.re + f.after);
  for (const a of forms(NOT_REAL_PAIR[0]))
    for (const b of forms(NOT_REAL_PAIR[1])) terms.push(`${a.before}${a.re}[_.-]?${b.re}${b.after}`);
  return `^[\\w.-]*?(?:${terms.join('|')})`;
}

/**
 * Sorted, with texts that another one starts dropped, and a character-class fan-out folded back into
 * its stem ("age-secret-key-1q", "age-secret-key-1p", … → "age-secret-key-1").
 */
function tidyPrefixes(texts: string[]): string[] {
  let set = new Set(texts);
  for (let changed = true; changed; ) {
    changed = false;
    const byStem = new Map<string, number>();
    for (const t of set) byStem.set(t.slice(0, -1), (byStem.get(t.slice(0, -1)) ?? 0) + 1);
    for (const [stem, n] of byStem) {
      if (n < 3 || stem.length < 4) continue;
      set = new Set([...set].filter((t) => t.slice(0, -1) !== stem).concat(stem));
      changed = true;
    }
  }
  const sorted = [...set].sort();
  return sorted.filter((t) => !sorted.some((o) => o !== t && t.startsWith(o)));
}

function applyOverrides(doc: ReturnType<typeof translateConfig>): void {
  const extra = EXTRA_RULES.map(translateRule).filter((x) => !doc.rules.some((r) => r.id === x.id));
  doc.rules = [...doc.rules, ...extra].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  doc.global.stopwords = [...new Set([...doc.global.stopwords, ...GLOBAL_STOPWORDS])];
  const generic = doc.rules.find((r) => r.id === 'generic-api-key');
  if (!generic) throw new Error('generic-api-key not found');
  // A provider's token format owns its prefix: a value starting with another rule's literal token
  // prefix ("xoxp-", "sm_pat_", "ops_eyJ") that this rule did not report is that provider's token
  // in the wrong shape (cut short, a placeholder), not an unknown secret. Prefixes are derived from
  // the token rules (no `key = value` context) and kept only when distinctive: a separator and at
  // least 4 letters and digits, and not a version. A short one ("api-", "pat.", "npm_", "gho_",
  // "ext_") or a version ("v1.0-") also starts many values that are nobody's token format, and a
  // real secret with such a start would be lost when that provider's own rule does not match it.
  const distinctive = (p: string): boolean =>
    /^[\w.~-]+$/.test(p) &&
    /[_.~-]/.test(p) &&
    p.replace(/[^a-z0-9]/gi, '').length >= 4 &&
    !/^v?\d+(?:\.\d+)+/i.test(p);
  const prefixes = new Set<string>();
  for (const r of doc.rules) {
    if (r.id.startsWith('generic') || r.source.includes(':{1,3}=')) continue;
    for (const p of leadingLiterals(r.source)) if (distinctive(p)) prefixes.add(p);
  }
  const escaped = tidyPrefixes([...prefixes])
    .filter(distinctive)
    .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  generic.allowlists.push(
    { target: 'secret', regexes: [{ source: `^(?:${escaped.join('|')})`, flags: 'i' }], stopwords: [] },
    {
      target: 'match',
      regexes: [{ source: notRealKeyName(), flags: '' }],
      stopwords: [],
    },
  );
  doc.additions = [
    `rule ${extra.map((r) => r.id).join(', ')}: defined by gitleaks' generator but not shipped in its config`,
    'global stopwords: "..." (an elided value) and every run of 10 consecutive letters or digits (typed, not random)',
    'generic-api-key allowlist (secret): values starting with a distinctive token prefix of another rule (that rule decides)',
    'generic-api-key allowlist (match): key names with a whole segment saying the value is not real (fake, dummy, mock, invalid, …)',
  ];
}

function main(): void {
  const [path, ...rest] = process.argv.slice(2);
  if (!path) throw new Error('usage: node scripts/gen-secret-rules.ts gitleaks.toml [--version vX]');
  const version = rest[rest.indexOf('--version') + 1] ?? 'v8.28.0';
  const translated = translateConfig(readFileSync(path, 'utf8'), version);
  applyOverrides(translated);
  const { skipped, ...doc } = translated;
  const target = new URL('../src/guardrails/rules/gitleaks.json', import.meta.url);
  writeFileSync(target, `${JSON.stringify(doc, null, 1)}\n`);
  // Format as the repository's formatter would, so regenerating gives a byte-identical file.
  execFileSync('npx', ['biome', 'format', '--write', target.pathname], { stdio: 'ignore' });
  console.log(`wrote ${doc.rules.length} rules (${skipped} path-based rules skipped) to ${target.pathname}`);
}

if (import.meta.main) main();
