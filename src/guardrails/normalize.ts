/**
 * Normalisation before injection scoring: attackers hide instructions from filters with Unicode
 * tricks and encodings that a model still reads. This produces views of a text that undo them, and
 * flags that say which tricks were present (hidden text is a finding on its own).
 *
 * Every step is a single linear pass; the input is bounded (head + tail) and so are the decoded
 * payloads, so the work per request is bounded whatever the client sends.
 */

export interface NormalizeFlags {
  /** Zero-width / invisible formatting characters removed (U+200B…, U+2060…, U+FEFF, soft hyphen…). */
  invisible: number;
  /** Bidirectional controls removed (U+202A–U+202E, U+2066–U+2069): "Trojan Source" reordering. */
  bidi: number;
  /** Unicode tag characters (U+E0000 block) outside an emoji flag sequence. */
  tagChars: number;
  /** Variation selectors beyond what emoji use (byte smuggling through U+FE00…/U+E0100…). */
  variationSelectors: number;
  /** True when tag characters or variation selectors carried decodable hidden text. */
  hiddenText: boolean;
  /** Letters folded from Cyrillic/Greek look-alikes inside words that also have Latin letters. */
  homoglyphs: number;
  /** NFKC changed the text (fullwidth, mathematical alphanumerics, ligatures…). */
  compatibilityForms: boolean;
  /** Words whose digits/symbols were read as letters (1gn0r3 → ignore). */
  leet: number;
  /** Embedded payloads that decoded to readable text. */
  encoded: Array<'base64' | 'hex' | 'url'>;
  /** The input was longer than the bound: only its head and tail were looked at. */
  truncated: boolean;
}

export interface NormalizedText {
  /** NFKC, invisibles removed, homoglyphs folded, lower-cased, whitespace collapsed. */
  text: string;
  /** `text` with leetspeak folded. */
  leet: string;
  /** ROT13 of `text` (bounded): an instruction in ROT13 reads as one here. */
  rot13: string;
  /** Readable payloads decoded from base64 / hex / %-escapes, normalised like `text`. */
  decoded: string[];
  /** Text smuggled in tag characters or variation selectors, normalised like `text`. */
  hidden: string;
  flags: NormalizeFlags;
}

export interface NormalizeOptions {
  /** Characters looked at: the first 3/4 and the last 1/4 of this many. Default 32,768. */
  maxChars?: number;
  /** At most this many decoded payloads, each at most `maxDecodedChars`. Defaults 8 and 4,096. */
  maxDecoded?: number;
  maxDecodedChars?: number;
  /** ROT13 view length. Default 8,192. */
  maxRot13Chars?: number;
}

const HOMOGLYPHS: Record<string, string> = {
  // Cyrillic
  а: 'a',
  в: 'b',
  е: 'e',
  ё: 'e',
  к: 'k',
  м: 'm',
  н: 'h',
  о: 'o',
  р: 'p',
  с: 'c',
  т: 't',
  у: 'y',
  х: 'x',
  ѕ: 's',
  і: 'i',
  ї: 'i',
  ј: 'j',
  һ: 'h',
  ԁ: 'd',
  ԛ: 'q',
  ԝ: 'w',
  ӏ: 'l',
  ү: 'y',
  ɡ: 'g',
  // Greek
  α: 'a',
  β: 'b',
  γ: 'y',
  ε: 'e',
  η: 'n',
  ι: 'i',
  κ: 'k',
  ν: 'v',
  ο: 'o',
  ρ: 'p',
  τ: 't',
  υ: 'u',
  χ: 'x',
  ω: 'w',
  ϲ: 'c',
  ϳ: 'j',
  // Latin look-alikes NFKC keeps
  ı: 'i',
  ȷ: 'j',
  ʀ: 'r',
  ɑ: 'a',
  ℓ: 'l',
};

export const LEET: Record<string, string> = {
  '0': 'o',
  '1': 'i',
  '3': 'e',
  '4': 'a',
  '5': 's',
  '7': 't',
  '8': 'b',
  '9': 'g',
  '@': 'a',
  $: 's',
  '!': 'i',
  '|': 'l',
  '+': 't',
};

const isInvisible = (cp: number): boolean =>
  (cp >= 0x200b && cp <= 0x200f) ||
  (cp >= 0x2060 && cp <= 0x2064) ||
  cp === 0xfeff ||
  cp === 0x00ad ||
  cp === 0x180e ||
  cp === 0x034f ||
  cp === 0x061c ||
  cp === 0x115f ||
  cp === 0x1160 ||
  cp === 0x3164 ||
  cp === 0xffa0;
