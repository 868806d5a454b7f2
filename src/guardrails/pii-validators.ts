/** Structural checks that turn a regex candidate into a finding (and keep false positives low). */
import ipaddr from 'ipaddr.js';
import { type CountryCode, findNumbers, parsePhoneNumberFromString } from 'libphonenumber-js';

/** Luhn mod-10 (ISO/IEC 7812-1 Annex B). */
export function luhnOk(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/**
 * Issuer prefix (IIN) and length plausible for a network, after the IIN table of ISO/IEC 7812
 * registrations as the networks publish them (Wikipedia "Payment card number" collects them).
 */
export function cardIinOk(d: string): boolean {
  const n = d.length;
  const p2 = Number(d.slice(0, 2));
  const p3 = Number(d.slice(0, 3));
  const p4 = Number(d.slice(0, 4));
  const p6 = Number(d.slice(0, 6));
  if (d[0] === '4') return n === 13 || n === 16 || n === 19; // Visa
  if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return n === 16; // Mastercard
  if (p2 === 34 || p2 === 37) return n === 15; // American Express
  if (p4 === 6011 || p2 === 65 || (p3 >= 644 && p3 <= 649) || (p6 >= 622126 && p6 <= 622925))
    return n >= 16 && n <= 19; // Discover
  if (p2 === 36 || p2 === 38 || p2 === 39 || (p3 >= 300 && p3 <= 305) || p3 === 309)
    return n >= 14 && n <= 19; // Diners
  if (p4 >= 3528 && p4 <= 3589) return n >= 16 && n <= 19; // JCB
  if (p4 === 1800 || p4 === 2131) return n === 15; // JCB, legacy 15-digit
  if (p2 === 62 || p2 === 81) return n >= 16 && n <= 19; // UnionPay
  if (p2 === 31) return n === 19; // China T-Union
  if (p2 === 50 || (p2 >= 56 && p2 <= 69)) return n >= 12 && n <= 19; // Maestro
  if (p4 >= 2200 && p4 <= 2204) return n >= 16 && n <= 19; // Mir
  if (p4 === 2205) return n === 16; // BORICA
  if (p4 === 9792 || p4 === 9860 || p4 === 8600) return n === 16; // Troy, Humo, Uzcard
  if (p4 === 9704) return n === 16 || n === 19; // Napas
  return false;
}

/** IBAN length per country (SWIFT IBAN Registry). */
const IBAN_LENGTHS: Record<string, number> = {
  AD: 24,
  AE: 23,
  AL: 28,
  AT: 20,
  AZ: 28,
  BA: 20,
  BE: 16,
  BG: 22,
  BH: 22,
  BI: 27,
  BR: 29,
  BY: 28,
  CH: 21,
  CR: 22,
  CY: 28,
  CZ: 24,
  DE: 22,
  DJ: 27,
  DK: 18,
  DO: 28,
  EE: 20,
  EG: 29,
  ES: 24,
  FI: 18,
  FK: 18,
  FO: 18,
  FR: 27,
  GB: 22,
  GE: 22,
  GI: 23,
  GL: 18,
  GR: 27,
  GT: 28,
  HR: 21,
  HU: 28,
  IE: 22,
  IL: 23,
  IQ: 23,
  IS: 26,
  IT: 27,
  JO: 30,
  KW: 30,
  KZ: 20,
  LB: 28,
  LC: 32,
  LI: 21,
  LT: 20,
  LU: 20,
  LV: 21,
  LY: 25,
  MC: 27,
  MD: 24,
  ME: 22,
  MK: 19,
  MN: 20,
  MR: 27,
  MT: 31,
  MU: 30,
  NI: 28,
  NL: 18,
  NO: 15,
  OM: 23,
  PK: 24,
  PL: 28,
  PS: 29,
  PT: 25,
  QA: 29,
  RO: 24,
  RS: 22,
  RU: 33,
  SA: 24,
  SC: 31,
  SD: 18,
  SE: 24,
  SI: 19,
  SK: 24,
  SM: 27,
  SO: 23,
  ST: 25,
  SV: 28,
  TL: 23,
  TN: 24,
  TR: 26,
  UA: 29,
  VA: 22,
  VG: 24,
  XK: 20,
  YE: 30,
};

/** ISO 13616: country length, then the mod-97 check over the rearranged number. */
export function ibanOk(compact: string): boolean {
  const len = IBAN_LENGTHS[compact.slice(0, 2)];
  if (len === undefined || compact.length !== len) return false;
  const s = compact.slice(4) + compact.slice(0, 4);
  let rem = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const v = c >= 65 ? c - 55 : c - 48;
    rem = v >= 10 ? (rem * 100 + v) % 97 : (rem * 10 + v) % 97;
  }
  return rem === 1;
}

