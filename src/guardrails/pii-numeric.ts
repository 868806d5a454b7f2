/**
 * The PII entities that always contain a digit — cards, IBANs, US SSNs, IP addresses, dates of
 * birth, street addresses — found from the text's digit runs (phone numbers, which use the same
 * runs: pii-phones.ts). A regex candidate counts only when it validates (pii-validators.ts): Luhn
 * + issuer for cards (without a known issuer: Luhn, a payment industry's first digit and a card
 * word right before the number, with lower confidence), mod 97 + country length for IBANs, SSA
 * rules for SSNs, ipaddr.js for IPs. Dates count as dates of birth only next to a cue ("born",
 * "DOB"…). Street addresses have no checksum: they are found by structure, with lower confidence
 * and limited recall (docs/guardrails.md).
 *
 * Speed: every numeric entity contains a run of digits, so one pass collects the digit runs and
 * each entity's regex is tried (sticky) only where a run can start one of its matches — the same
 * matches as a global scan, without trying every position of the text for every entity.
 */
import {
  cardCueBefore,
  cardIinOk,
  cardMiiOk,
  ibanOk,
  ipv4Ok,
  ipv6Ok,
  luhnOk,
  ssnOk,
} from './pii-validators.ts';

/** Reports one finding; the detector collects them and resolves overlaps. */
export type Found = (type: string, start: number, end: number, confidence: number) => void;

/**
 * The digit runs of a text as [start, end) pairs, in a buffer reused from scan to scan (a scan is
 * synchronous: one text at a time per detector).
 */
export interface DigitRuns {
  at: Int32Array;
  n: number;
}

/** A larger buffer is dropped after a scan: a huge text should not pin it to a cached detector. */
export const RUNS_KEPT = 1 << 14;

// Sticky forms: tried at the digit runs that can start a match (see the finders below).
const CARD_AT = /(?<![\d-])\d(?:[ -]?\d){11,18}(?![\d-])/y;
// Case-insensitive: people type IBANs in lower case too; the mod-97 check is on the upper-cased form.
const IBAN_AT = /\b[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){11,30}\b/y;
const SSN_AT = /(?<![\d-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\d-])/y;
const SSN_CUE = /\b(?:ssn|social security|soc\.? sec\.?)\b/i;
const IPV4_AT = /(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.]|\.\d)/y;
const IPV6 =
  /(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:%\w+)?(?![\w:])|(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,6}\d{1,3}(?:\.\d{1,3}){3}(?![\w.])/g;
/** "hex:hex:" at a colon: tried at each ":" of the text, so an IPv6 scan runs only when it can match. */
const IPV6_HINT_AT = /(?<=[0-9a-f]):[0-9a-f]{1,4}:/iy;
const DIGIT_RUN = /\d+/g;
const MONTHS =
  'jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?';
const DOB = new RegExp(
  `\\b(?:born(?: on| in)?|d\\.?o\\.?b\\.?|date of birth|birth ?date|birthday)\\b[^\\n\\d]{0,20}?` +
    `(\\d{1,2}[/.-]\\d{1,2}[/.-](?:\\d{4}|\\d{2})|\\d{4}-\\d{2}-\\d{2}|(?:${MONTHS})\\.? \\d{1,2}(?:st|nd|rd|th)?,? \\d{4}|\\d{1,2}(?:st|nd|rd|th)? (?:of )?(?:${MONTHS})\\.?,? \\d{4})`,
  'gi',
);
const STREET_WORDS =
  'street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|terrace|ter|parkway|pkwy|circle|cir|highway|hwy|square|sq|trail|trl|alley|plaza|crescent|close|strasse|straße|gasse|weg|platz|rue|calle|via|avenida|katu|gatan|vej|laan|straat';
// "Street" or "street": capitalised or not, but not any-case ("STREET" is rare, "[A-Z]" must stay upper).
const STREET_TYPES = STREET_WORDS.split('|')
  .map((w) => `[${w[0]!.toUpperCase()}${w[0]}]${w.slice(1)}`)
  .join('|');