const isBidi = (cp: number): boolean => (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
const isTag = (cp: number): boolean => cp >= 0xe0000 && cp <= 0xe007f;
const BLACK_FLAG = 0x1f3f4;
const CANCEL_TAG = 0xe007f;

// \uDB40 alone: the high surrogate of the U+E0000 block (tag characters, variation selectors 17+).
const MAYBE_HIDDEN =
  // biome-ignore lint/suspicious/noMisleadingCharacterClass: the lone high surrogate is deliberate
  /[\u00AD\u034F\u061C\u115F\u1160\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2069\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uDB40]/;

/** Strip invisibles, tag characters and variation selectors; recover what they smuggled. */
function stripHidden(input: string, flags: NormalizeFlags): { visible: string; hidden: string } {
  if (!MAYBE_HIDDEN.test(input)) return { visible: input, hidden: '' };
  let visible = '';
  let hidden = '';
  let vsBytes: number[] = [];
  let prev = 0;
  let inFlag = false; // emoji flag tag sequence: U+1F3F4, tags, U+E007F (RFC: UTS #51 §2.3.1)
  const flushVs = (): void => {
    // One selector after an emoji is normal (U+FE0F); runs of them carry bytes (one per selector).
    if (vsBytes.length >= 4) {
      flags.variationSelectors += vsBytes.length;
      hidden += Buffer.from(vsBytes).toString('utf8');
    }
    vsBytes = [];
  };
  for (const ch of input) {
    const cp = ch.codePointAt(0)!;
    if (isTag(cp)) {
      if (prev === BLACK_FLAG || inFlag) {
        inFlag = cp !== CANCEL_TAG;
        visible += ch;
      } else {
        flags.tagChars++;
        if (cp >= 0xe0020 && cp < 0xe007f) hidden += String.fromCharCode(cp - 0xe0000);
      }
      prev = cp;
      continue;
    }
    inFlag = false;
    if ((cp >= 0xfe00 && cp <= 0xfe0f) || (cp >= 0xe0100 && cp <= 0xe01ef)) {
      vsBytes.push(cp <= 0xfe0f ? cp - 0xfe00 : cp - 0xe0100 + 16);
      if (vsBytes.length === 1) visible += ch; // keep a lone emoji presentation selector
      prev = cp;
      continue;
    }
    flushVs();
    if (isInvisible(cp)) flags.invisible++;
    else if (isBidi(cp)) flags.bidi++;
    else visible += ch;
    prev = cp;
  }
  flushVs();
  // A lone selector kept above was part of a smuggling run after all: drop them all.
  if (flags.variationSelectors > 0) visible = visible.replace(/[\uFE00-\uFE0F]|\uDB40[\uDD00-\uDDEF]/g, '');
  return { visible, hidden };
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: the ASCII range starts at U+0000
const ASCII = /^[\x00-\x7f]*$/;
const HOMOGLYPH_RE = new RegExp(`[${Object.keys(HOMOGLYPHS).join('')}]`, 'g');
const HOMOGLYPH_WORD = new RegExp(`\\S*[${Object.keys(HOMOGLYPHS).join('')}]\\S*`, 'g');
/**
 * Whitespace that collapsing changes: a run that starts with anything but a space, or a space
 * followed by more whitespace. A lone space (most of them) is no match, so ordinary text is not
 * rebuilt; the result equals `.replace(/\s+/g, ' ')`.
 */
const WHITESPACE = /[^\S ]\s*| \s+/g;

/** Lower-case, fold look-alikes, collapse whitespace. Counts folds inside mixed-script words. */
function foldView(s: string, flags: NormalizeFlags | null, ascii = ASCII.test(s)): string {
  const lower = s.toLowerCase();
  if (ascii) return lower.replace(WHITESPACE, ' ').trim();
  if (flags) {
    for (const m of lower.matchAll(HOMOGLYPH_WORD)) {
      // Only a word that mixes scripts is an attempt to pass for Latin; Russian text is not.
      if (/[a-z]/.test(m[0])) flags.homoglyphs += m[0].match(HOMOGLYPH_RE)?.length ?? 0;
    }
  }
  return lower
    .replace(HOMOGLYPH_RE, (c) => HOMOGLYPHS[c] ?? c)
    .replace(WHITESPACE, ' ')
    .trim();
}

/** 1: a letter a-z; 2: a character leetspeak uses for one (digits, @ $ ! | +); else 0. */
const LEET_CLASS = new Uint8Array(128);
for (let c = 97; c <= 122; c++) LEET_CLASS[c] = 1;
for (const ch of '0123456789@$!|+') LEET_CLASS[ch.charCodeAt(0)] = 2;

/**
 * Fold leetspeak only in tokens that also contain letters: "2024" and "$5" stay as they are. A
 * token is a maximal run of [a-z0-9@$!|+] of 3 or more characters (one pass, no regex callback per
 * word); a token with both letters and leet characters is read letter for letter.
 */
function foldLeet(s: string, flags: NormalizeFlags): string {
  let out = '';
  let last = 0;
  let start = -1;
  let letters = 0;
  let leets = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 0;
    const kind = c < 128 ? LEET_CLASS[c]! : 0;
    if (kind !== 0) {
      if (start < 0) {
        start = i;
        letters = 0;
        leets = 0;
      }
      if (kind === 1) letters++;
      else leets++;
      continue;
    }
    if (start >= 0 && i - start >= 3 && letters > 0 && leets > 0) {
      flags.leet++;
      out += s.slice(last, start);
      for (let j = start; j < i; j++) {
        const ch = s[j]!;
        out += LEET[ch] ?? ch;
      }
      last = i;
    }
    start = -1;
  }
  return last === 0 ? s : out + s.slice(last);
}

export function rot13(s: string): string {
  if (ASCII.test(s)) {
    // Byte-wise on a Buffer: several times faster than building a string per character.
    const buf = Buffer.from(s, 'latin1');
    for (let i = 0; i < buf.length; i++) {
      const c = buf[i]!;
      if (c >= 97 && c <= 122) buf[i] = ((c - 97 + 13) % 26) + 97;
    }
    return buf.toString('latin1');
  }
  return s.replace(/[a-z]/g, (c) => String.fromCharCode(((c.charCodeAt(0) - 97 + 13) % 26) + 97));
}

/** Decoded bytes count as text when they are valid UTF-8 and almost all printable. */
function readable(buf: Buffer): string | null {
  if (buf.length < 8) return null;
  const text = buf.toString('utf8');
  if (text.includes('\uFFFD')) return null;
  let printable = 0;
  let letters = 0;
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (c >= 0x20 || c === 0x0a || c === 0x09 || c === 0x0d) printable++;
    if (/\p{L}/u.test(ch)) letters++;
  }
  const n = [...text].length;
  return printable / n > 0.95 && letters / n > 0.5 ? text : null;
}

