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

function main(): void {
  const [path, ...rest] = process.argv.slice(2);
  if (!path) throw new Error('usage: node scripts/gen-secret-rules.ts gitleaks.toml [--version vX]');
  const version = rest[rest.indexOf('--version') + 1] ?? 'v8.28.0';
  const { root, rules } = parseToml(readFileSync(path, 'utf8'));
  const global = (root.allowlist ?? {}) as unknown as Table;
  const out = [];
  let skipped = 0;
  for (const r of rules) {
    if (typeof r.regex !== 'string' || r.path !== undefined) {
      skipped++;
      continue;
    }
    const allowlists = r.allowlists
      .filter((a) => !a.paths && !a.commits)
      .map((a) => ({
        target: (a.regexTarget as string | undefined) ?? 'secret',
        regexes: strings(a.regexes).map(goRegexToJs),
        stopwords: strings(a.stopwords).map((s) => s.toLowerCase()),
      }))
      .filter((a) => a.regexes.length > 0 || a.stopwords.length > 0);
    out.push({
      id: r.id as string,
      description: r.description as string,
      ...goRegexToJs(r.regex),
      secretGroup: typeof r.secretGroup === 'number' ? r.secretGroup : 0,
      entropy: typeof r.entropy === 'number' ? r.entropy : 0,
      keywords: strings(r.keywords).map((k) => k.toLowerCase()),
      allowlists,
    });
  }
  const doc = {
    source: `gitleaks ${version}, config/gitleaks.toml (https://github.com/gitleaks/gitleaks)`,
    license: 'MIT License, Copyright (c) 2019 Zachary Rice',
    generator: 'scripts/gen-secret-rules.ts',
    global: {
      regexes: strings(global.regexes).map(goRegexToJs),
      stopwords: strings(global.stopwords).map((s) => s.toLowerCase()),
    },
    rules: out,
  };
  const target = new URL('../src/guardrails/rules/gitleaks.json', import.meta.url);
  writeFileSync(target, `${JSON.stringify(doc, null, 1)}\n`);
  // Format as the repository's formatter would, so regenerating gives a byte-identical file.
  execFileSync('npx', ['biome', 'format', '--write', target.pathname], { stdio: 'ignore' });
  console.log(`wrote ${out.length} rules (${skipped} path-based rules skipped) to ${target.pathname}`);
}

if (import.meta.main) main();