// Sticky: tried at each digit run (a house number starts every match). Also used by phoneAt
// (pii-phones.ts) to tell a postcode followed by a house number from a phone number.
export const STREET_AT = new RegExp(
  `\\b\\d{1,6}[A-Za-z]?,? (?:[A-Z][\\p{L}'.-]*\\.? ){0,4}(?:${STREET_TYPES})\\b\\.?` +
    `(?:,? (?:apt|suite|ste|unit|#|fl|floor)\\.? ?[\\w-]{1,6})?` +
    `(?:,?\\s{1,3}[A-Z][\\p{L}'.-]+(?: [A-Z][\\p{L}'.-]+){0,3},?\\s{0,3}(?:[A-Z]{2}\\s{1,2})?\\d{4,5}(?:-\\d{4})?)?`,
  'uy',
);
// "Koskikatu 25", "Hauptstraße 5": street name ending in a street word, then the number.
// Tried (sticky) only at the capitals before a "<street word> <digit>" anchor: see streets().
const STREET_EU = new RegExp(
  `\\b[A-Z][\\p{L}-]*(?:${STREET_TYPES}) \\d{1,5}[a-z]?\\b(?:,? (?:apt|app|apt\\.)\\.? ?\\d{1,5})?`,
  'uy',
);
// The anchor: the space before a digit run, with a street word behind it.
const STREET_EU_ANCHOR_AT = new RegExp(`(?<=(?:${STREET_TYPES})) \\d`, 'y');
const LETTER = /^\p{L}$/u;
/** The longest one-word street name looked for ("Koskikatu", "Hauptstraße"…): 64 characters. */
const MAX_STREET_WORD = 64;

