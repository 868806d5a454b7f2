/**
 * PII detection (OWASP LLM02). Structured entities are found by a cheap regex and kept only when
 * they validate (Luhn + issuer for cards, mod 97 + country length for IBANs, SSA rules for SSNs,
 * libphonenumber-js for phones, ipaddr.js for IPs). Dates count as dates of birth only next to a
 * cue ("born", "DOB"…). Street addresses and person names have no checksum: they are found by
 * structure and cue words, with lower confidence and limited recall (docs/guardrails.md).
 */
import { type CountryCode, findNumbers } from 'libphonenumber-js';
import { cardIinOk, emailOk, ibanOk, ipv4Ok, ipv6Ok, luhnOk, ssnOk } from './pii-validators.ts';
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
const CARD = /(?<![\d-])\d(?:[ -]?\d){11,18}(?![\d-])/g;
const IBAN = /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b/g;
const SSN = /(?<![\d-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\d-])/g;
const SSN_BARE = /(?<!\d)(\d{3})(\d{2})(\d{4})(?!\d)/g;
const SSN_CUE = /\b(?:ssn|social security|soc\.? sec\.?)\b/i;
const IPV4 = /(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.]|\.\d)/g;
const IPV6 =
  /(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:%\w+)?(?![\w:])|(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,6}\d{1,3}(?:\.\d{1,3}){3}(?![\w.])/g;
