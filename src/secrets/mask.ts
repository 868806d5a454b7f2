/**
 * The masked form shown for a secret after creation (`sk-proj-abc…xyz9`): enough for a person to
 * tell two keys apart and recognise the kind, never enough to help guess it.
 *
 * Known public type prefixes (`sk-proj-`, `pcx_live_`) are shown as they are: they carry no entropy.
 * Of the rest, at most a quarter is revealed (up to 3 leading and 4 trailing characters); a generic
 * prefix-looking start counts against that quarter because it might be random. Values shorter than
 * 16 characters have too little to spare and are shown as a bare ellipsis.
 */

export const ELLIPSIS = '…';
const MIN_LENGTH = 16;
const HEAD = 3;
const TAIL = 4;

// Longest first: the first match wins.
const KNOWN_PREFIXES = [
  'sk-ant-admin01-',
  'sk-ant-api03-',
  'sk-svcacct-',
  'sk-or-v1-',
  'github_pat_',
  'sk-admin-',
  'pcx_live_',
  'pcx_test_',
  'sk-proj-',
  'sk-ant-',
  'xoxb-',
  'xoxp-',
  'pplx-',
  'pcx_',
  'ghp_',
  'gho_',
  'ghs_',
  'gsk_',
  'AKIA',
  'AIza',
  'sk-',
  'hf_',
  'r8_',
];

// e.g. "whsec_", "acme-live-": lower-case words, each ended by - or _.
const GENERIC_PREFIX = /^(?:[a-z]{2,10}[-_]){1,2}/;

export function maskSecret(value: string): string {
  if (value.length < MIN_LENGTH) return ELLIPSIS;
  const known = KNOWN_PREFIXES.find((p) => value.startsWith(p));
  let prefix = known ?? '';
  let budget = Math.floor((value.length - prefix.length) / 4);
  if (known === undefined) {
    const generic = GENERIC_PREFIX.exec(value)?.[0] ?? '';
    // Keep a generic prefix only when it still leaves room for the last characters.
    if (generic.length > 0 && generic.length + TAIL <= budget) {
      prefix = generic;
      budget -= generic.length;
    }
  }
  const body = value.slice(prefix.length);
  const tail = Math.min(TAIL, budget);
  const head = Math.min(HEAD, budget - tail);
  return `${prefix}${body.slice(0, head)}${ELLIPSIS}${tail > 0 ? body.slice(-tail) : ''}`;
}
