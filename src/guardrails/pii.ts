/**
 * PII detection (OWASP LLM02). Structured entities are found by a cheap regex and kept only when
 * they validate (Luhn + issuer for cards, mod 97 + country length for IBANs, SSA rules for SSNs,
 * libphonenumber-js for phones, ipaddr.js for IPs). A card or phone number that passes only the
 * weaker test (Luhn without a known issuer; a possible but not valid phone number) counts when a
 * cue word says what it is ("card", "phone", "fax"…), with lower confidence. Dates count as dates
 * of birth only next to a cue ("born", "DOB"…). Street addresses and person names have no
 * checksum: they are found by structure and cue words, with lower confidence and limited recall
 * (docs/guardrails.md).
 *
 * Speed: every numeric entity contains a run of digits, so one pass collects the digit runs and
 * each entity's regex is tried (sticky) only where a run can start one of its matches — the same
 * matches as a global scan, without trying every position of the text for every entity.
 */
import type { CountryCode } from 'libphonenumber-js';
import {
  cardCueBefore,
  cardIinOk,
  createPhoneChecker,
  emailOk,
  ibanOk,
  ipv4Ok,
  ipv6Ok,
  luhnOk,
  type PhoneChecker,
  phoneCueNear,
  ssnOk,
} from './pii-validators.ts';
import { CUSTOM_REGEX_MAX_INPUT, compileSafeRegex } from './regex-policy.ts';
import { resolveOverlaps, type Span } from './types.ts';

export type PiiEntity =
  | 'EMAIL'
  | 'PHONE'
  | 'CREDIT_CARD'
  | 'IBAN'
  | 'US_SSN'
  | 'IP_ADDRESS'
  | 'DATE_OF_BIRTH'
  | 'STREET_ADDRESS'
  | 'PERSON';

export const PII_ENTITIES: readonly PiiEntity[] = [
  'EMAIL',
  'PHONE',
  'CREDIT_CARD',
  'IBAN',
  'US_SSN',
  'IP_ADDRESS',
  'DATE_OF_BIRTH',
  'STREET_ADDRESS',
  'PERSON',
];

export interface CustomEntity {
  /** Upper snake case; becomes the placeholder type (`[EMPLOYEE_ID_1]`). */
  name: string;
  pattern: string;
  flags?: string;
  confidence?: number;
}

export interface PiiOptions {
  /** Entities to look for; default all. */
  entities?: readonly PiiEntity[];
  /** Region for phone numbers written without a country code. Default 'US'. */
  defaultRegion?: CountryCode;
  /** Further regions tried (lower confidence) for national-format numbers. Default: a few large ones. */
  fallbackRegions?: readonly CountryCode[];
  custom?: readonly CustomEntity[];
}

export interface PiiDetector {
  scan(text: string): Span[];
}

/**
 * Email: `local@domain`, local part [A-Za-z0-9._%+-]{1,64}. Found from each "@" outwards (local
 * part scanned back by hand, domain matched sticky) instead of a regex that tries every letter of
 * the text as the start of a local part: the same matches, without the 64-character backtracking.
 */
const EMAIL_DOMAIN = /((?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,24})\b/y;
const isEmailLocal = (c: number): boolean =>
  (c >= 97 && c <= 122) ||
  (c >= 65 && c <= 90) ||
  (c >= 48 && c <= 57) ||
  c === 46 ||
  c === 95 ||
  c === 37 ||
  c === 43 ||
  c === 45;
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
/** A phone extension right after the number: "x4587", " ext. 36", " extension 12". */
const PHONE_EXT_AT = /[ \t]{0,2}(?:x|ext\.?|extn\.?|extension)[ \t]{0,2}\d{1,7}(?!\d)/iy;
/** Runs that are something else than a phone number, though phone-like in shape. */
const DATE_LIKE = /\d{4}-\d{2}-\d{2}|^\(?\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\)?$/;
const YEARS_ONLY = /^\(?(?:1\d|20)\d\d(?:\D{1,3}(?:1\d|20)\d\d)+\)?$/; // "1967 1975", "2005-2010"
const DECIMAL = /^\d+\.\d+$/;
const IPV4_LIKE = /^\d{1,3}(?:\.\d{1,3}){3}$/;
const notAPhone = (s: string): boolean =>
  DATE_LIKE.test(s) || YEARS_ONLY.test(s) || DECIMAL.test(s) || IPV4_LIKE.test(s);