/** "hex:hex:" somewhere, written with a lookbehind so V8 scans for the colon first. */
const IPV6_HINT = /(?<=[0-9a-f]):[0-9a-f]{1,4}:/i;
/** A run that could be a phone number: only these windows go to libphonenumber (it is slow on prose). */
const PHONE_CANDIDATE = /(?:\+|\()?\b\d[\d\s().\-/]{5,22}\d\b/g;
const DATE_LIKE = /^\d{4}-\d{2}-\d{2}|^\d{1,2}[/.]\d{1,2}[/.]\d{2,4}$/;
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
const STREET = new RegExp(
  `\\b\\d{1,6}[A-Za-z]?,? (?:[A-Z][\\p{L}'.-]*\\.? ){0,4}(?:${STREET_TYPES})\\b\\.?` +
    `(?:,? (?:apt|suite|ste|unit|#|fl|floor)\\.? ?[\\w-]{1,6})?` +
    `(?:,?\\s{1,3}[A-Z][\\p{L}'.-]+(?: [A-Z][\\p{L}'.-]+){0,3},?\\s{0,3}(?:[A-Z]{2}\\s{1,2})?\\d{4,5}(?:-\\d{4})?)?`,
  'gu',
);
// "Koskikatu 25", "Hauptstraße 5": street name ending in a street word, then the number.
// Tried (sticky) only at the capitals before a "<street word> <digit>" anchor: see streetEu().
const STREET_EU = new RegExp(
  `\\b[A-Z][\\p{L}-]*(?:${STREET_TYPES}) \\d{1,5}[a-z]?\\b(?:,? (?:apt|app|apt\\.)\\.? ?\\d{1,5})?`,
  'uy',
);
// As a lookbehind: V8 then scans for " <digit>" first and checks the street word only there.
const STREET_EU_ANCHOR = new RegExp(`(?<=(?:${STREET_TYPES})) \\d`, 'g');
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

/**
 * The matches of STREET_EU as a global scan would find them, faster: every match contains
 * "<street word> <digit>" and starts at a capital inside the letter run before that space, so only
 * those positions are tried, in order (leftmost-first, non-overlapping, like matchAll).
 */
function streetEu(text: string, found: (start: number, end: number) => void): void {
  let from = 0;
  STREET_EU_ANCHOR.lastIndex = 0;
  for (let a = STREET_EU_ANCHOR.exec(text); a !== null; a = STREET_EU_ANCHOR.exec(text)) {
    const space = a.index;
    if (space < from) continue;
    for (let p = Math.max(from, letterRunStart(text, space)); p < space; p++) {
      const c = text.charCodeAt(p);
      if (c < 65 || c > 90) continue;
      STREET_EU.lastIndex = p;
      const m = STREET_EU.exec(text);
      if (m) {
        found(p, p + m[0].length);
        from = p + m[0].length;
        if (STREET_EU_ANCHOR.lastIndex < from) STREET_EU_ANCHOR.lastIndex = from;
        break;
      }
    }
  }
}
// A unit designator is a strong address signal on its own ("Apt. 864", "Suite 501"), with the
// "<number> <Name> <number>" line it usually ends in many European formats.
const STREET_UNIT =
  /(?:\b\d{1,6} (?:[A-Z][\p{L}'-]+ ){1,3}\d{1,5}[a-z]? )?\b(?:Apt|Apartment|Suite|Ste|Unit)\.? ?#?\d{1,5}\b/gu;
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

  const detector: PiiDetector = {
    scan(text: string): Span[] {
      const spans: Span[] = [];
      const add = (type: string, start: number, end: number, confidence: number): void => {
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
      const hasDigit = /\d/.test(text);
      if (hasDigit && on.has('CREDIT_CARD')) {
        for (const m of text.matchAll(CARD)) {
          const d = m[0].replace(/[ -]/g, '');
          if (d.length >= 12 && d.length <= 19 && luhnOk(d) && cardIinOk(d))
            add('CREDIT_CARD', m.index, m.index + m[0].length, 0.95);
        }
      }
      if (hasDigit && on.has('IBAN')) {
        for (const m of text.matchAll(IBAN)) {
          // The regex may swallow a following word: try the longest valid prefix of groups.
          let s = m[0];
          while (s.length >= 15) {
            if (ibanOk(s.replace(/ /g, ''))) {
              add('IBAN', m.index, m.index + s.length, 0.95);
              break;
            }
            const cut = s.lastIndexOf(' ');
            if (cut < 0) break;
            s = s.slice(0, cut);
          }
        }
      }
      if (hasDigit && on.has('US_SSN')) {
        for (const m of text.matchAll(SSN))
          if (ssnOk(m[1]!, m[3]!, m[4]!)) add('US_SSN', m.index, m.index + m[0].length, 0.85);
        if (SSN_CUE.test(text)) {
          for (const m of text.matchAll(SSN_BARE))
            if (ssnOk(m[1]!, m[2]!, m[3]!)) add('US_SSN', m.index, m.index + m[0].length, 0.7);
        }
      }
      if (on.has('IP_ADDRESS')) {
        if (hasDigit)
          for (const m of text.matchAll(IPV4))
            if (ipv4Ok(m[0])) add('IP_ADDRESS', m.index, m.index + m[0].length, 0.9);
        if (text.includes('::') || IPV6_HINT.test(text)) {
          for (const m of text.matchAll(IPV6))
            if (ipv6Ok(m[0])) add('IP_ADDRESS', m.index, m.index + m[0].length, 0.9);
        }
      }
      if (hasDigit && on.has('PHONE')) {
        for (const m of text.matchAll(PHONE_CANDIDATE)) {
          const digits = m[0].replace(/\D/g, '').length;
          if (digits < 7 || digits > 15 || DATE_LIKE.test(m[0])) continue;
          let found = findNumbers(m[0], { defaultCountry: region, v2: true });
          let confidence = m[0].startsWith('+') ? 0.9 : 0.8;
          // Other regions only for numbers written the national way (trunk 0 or area code in
          // parentheses) and long enough: otherwise postcodes and house numbers pass for phones.
          const national = /^[0(]/.test(m[0]) && digits >= 9;
          for (let i = 0; found.length === 0 && national && i < fallback.length; i++) {
            found = findNumbers(m[0], { defaultCountry: fallback[i], v2: true });
            confidence = 0.6;
          }
          for (const f of found) add('PHONE', m.index + f.startsAt, m.index + f.endsAt, confidence);
        }
      }
      if (hasDigit && on.has('DATE_OF_BIRTH')) {
        for (const m of text.matchAll(DOB)) {
          const start = m.index + m[0].length - m[1]!.length;
          add('DATE_OF_BIRTH', start, m.index + m[0].length, 0.85);
        }
      }
      if (hasDigit && on.has('STREET_ADDRESS')) {
        for (const m of text.matchAll(STREET)) add('STREET_ADDRESS', m.index, m.index + m[0].length, 0.6);
        streetEu(text, (start, end) => add('STREET_ADDRESS', start, end, 0.5));
        for (const m of text.matchAll(STREET_UNIT))
          add('STREET_ADDRESS', m.index, m.index + m[0].length, 0.5);
      }
      if (on.has('PERSON')) {
        for (const re of [PERSON_TITLE, PERSON_CUE]) {
          for (const m of text.matchAll(re)) {
            const name = m[1]!;
            if (NOT_NAMES.has(name.split(' ')[0]!)) continue;
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
      return resolveOverlaps(spans);
    },
  };
  // Compile the patterns (and load phone metadata) now, not inside the first request's time budget.
  detector.scan(WARM_UP);
  return detector;
}
