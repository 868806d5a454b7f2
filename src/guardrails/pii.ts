/**
 * PII detection (OWASP LLM02): the public API (entities, options, custom entities, the detector)
 * and the assembly of one scan. Structured entities are found by a cheap regex and kept only when
 * they validate (Luhn + issuer for cards, mod 97 + country length for IBANs, SSA rules for SSNs,
 * libphonenumber-js for phones, ipaddr.js for IPs). A card or phone number that passes only the
 * weaker test (Luhn without a known issuer; a possible but not valid phone number) counts when a
 * cue word says what it is ("card", "phone", "fax"…), with lower confidence. Dates count as dates
 * of birth only next to a cue ("born", "DOB"…). Street addresses and person names have no
 * checksum: they are found by structure and cue words, with lower confidence and limited recall
 * (docs/guardrails.md).
 *
 * Where: the entities that always contain a digit are found from the text's digit runs, collected
 * once per scan (pii-numeric.ts; phones in pii-phones.ts); the checks are in pii-validators.ts.
 * Emails, person names and custom entities are found here.
 */
import type { CountryCode } from 'libphonenumber-js';
import {
  cards,
  collectRuns,
  type DigitRuns,
  dobs,
  type Found,
  ibans,
  ipv4s,
  ipv6s,
  RUNS_KEPT,
  ssns,
  streets,
} from './pii-numeric.ts';
import { phones } from './pii-phones.ts';
import { createPhoneChecker, emailOk } from './pii-validators.ts';
import { CUSTOM_REGEX_MAX_INPUT, compileSafeRegex } from './regex-policy.ts';
import { resolveOverlaps, type ShouldStop, type Span } from './types.ts';

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
  /** `shouldStop` is asked now and then during long scans; when it says so, DetectorStopped is thrown. */
  scan(text: string, shouldStop?: ShouldStop): Span[];
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
    scan(text: string, shouldStop?: ShouldStop): Span[] {
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
        if (on.has('PHONE')) phones(text, runs, checker, add, shouldStop);
        if (on.has('DATE_OF_BIRTH')) dobs(text, runs, add);
        if (on.has('STREET_ADDRESS')) streets(text, runs, add);
      }
      if (on.has('IP_ADDRESS')) ipv6s(text, add);
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