const NON_DIGITS = /\D/g;
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
// Sticky: tried at each digit run (a house number starts every match).
const STREET_AT = new RegExp(
  `\\b\\d{1,6}[A-Za-z]?,? (?:[A-Z][\\p{L}'.-]*\\.? ){0,4}(?:${STREET_TYPES})\\b\\.?` +
    `(?:,? (?:apt|suite|ste|unit|#|fl|floor)\\.? ?[\\w-]{1,6})?` +
    `(?:,?\\s{1,3}[A-Z][\\p{L}'.-]+(?: [A-Z][\\p{L}'.-]+){0,3},?\\s{0,3}(?:[A-Z]{2}\\s{1,2})?\\d{4,5}(?:-\\d{4})?)?`,
  'uy',
);
// "Koskikatu 25", "Hauptstraße 5": street name ending in a street word, then the number.
// Tried (sticky) only at the capitals before a "<street word> <digit>" anchor: see streetsEu().
const STREET_EU = new RegExp(
  `\\b[A-Z][\\p{L}-]*(?:${STREET_TYPES}) \\d{1,5}[a-z]?\\b(?:,? (?:apt|app|apt\\.)\\.? ?\\d{1,5})?`,
  'uy',
);
// The anchor: the space before a digit run, with a street word behind it.
const STREET_EU_ANCHOR_AT = new RegExp(`(?<=(?:${STREET_TYPES})) \\d`, 'y');
const LETTER = /^\p{L}$/u;

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
const NAME = "[A-Z][\\p{Ll}'’-]+(?:-[A-Z][\\p{Ll}]+)?";
const PERSON_TITLE = new RegExp(
  `\\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Madam)\\.? (${NAME}(?: [A-Z]\\.)?(?: ${NAME}){0,2})`,
  'gu',
);
// The cue as a lookbehind: V8 then looks for the name's capital first and checks the cue behind
// it, ~2.5× faster than trying every cue at every position. (A cue word that ends a previous
// match's name can now introduce the next name: a rare extra finding, never a lost one.)
const PERSON_CUE = new RegExp(
  `(?<=\\b(?:[Mm]y name is|I am|I'm|[Nn]ame:|[Cc]ontact:|[Pp]atient:|[Cc]ustomer:|[Ss]igned,?|[Rr]egards,|[Ss]incerely,|[Tt]hanks,|[Dd]ear|[Hh]i|[Hh]ello) )(${NAME}(?: [A-Z]\\.)?(?: ${NAME}){1,2})`,
  'gu',
);
// Words that follow the cues but are not names ("Dear Sir", "I am Happy To…").
const NOT_NAMES = new Set([
  'Sir',
  'Madam',
  'Team',
  'All',
  'Everyone',
  'There',
  'The',
  'This',
  'Not',
  'Very',
  'So',
  'Just',
  'Here',
  'Going',
  'Looking',
  'Happy',
  'Sorry',
  'Glad',
  'Customer',
  'Support',
  'Thanks',
  'Thank',
  'Please',
  'Hope',
  'Writing',
  'Trying',
  'Working',
  'Interested',
  'Available',
  'New',
  'Your',
  'Our',
  'My',
  'In',
  'On',
  'At',
  'From',
  'With',
  'And',
  'But',
  'Or',
  'What',
  'How',
  'Why',
]);

/** The entities that always contain a digit: found from the digit runs. */
const NUMERIC: readonly PiiEntity[] = [
  'CREDIT_CARD',
  'IBAN',
  'US_SSN',
  'IP_ADDRESS',
  'PHONE',
  'DATE_OF_BIRTH',
  'STREET_ADDRESS',
];

type Found = (type: string, start: number, end: number, confidence: number) => void;