/** Start of the run of [\p{L}-] characters that ends just before `end`. */
function letterRunStart(text: string, end: number): number {
  let i = end;
  while (i > 0) {
    const c = text.charCodeAt(i - 1);
    if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 45) i--;
    else if (c < 128) break;
    else if (c >= 0xdc00 && c <= 0xdfff && i >= 2 && LETTER.test(text.slice(i - 2, i))) i -= 2;
    else if (LETTER.test(text[i - 1]!)) i--;
    else break;
  }
  return i;
}
// A unit designator is a strong address signal on its own ("Apt. 864", "Suite 501"), with the
// "<number> <Name> <number>" line it usually ends in many European formats.
const STREET_UNIT =
  /(?:\b\d{1,6} (?:[A-Z][\p{L}'-]+ ){1,3}\d{1,5}[a-z]? )?\b(?:Apt|Apartment|Suite|Ste|Unit)\.? ?#?\d{1,5}\b/gu;
/** The unit number with its designator behind it: STREET_UNIT runs only on texts that have one. */
const STREET_UNIT_HINT_AT = /(?<=\b(?:Apt|Apartment|Suite|Ste|Unit)\.? ?#?)\d/y;

const isAsciiLetter = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
/** \w as the regexes without the u flag read it. */
export const isWordChar = (c: number): boolean => isAsciiLetter(c) || (c >= 48 && c <= 57) || c === 95;

export function collectRuns(text: string, runs: DigitRuns): void {
  let n = 0;
  DIGIT_RUN.lastIndex = 0;
  for (let m = DIGIT_RUN.exec(text); m !== null; m = DIGIT_RUN.exec(text)) {
    if (2 * n + 2 > runs.at.length) {
      const grown = new Int32Array(runs.at.length * 2);
      grown.set(runs.at);
      runs.at = grown;
    }
    runs.at[2 * n] = m.index;
    runs.at[2 * n + 1] = DIGIT_RUN.lastIndex;
    n++;
  }
  runs.n = n;
}

/**
 * The finders below give the matches of a global scan of their regex (leftmost first, the next
 * search from the end of the previous match), but try the sticky regex only at the digit runs
 * that can start a match: every other position fails on its first digit or on a lookbehind.
 */

/** Whether runs i, i+1… joined by single spaces or dashes (a card's separators) hold `need` digits. */
function cardChainHolds(text: string, at: Int32Array, n: number, i: number, need: number): boolean {
  let digits = at[2 * i + 1]! - at[2 * i]!;
  for (let j = i; digits < need && j + 1 < n; j++) {
    const gap = at[2 * j + 1]!;
    const c = text.charCodeAt(gap);
    if (at[2 * j + 2]! !== gap + 1 || (c !== 32 && c !== 45)) break;
    digits += at[2 * j + 3]! - at[2 * j + 2]!;
  }
  return digits >= need;
}

export function cards(text: string, { at, n }: DigitRuns, found: Found): void {
  let from = 0;
  for (let i = 0; i < n; i++) {
    const s = at[2 * i]!;
    if (s < from || !cardChainHolds(text, at, n, i, 12)) continue;
    CARD_AT.lastIndex = s;
    const m = CARD_AT.exec(text);
    if (!m) continue;
    from = s + m[0].length;
    const d = m[0].replace(/[ -]/g, '');
    if (!luhnOk(d)) continue;
    // Luhn passes for one random number in ten: without a known issuer it takes a payment
    // industry's first digit and length, and a card word right before it.
    if (cardIinOk(d)) found('CREDIT_CARD', s, from, 0.95);
    else if (cardMiiOk(d) && cardCueBefore(text, s)) found('CREDIT_CARD', s, from, 0.7);
  }
}

export function ibans(text: string, { at, n }: DigitRuns, found: Found): void {
  let from = 0;
  for (let i = 0; i < n; i++) {
    const p = at[2 * i]! - 2;
    if (p < from || at[2 * i + 1]! - at[2 * i]! < 2) continue;
    if (!isAsciiLetter(text.charCodeAt(p)) || !isAsciiLetter(text.charCodeAt(p + 1))) continue;
    if (isWordChar(text.charCodeAt(p - 1))) continue; // the \b the regex starts with
    IBAN_AT.lastIndex = p;
    const m = IBAN_AT.exec(text);
    if (!m) continue;
    from = p + m[0].length;
    // The regex may swallow a following word: try the longest valid prefix of groups.
    let s = m[0];
    while (s.length >= 15) {
      if (ibanOk(s.replace(/ /g, '').toUpperCase())) {
        found('IBAN', p, p + s.length, /[a-z]/.test(s) ? 0.85 : 0.95);
        break;
      }
      const cut = s.lastIndexOf(' ');
      if (cut < 0) break;
      s = s.slice(0, cut);
    }
  }
}

export function ssns(text: string, { at, n }: DigitRuns, found: Found): void {
  let from = 0;
  let bare = false;
  for (let i = 0; i < n; i++) {
    const s = at[2 * i]!;
    const len = at[2 * i + 1]! - s;
    if (len === 9) bare = true;
    if (s < from || len !== 3) continue;
    const sep = text.charCodeAt(s + 3);
    if (sep !== 45 && sep !== 32) continue;
    SSN_AT.lastIndex = s;
    const m = SSN_AT.exec(text);
    if (!m) continue;
    from = s + m[0].length;
    if (ssnOk(m[1]!, m[3]!, m[4]!)) found('US_SSN', s, from, 0.85);
  }
  // Nine bare digits are an SSN only next to a cue; each is a whole digit run.
  if (!bare || !SSN_CUE.test(text)) return;
  for (let i = 0; i < n; i++) {
    const s = at[2 * i]!;
    if (at[2 * i + 1]! - s !== 9) continue;
    if (ssnOk(text.slice(s, s + 3), text.slice(s + 3, s + 5), text.slice(s + 5, s + 9)))
      found('US_SSN', s, s + 9, 0.7);
  }
}

export function ipv4s(text: string, { at, n }: DigitRuns, found: Found): void {
  let from = 0;
  for (let i = 0; i < n; i++) {
    const s = at[2 * i]!;
    const e = at[2 * i + 1]!;
    if (s < from || e - s > 3 || text.charCodeAt(e) !== 46) continue;
    IPV4_AT.lastIndex = s;
    const m = IPV4_AT.exec(text);
    if (!m) continue;
    from = s + m[0].length;
    if (ipv4Ok(m[0])) found('IP_ADDRESS', s, from, 0.9);
  }
}

function hasIpv6Hint(text: string): boolean {
  if (text.includes('::')) return true;
  for (let c = text.indexOf(':'); c >= 0; c = text.indexOf(':', c + 1)) {
    IPV6_HINT_AT.lastIndex = c;
    if (IPV6_HINT_AT.test(text)) return true;
  }
  return false;
}

/** IPv6: a global scan of the whole text, so run only when the text has a hint of one. */
export function ipv6s(text: string, found: Found): void {
  if (!hasIpv6Hint(text)) return;
  IPV6.lastIndex = 0;
  for (let m = IPV6.exec(text); m !== null; m = IPV6.exec(text))
    if (ipv6Ok(m[0])) found('IP_ADDRESS', m.index, m.index + m[0].length, 0.9);
}

/** How far before its first digit a DOB match can start: "date of birth" + 20 + "September. ". */
const DOB_REACH = 48;

/**
 * DOB runs on windows around the digit runs ([start − DOB_REACH, end], merged when they touch,
 * widened to a word boundary so \b reads the same): every match ends in a date's digits and starts
 * at most DOB_REACH before them, so it lies in one window.
 */
export function dobs(text: string, { at, n }: DigitRuns, found: Found): void {
  let w0 = -1;
  let w1 = -1;
  for (let i = 0; i <= n; i++) {
    let a = -1;
    if (i < n) {
      a = Math.max(0, at[2 * i]! - DOB_REACH);
      // Not back past the previous window: each character is looked at once, however long the word.
      while (a > w1 && a > 0 && isWordChar(text.charCodeAt(a - 1))) a--;
      if (w0 >= 0 && a <= w1) {
        w1 = at[2 * i + 1]!;
        continue;
      }
    }
    if (w0 >= 0) {
      const w = text.slice(w0, w1);
      DOB.lastIndex = 0;
      for (let m = DOB.exec(w); m !== null; m = DOB.exec(w)) {
        const end = w0 + m.index + m[0].length;
        found('DATE_OF_BIRTH', end - m[1]!.length, end, 0.85);
      }
    }
    if (i < n) {
      w0 = a;
      w1 = at[2 * i + 1]!;
    }
  }
}

/**
 * Whether STREET_AT can match at the run [s, e): at most 6 digits, not inside a word, then an
 * optional letter and comma, a space and a letter — checked by hand before the regex, which costs
 * more per call than a digit-dense text (CSV, JSON) can pay at every run.
 */
function houseNumberAt(text: string, s: number, e: number): boolean {
  if (e - s > 6 || isWordChar(text.charCodeAt(s - 1))) return false;
  let k = e;
  if (isAsciiLetter(text.charCodeAt(k))) k++;
  if (text.charCodeAt(k) === 44) k++;
  return text.charCodeAt(k) === 32 && isAsciiLetter(text.charCodeAt(k + 1));
}

/** The words STREET_UNIT needs: without one of them in the text, no run is tried as a unit number. */
const UNIT_WORDS = ['Apt', 'Apartment', 'Suite', 'Ste', 'Unit'];

export function streets(text: string, { at, n }: DigitRuns, found: Found): void {
  let from = 0;
  let unit = !UNIT_WORDS.some((w) => text.includes(w)) ? 1 : 0; // 1: settled (found or impossible)
  let euFrom = 0;
  for (let i = 0; i < n; i++) {
    const s = at[2 * i]!;
    if (unit === 0) {
      const c = text.charCodeAt(s - 1);
      if (c === 32 || c === 46 || c === 35 || c === 116 || c === 101) {
        STREET_UNIT_HINT_AT.lastIndex = s;
        if (STREET_UNIT_HINT_AT.test(text)) unit = 2;
      }
    }
    if (s >= from && houseNumberAt(text, s, at[2 * i + 1]!)) {
      STREET_AT.lastIndex = s;
      const m = STREET_AT.exec(text);
      if (m) {
        from = s + m[0].length;
        found('STREET_ADDRESS', s, from, 0.6);
      }
    }
    // "Koskikatu 25": from the "<street word> <digit>" anchor, the first capital in the letter
    // run before it that starts a STREET_EU match.
    const space = s - 1;
    if (space < euFrom || text.charCodeAt(space) !== 32) continue;
    STREET_EU_ANCHOR_AT.lastIndex = space;
    if (!STREET_EU_ANCHOR_AT.test(text)) continue;
    // No street name is one word of more than MAX_STREET_WORD letters: looking further back would
    // only cost time (each try scans the run forward: quadratic on a long run of capitals).
    for (let p = Math.max(euFrom, letterRunStart(text, space), space - MAX_STREET_WORD); p < space; p++) {
      const c = text.charCodeAt(p);
      if (c < 65 || c > 90) continue;
      STREET_EU.lastIndex = p;
      const m = STREET_EU.exec(text);
      if (m) {
        euFrom = p + m[0].length;
        found('STREET_ADDRESS', p, euFrom, 0.5);
        break;
      }
    }
  }
  if (unit !== 2) return;
  STREET_UNIT.lastIndex = 0;
  for (let m = STREET_UNIT.exec(text); m !== null; m = STREET_UNIT.exec(text))
    found('STREET_ADDRESS', m.index, m.index + m[0].length, 0.5);
}