/** 1: a base64 or base64url character; 3: also a hex digit; else 0. */
const PAYLOAD_CHAR = new Uint8Array(128);
for (const c of 'GHIJKLMNOPQRSTUVWXYZghijklmnopqrstuvwxyz+/_-') PAYLOAD_CHAR[c.charCodeAt(0)] = 1;
for (const c of '0123456789abcdefABCDEF') PAYLOAD_CHAR[c.charCodeAt(0)] = 3;
const BASE64_MIN_RUN = 16;
const HEX_RUN = /(?<![0-9a-fA-F])(?:(?:\\x|0x)?[0-9a-fA-F]{2}[\s,:]?){8,}/g;

interface PayloadHints {
  /**
   * Maximal runs of at least 16 base64 characters, each with up to two `=` after it: what
   * `/(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{16,}={0,2}/g` finds, without a regex attempt at every
   * letter of ordinary text.
   */
  base64: string[];
  /**
   * Whether `s` can hold a HEX_RUN match: a match is 8+ pairs of adjacent hex digits, consecutive
   * pairs at most 3 characters apart (a separator and a `\x` or `0x` prefix). Counting pairs in
   * runs of 2+ hex digits, chained while the gaps stay that short, never misses a match; ordinary
   * text rarely chains 8, so the regex (an attempt at every a-f letter) rarely runs.
   */
  hex: boolean;
}