/** SSA rules: area not 000, 666 or 9xx; group not 00; serial not 0000; not the famous samples. */
export function ssnOk(area: string, group: string, serial: string): boolean {
  const a = Number(area);
  if (a === 0 || a === 666 || a >= 900) return false;
  if (group === '00' || serial === '0000') return false;
  const all = area + group + serial;
  return all !== '078051120' && all !== '219099999' && !/^(\d)\1{8}$/.test(all) && all !== '123456789';
}

export function ipv4Ok(s: string): boolean {
  // Strict dotted quad: no leading zeros (they mean octal to some parsers), each part ≤ 255.
  return ipaddr.IPv4.isValidFourPartDecimal(s) && !/(?:^|\.)0\d/.test(s);
}

export function ipv6Ok(s: string): boolean {
  return s.includes(':') && ipaddr.IPv6.isValid(s) && (s.match(/:/g)?.length ?? 0) >= 2;
}

export function emailOk(local: string, domain: string): boolean {
  if (local.startsWith('.') || local.endsWith('.') || local.includes('..')) return false;
  const labels = domain.split('.');
  return labels.every((l) => l.length > 0 && l.length <= 63 && !l.startsWith('-') && !l.endsWith('-'));
}

/**
 * Cue words: the context check of presidio's recognizers, as a rule. A cue counts only in a label
 * position — right before the number, with at most a few filler words between ("Phone number:
 * …", "call me on …", "my card number is …") — so a cue word elsewhere in the sentence ("api call
 * took 123 456 789 ns", "Contact: order number 0012345678") does not make a number of the digits
 * after it. The fillers are label words (number, no., home, mobile…) and function words (my, is,
 * at…): another noun between cue and number ("order", "build", "ticket", "ICCID") names what the
 * number is instead.
 */
/** Separators between a cue, its fillers and the number: spaces, line breaks, ":", "#", quotes… */
const SEP = String.raw`[\s:#"'=(\-]`;
/** Words that may stand between a cue and its number. */
const FILLERS = String.raw`number|numbers|no\.|no|nr\.?|num|is|was|are|my|our|your|his|her|their|the|a|me|us|at|on|to|via|new|registered|primary|personal|private|business|work|home|office|mobile|cell|direct|main|daytime|line|contact`;
/** At most three filler words, then the separators before the number; anchored at the window end. */
const GAP = String.raw`(?:${SEP}*\b(?:${FILLERS})\b){0,3}${SEP}*$`;

/** Words that name a phone number wherever they label one. */
const PHONE_WORDS = String.raw`t[eé]l\.?|t[eé]l[eé]phone|tel[eé]fono?|phones?|mobile|mob\.|m[oó]vil|cell(?:phone|ular)?|fax|landline|hotline|helpline|voicemail|whats ?app|sms`;
/**
 * A phone cue before the number: a phone word, or a phrase that only a phone number completes
 * ("call me on", "text us at", "messages to", "not answering at", "dial", "contact number").
 * Not a bare "call" or "contact": "call getUser(…)", "contact count …" are about something else.
 */
const PHONE_CUE_BEFORE = new RegExp(
  String.raw`(?:\b(?:${PHONE_WORDS})|\b(?:call(?:ing)?|ring|text(?:ing)?|phon(?:e|ing)|whats ?app|sms|message)\s(?:me|us)\b|\b(?:messages?|sms|texts?|texted|texting)(?: me)? (?:to|on|at)\b|\bdial(?:l?ed|l?ing)?\b|\banswering (?:at|on)\b|\bcontact (?:number|no\.?|phone)\b)${GAP}`,
  'i',
);
const PHONE_WORD = new RegExp(String.raw`\b(?:${PHONE_WORDS})(?!\w)`, 'i');
/**
 * Labels that are ordinary words in prose ("the desk: 12 345 678 items", "home: 221 334 55
 * records"): a phone cue only for a number in international form ("Desk: +44 …") or in a block
 * that a phone word already labels ("Mobile: …\nDesk: …").
 */
const GENERIC_LABEL = new RegExp(String.raw`\b(?:office|desk|home|work|direct|main)\s?:${SEP}*$`, 'i');
/**
 * A label right after the number ("416 60 039 office", "…7641-Office\,", "… (mobile)"): it must
 * end the entry — line end, ")", "," , ";", "\", "|" — or it is a word about something else
 * ("12 345 678 office chairs").
 */
const PHONE_CUE_AFTER =
  /[ \t]{0,2}[-,(/]?[ \t]{0,2}(?:office|fax|mobile|cell|home|work|desk|tel|phone|landline)(?=[ \t]*(?:[)\r\n,;\\|]|$))/iy;
/** How far before a number its cue (with its fillers) may start. */
const CUE_WINDOW = 48;
/** How far before a generic label a phone word makes it a phone label. */
const LABEL_BLOCK = 120;