/**
 * The digit runs of a text as [start, end) pairs, in a buffer reused from scan to scan (a scan is
 * synchronous: one text at a time per detector).
 */
interface DigitRuns {
  at: Int32Array;
  n: number;
}

const RUNS_KEPT = 1 << 14;

const isAsciiLetter = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
/** \w as the regexes without the u flag read it. */
const isWordChar = (c: number): boolean => isAsciiLetter(c) || (c >= 48 && c <= 57) || c === 95;
/** / = & ? # % */
const isUrlChar = (c: number): boolean =>
  c === 47 || c === 61 || c === 38 || c === 63 || c === 35 || c === 37;

function collectRuns(text: string, runs: DigitRuns): void {
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

function cards(text: string, { at, n }: DigitRuns, found: Found): void {
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
    // Luhn passes for one random number in ten: without a known issuer it takes a card word.
    if (cardIinOk(d)) found('CREDIT_CARD', s, from, 0.95);
    else if (cardCueBefore(text, s)) found('CREDIT_CARD', s, from, 0.7);
  }
}

function ibans(text: string, { at, n }: DigitRuns, found: Found): void {
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

function ssns(text: string, { at, n }: DigitRuns, found: Found): void {
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

function ipv4s(text: string, { at, n }: DigitRuns, found: Found): void {
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

/**
 * What may stand between two digit groups of one phone number: a space (or two), one of "-./",
 * parentheses around an area code — not a line break, so a postcode on the line above is not
 * read as the start of the number below it. Returns the punctuation used (a number keeps to one:
 * "1.12.22 / 24.9.2025" is a version and a date), 0 for none, -1 when the gap does not fit.
 */
function phoneGap(text: string, from: number, to: number): number {
  if (to - from > 3) return -1;
  let punct = 0;
  let open = 0;
  let close = 0;
  for (let k = from; k < to; k++) {
    const c = text.charCodeAt(k);
    if (c === 45 || c === 46 || c === 47) {
      if (punct !== 0) return -1;
      punct = c;
    } else if (c === 40) open++;
    else if (c === 41) close++;
    else if (c !== 32 && c !== 9 && c !== 0xa0 && c !== 0x202f && !(c >= 0x2000 && c <= 0x200a)) return -1;
  }
  return open <= 1 && close <= 1 ? punct : -1;
}

/**
 * Phone numbers: chains of digit runs joined by phone separators (phoneGap), with "+" or "(" before
 * and an extension after. Chains of 7–15 digits go to phoneAt; the rest costs a few comparisons.
 */
function phones(text: string, runs: DigitRuns, checker: PhoneChecker, found: Found): void {
  const { at, n } = runs;
  for (let i = 0; i < n; ) {
    const first = i;
    let digits = at[2 * i + 1]! - at[2 * i]!;
    let sep = 0;
    for (; i + 1 < n; i++) {
      const g = phoneGap(text, at[2 * i + 1]!, at[2 * i + 2]!);
      if (g < 0 || (g > 0 && sep > 0 && g !== sep)) break;
      if (g > 0) sep = g;
      digits += at[2 * i + 3]! - at[2 * i + 2]!;
    }
    i = digits >= 7 ? phoneAt(text, runs, first, i, digits, checker, found) : i + 1;
  }
}

/**
 * The chain of runs first..last: a number libphonenumber-js finds in it (valid), or — next to a
 * phone cue — the whole chain if its length is possible. Not: a date, a year range, a decimal, an
 * IPv4 address, an id in a URL, a postcode before a house number. Returns the next run to look at.
 */
function phoneAt(
  text: string,
  { at, n }: DigitRuns,
  first: number,
  last: number,
  digits: number,
  checker: PhoneChecker,
  found: Found,
): number {
  let next = last + 1;
  let start = at[2 * first]!;
  let end = at[2 * last + 1]!;
  if (isWordChar(text.charCodeAt(start - 1))) return next;
  let cut = false;
  const c = text.charCodeAt(end);
  PHONE_EXT_AT.lastIndex = end;
  if ((c === 32 || c === 9 || (c | 0x20) === 120 || (c | 0x20) === 101) && PHONE_EXT_AT.test(text)) {
    end = PHONE_EXT_AT.lastIndex; // "x4587", " ext. 36": libphonenumber parses them
    while (next < n && at[2 * next]! < end) next++;
  } else if (isWordChar(c)) {
    // "…2671abc": the last run is part of a word; the number, if any, ends at the run before
    // (only a valid one: a cut chain is too often a date or a code).
    if (last === first) return next;
    cut = true;
    digits -= end - at[2 * last]!;
    last--;
    end = at[2 * last + 1]!;
    if (digits < 7) return next;
  }
  if (digits > 15) return next;
  for (let k = 0; k < 2 && start > 0; k++) {
    const p = text.charCodeAt(start - 1);
    if (p !== 43 && p !== 40) break;
    start--; // "+", "(", "(+"
  }
  // Digits inside a URL or a path ("…/e/075678398926/?itm=3", "?pid=2462791&…") are ids.
  const after = text.charCodeAt(end);
  if (isUrlChar(text.charCodeAt(start - 1)) || after === 47 || after === 61 || after === 38) return next;
  let candidate = text.slice(start, end);
  if (candidate.startsWith('(') && !candidate.includes(')')) {
    start++;
    candidate = candidate.slice(1);
  }
  if (notAPhone(candidate)) return next;
  // An unformatted run ("1700000000" in a JSON log) is a phone number only where the context says
  // so; a formatted one (groups, "+", parentheses) carries its own evidence.
  const bare = last === first && !candidate.startsWith('+') && !candidate.startsWith('(');
  let cue = bare ? phoneCueNear(text, start, end) : undefined;
  if (bare && !cue) return next;
  // A last group that starts a street address ("03262 2437 Main St") is a house number after a
  // postcode: only a number valid in the default region outweighs that.
  let address: boolean | undefined;
  const isAddress = (): boolean => {
    if (address === undefined) {
      STREET_AT.lastIndex = at[2 * last]!;
      address = last > first && STREET_AT.test(text);
    }
    return address;
  };
  const valid = checker.valid(candidate, digits);
  for (const f of valid) {
    // libphonenumber may keep a part of the run ("0.112.1" of "0.112.1 (2026"): that part must
    // pass the same tests, with the digits its rule asks for.
    const part = f.start === 0 && f.end === candidate.length ? candidate : candidate.slice(f.start, f.end);
    const partDigits = part.replace(NON_DIGITS, '').length;
    if (part !== candidate && (notAPhone(part) || partDigits < 7)) continue;
    if (f.confidence < 0.8 && (partDigits < 9 || isAddress())) continue;
    found('PHONE', start + f.start, start + f.end, f.confidence);
  }
  // The weak tier; a number does not end in a one-digit group ("978-3-16-148410-0" is an ISBN).
  if (valid.length > 0 || cut || at[2 * last + 1]! - at[2 * last]! < 2) return next;
  cue ??= phoneCueNear(text, start, end);
  if (cue && !isAddress() && checker.possible(candidate, last > first)) found('PHONE', start, end, 0.55);
  return next;
}

/** How far before its first digit a DOB match can start: "date of birth" + 20 + "September. ". */
const DOB_REACH = 48;

/**
 * DOB runs on windows around the digit runs ([start − DOB_REACH, end], merged when they touch,
 * widened to a word boundary so \b reads the same): every match ends in a date's digits and starts
 * at most DOB_REACH before them, so it lies in one window.
 */
function dobs(text: string, { at, n }: DigitRuns, found: Found): void {
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

function streets(text: string, { at, n }: DigitRuns, found: Found): void {
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
    for (let p = Math.max(euFrom, letterRunStart(text, space)); p < space; p++) {
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

const WARM_UP =
  'Dr. Jane Roe, my name is John Smith, a@b.example, +1 415 555 2671, 4111 1111 1111 1111, ' +
  'DE89 3704 0044 0532 0130 00, SSN 536-22-1234, 10.0.0.1, ::1, DOB 01/02/1990, 1 Main Street, Apt. 3';

export function createPiiDetector(options: PiiOptions = {}): PiiDetector {
  const on = new Set(options.entities ?? PII_ENTITIES);
  const region = options.defaultRegion ?? 'US';
  const fallback = (options.fallbackRegions ?? ['GB', 'DE', 'FR', 'IT', 'ES', 'AU', 'IN', 'BR', 'CA']).filter(
    (r) => r !== region,
  );
  const custom = (options.custom ?? []).map((c) => {
    if (!/^[A-Z][A-Z0-9_]{0,39}$/.test(c.name))
      throw new Error(`custom entity name must be UPPER_SNAKE: ${c.name}`);
    const v = compileSafeRegex(c.pattern, c.flags);
    if (!v.ok) throw new Error(`custom entity ${c.name}: ${v.reason}`);
    return { name: c.name, re: v.regex, confidence: c.confidence ?? 0.8 };
  });

  const checker = createPhoneChecker(region, fallback);
  const runs: DigitRuns = { at: new Int32Array(1024), n: 0 };
  const numeric = NUMERIC.some((e) => on.has(e));

  const detector: PiiDetector = {
    scan(text: string): Span[] {
      const spans: Span[] = [];
      const add: Found = (type, start, end, confidence) => {
        spans.push({ type, start, end, confidence });
      };
      if (on.has('EMAIL')) {
        let from = 0;
        for (let at = text.indexOf('@'); at >= 0; at = text.indexOf('@', at + 1)) {
          if (at < from) continue;
          const lo = Math.max(from, at - 64);
          let start = at;
          while (start > lo && isEmailLocal(text.charCodeAt(start - 1))) start--;
          if (start === at) continue;
          EMAIL_DOMAIN.lastIndex = at + 1;
          const d = EMAIL_DOMAIN.exec(text);
          if (!d) continue;
          from = at + 1 + d[0].length;
          if (emailOk(text.slice(start, at), d[1]!)) add('EMAIL', start, from, 0.95);
        }
      }
      if (numeric) collectRuns(text, runs);
      if (numeric && runs.n > 0) {
        if (on.has('CREDIT_CARD')) cards(text, runs, add);
        if (on.has('IBAN')) ibans(text, runs, add);
        if (on.has('US_SSN')) ssns(text, runs, add);
        if (on.has('IP_ADDRESS')) ipv4s(text, runs, add);
        if (on.has('PHONE')) phones(text, runs, checker, add);
        if (on.has('DATE_OF_BIRTH')) dobs(text, runs, add);
        if (on.has('STREET_ADDRESS')) streets(text, runs, add);
      }
      if (on.has('IP_ADDRESS') && hasIpv6Hint(text)) {
        IPV6.lastIndex = 0;
        for (let m = IPV6.exec(text); m !== null; m = IPV6.exec(text))
          if (ipv6Ok(m[0])) add('IP_ADDRESS', m.index, m.index + m[0].length, 0.9);
      }
      if (on.has('PERSON')) {
        for (const re of [PERSON_TITLE, PERSON_CUE]) {
          re.lastIndex = 0;
          for (let m = re.exec(text); m !== null; m = re.exec(text)) {
            const name = m[1]!;
            const space = name.indexOf(' ');
            if (NOT_NAMES.has(space < 0 ? name : name.slice(0, space))) continue;
            const start = m.index + m[0].length - name.length;
            add('PERSON', start, start + name.length, re === PERSON_TITLE ? 0.75 : 0.6);
          }
        }
      }
      if (custom.length > 0) {
        const bounded = text.length > CUSTOM_REGEX_MAX_INPUT ? text.slice(0, CUSTOM_REGEX_MAX_INPUT) : text;
        for (const c of custom) {
          for (const m of bounded.matchAll(c.re))
            if (m[0].length > 0) add(c.name, m.index, m.index + m[0].length, c.confidence);
        }
      }
      // A huge text should not pin a huge buffer to a cached detector.
      if (runs.at.length > RUNS_KEPT) runs.at = new Int32Array(RUNS_KEPT);
      return resolveOverlaps(spans);
    },
  };
  // Compile the patterns (and load phone metadata) now, not inside the first request's time budget.
  detector.scan(WARM_UP);
  return detector;
}