/** One pass over the text for both encodings (each pass over a text costs a few ns a character). */
function payloadHints(s: string): PayloadHints {
  const base64: string[] = [];
  let hex = false;
  let start = -1;
  let run = 0;
  let gap = 0;
  let pairs = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 0;
    const kind = c < 128 ? PAYLOAD_CHAR[c]! : 0;
    if (kind === 0) {
      if (start >= 0 && i - start >= BASE64_MIN_RUN) {
        let end = i;
        while (end < s.length && end - i < 2 && s.charCodeAt(end) === 61) end++;
        base64.push(s.slice(start, end));
      }
      start = -1;
    } else if (start < 0) start = i;
    if (kind === 3) {
      run++;
      continue;
    }
    if (run >= 2) {
      pairs = gap <= 3 ? pairs + (run >> 1) : run >> 1;
      if (pairs >= 8) hex = true;
      gap = 0;
    } else gap += run; // a lone digit (the 0 of 0x) is part of the gap
    run = 0;
    gap++;
  }
  return { base64, hex };
}

export const base64Runs = (s: string): string[] => payloadHints(s).base64;
export const mayHoldHexRun = (s: string): boolean => payloadHints(s).hex;
const URL_RUN = /(?:%[0-9a-fA-F]{2}){6,}/g;

function decodePayloads(s: string, opts: Required<NormalizeOptions>, flags: NormalizeFlags): string[] {
  const out: string[] = [];
  const add = (kind: 'base64' | 'hex' | 'url', text: string | null): void => {
    if (text === null || out.length >= opts.maxDecoded) return;
    out.push(text.slice(0, opts.maxDecodedChars));
    if (!flags.encoded.includes(kind)) flags.encoded.push(kind);
  };
  const cap = opts.maxDecodedChars * 2;
  const hints = payloadHints(s);
  for (const run of hints.base64) {
    if (out.length >= opts.maxDecoded) break;
    // Words and identifiers are not payloads: need mixed case or digits, like real base64.
    if (!/[0-9+/=]/.test(run) && !(/[a-z]/.test(run) && /[A-Z]/.test(run))) continue;
    add(
      'base64',
      readable(
        Buffer.from(run.slice(0, cap), run.includes('-') || run.includes('_') ? 'base64url' : 'base64'),
      ),
    );
  }
  for (const m of hints.hex ? s.matchAll(HEX_RUN) : []) {
    if (out.length >= opts.maxDecoded) break;
    const hex = m[0].replace(/\\x|0x|[\s,:]/g, '');
    if (hex.length % 2 === 0) add('hex', readable(Buffer.from(hex.slice(0, cap), 'hex')));
  }
  for (const m of s.includes('%') ? s.matchAll(URL_RUN) : []) {
    if (out.length >= opts.maxDecoded) break;
    try {
      add('url', decodeURIComponent(m[0].slice(0, cap * 3)));
    } catch {
      // not valid UTF-8 behind the escapes: not a text payload
    }
  }
  return out;
}

export function normalize(input: string, options: NormalizeOptions = {}): NormalizedText {
  const opts: Required<NormalizeOptions> = {
    maxChars: options.maxChars ?? 32_768,
    maxDecoded: options.maxDecoded ?? 8,
    maxDecodedChars: options.maxDecodedChars ?? 4_096,
    maxRot13Chars: options.maxRot13Chars ?? 8_192,
  };
  const flags: NormalizeFlags = {
    invisible: 0,
    bidi: 0,
    tagChars: 0,
    variationSelectors: 0,
    hiddenText: false,
    homoglyphs: 0,
    compatibilityForms: false,
    leet: 0,
    encoded: [],
    truncated: false,
  };
  let s = input;
  if (s.length > opts.maxChars) {
    const head = Math.floor((opts.maxChars * 3) / 4);
    s = `${s.slice(0, head)}\n${s.slice(s.length - (opts.maxChars - head))}`;
    flags.truncated = true;
  }
  const { visible, hidden } = stripHidden(s, flags);
  flags.hiddenText = hidden.trim().length > 0;
  const ascii = ASCII.test(visible);
  const nfkc = ascii ? visible : visible.normalize('NFKC');
  flags.compatibilityForms = nfkc !== visible;
  const text = foldView(nfkc, flags, ascii);
  const decoded = decodePayloads(nfkc, opts, flags).map((d) => foldView(d.normalize('NFKC'), null));
  let rotated: string | undefined;
  return {
    text,
    leet: foldLeet(text, flags),
    // Computed when first read: most texts never need it (injection.ts gates it on ROT13 words).
    get rot13() {
      rotated ??= rot13(text.slice(0, opts.maxRot13Chars));
      return rotated;
    },
    decoded,
    hidden: foldView(hidden.normalize('NFKC'), null),
    flags,
  };
}