/** The text before `start` that a cue may occupy, not starting inside a word. */
function windowBefore(text: string, start: number, width: number): string {
  let from = Math.max(0, start - width);
  while (from > 0 && from < start && /\w/.test(text[from - 1]!)) from++;
  return text.slice(from, start);
}

/**
 * A phone cue in a label position: before `start` (PHONE_CUE_BEFORE, or a generic label for an
 * international number or in a block with a phone word) or a label right after `end`.
 */
export function phoneCueNear(text: string, start: number, end: number, international: boolean): boolean {
  const before = windowBefore(text, start, CUE_WINDOW);
  if (PHONE_CUE_BEFORE.test(before)) return true;
  const label = GENERIC_LABEL.exec(before);
  if (
    label &&
    (international || PHONE_WORD.test(windowBefore(text, start - before.length + label.index, LABEL_BLOCK)))
  )
    return true;
  PHONE_CUE_AFTER.lastIndex = end;
  return PHONE_CUE_AFTER.test(text);
}

/** Payment-card words ("card", "cc", "visa"…). */
const CARD_CUE = new RegExp(
  String.raw`\b(?:cards?|cc|credit|debit|visa|master ?card|amex|american express|discover|jcb|maestro|diners|union ?pay)\b(?:${SEP}*\b(?:number|no\.|no|nr\.?|num|is|was|ending|details|on|file)\b){0,3}[\s:#"'=(\-?]*$`,
  'i',
);

/** A payment-card word right before `start`, with at most a few fillers between ("my card number is …"). */
export function cardCueBefore(text: string, start: number): boolean {
  return CARD_CUE.test(windowBefore(text, start, CUE_WINDOW));
}

/**
 * Major industry identifier (ISO/IEC 7812-1, the first digit) and length of a payment card: 1–2
 * airlines, 3 travel and entertainment, 4–5 banking, 6 merchandising and banking, 7 petroleum;
 * 13–19 digits. Not 0 (ISO/TC 68 assignments), 8 (telecom and healthcare: a SIM's ICCID starts
 * 89) or 9 (national use).
 */
export function cardMiiOk(d: string): boolean {
  return d.length >= 13 && d.length <= 19 && d[0]! >= '1' && d[0]! <= '7';
}

export interface PhoneFinding {
  /** Offsets in the candidate. */
  start: number;
  end: number;
  confidence: number;
}

export interface PhoneChecker {
  /**
   * Numbers libphonenumber-js calls valid inside a candidate: international (0.9) or in the default
   * region (0.8); national-format ones (trunk 0 or area code in parentheses) of at least 9 digits
   * also in the fallback regions (0.6). Shorter or other numbers there are too often postcodes and
   * house numbers.
   */
  valid(candidate: string, digits: number): PhoneFinding[];
  /**
   * A length the numbering plan of the number's country (international) or of the default region
   * allows — or, for a number written in groups (`grouped`), of a fallback region: the weak test,
   * for a run that a cue already calls a phone. Fictional and synthetic numbers (555 exchanges,
   * unassigned area codes, local numbers without their area code) pass it.
   */
  possible(candidate: string, grouped: boolean): boolean;
}

/** "+44 …" or "(+44) …": written with the country calling code. */
export const isInternational = (candidate: string): boolean =>
  candidate.startsWith('+') || candidate.startsWith('(+');

export function createPhoneChecker(region: CountryCode, fallback: readonly CountryCode[]): PhoneChecker {
  return {
    valid(candidate, digits) {
      const international = isInternational(candidate);
      let confidence = international ? 0.9 : 0.8;
      let found = findNumbers(candidate, { defaultCountry: region, v2: true });
      const national = digits >= 9 && (candidate.startsWith('0') || candidate.startsWith('('));
      for (let i = 0; found.length === 0 && national && i < fallback.length; i++) {
        // A quick parse first (findNumbers costs ~3× more): the whole run must be a valid number
        // of the region; findNumbers then applies its leniency checks and gives the span.
        const r = fallback[i]!;
        if (!parsePhoneNumberFromString(candidate, { defaultCountry: r, extract: false })?.isValid())
          continue;
        found = findNumbers(candidate, { defaultCountry: r, v2: true });
        confidence = 0.6;
      }
      return found.map((f) => ({ start: f.startsAt, end: f.endsAt, confidence }));
    },
    possible(candidate, grouped) {
      if (isInternational(candidate)) return parsePhoneNumberFromString(candidate)?.isPossible() === true;
      if (parsePhoneNumberFromString(candidate, region)?.isPossible()) return true;
      for (let i = 0; grouped && i < fallback.length; i++) {
        const p = parsePhoneNumberFromString(candidate, fallback[i]);
        if (p?.isPossible() || p?.isValid()) return true;
      }
      return false;
    },
  };
}
