/**
 * Phone numbers, found from the digit runs (pii-numeric.ts): chains of runs joined by phone
 * separators, with "+" or "(" before and an extension after. A chain counts when
 * libphonenumber-js finds a valid number in it, or — with a phone cue in a label position ("Phone:
 * …", "call me on …", "… fax") — when the whole chain is a possible number, with lower confidence. Shapes that look like a phone
 * number but are something else (dates, year ranges, decimals, IPv4 addresses, ids in URLs, a
 * postcode before a house number) are ruled out first.
 */
import { type DigitRuns, type Found, isWordChar, STREET_AT } from './pii-numeric.ts';
import { isInternational, type PhoneChecker, phoneCueNear } from './pii-validators.ts';
import { DetectorStopped, type ShouldStop } from './types.ts';

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
/** / = & ? # % */
const isUrlChar = (c: number): boolean =>
  c === 47 || c === 61 || c === 38 || c === 63 || c === 35 || c === 37;

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
export function phones(
  text: string,
  runs: DigitRuns,
  checker: PhoneChecker,
  found: Found,
  shouldStop?: ShouldStop,
): void {
  const { at, n } = runs;
  let chains = 0;
  for (let i = 0; i < n; ) {
    // libphonenumber costs microseconds a chain: a text of a million digit runs is asked to stop.
    if (shouldStop && (++chains & 63) === 0 && shouldStop()) throw new DetectorStopped();
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
  const international = isInternational(candidate);
  const bare = last === first && !international && !candidate.startsWith('(');
  let cue = bare ? phoneCueNear(text, start, end, false) : undefined;
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
  cue ??= phoneCueNear(text, start, end, international);
  if (cue && !isAddress() && checker.possible(candidate, last > first)) found('PHONE', start, end, 0.55);
  return next;
}
