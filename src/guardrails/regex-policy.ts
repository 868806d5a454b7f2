/**
 * Admission rules for operator-supplied regexes (custom PII entities, extra secret rules).
 * V8's engine backtracks, so a pattern like `(a+)+$` can take exponential time on a crafted
 * input. We refuse the constructs that cause it instead of hoping:
 * - nested quantifiers (a quantified group that contains a quantifier: "star height" > 1),
 * - quantified groups with alternation (`(a|ab)*`: overlapping alternatives backtrack too),
 * - backreferences and lookbehind (not regular; can be super-linear),
 * - unbounded pattern length.
 * And every custom regex runs on a bounded input (CUSTOM_REGEX_MAX_INPUT), so even a
 * polynomial pattern has a ceiling.
 */

export const CUSTOM_REGEX_MAX_LENGTH = 512;
export const CUSTOM_REGEX_MAX_INPUT = 65_536;

export type RegexVerdict = { ok: true; regex: RegExp } | { ok: false; reason: string };

/** Check a pattern against the policy and compile it with the `g` flag (plus `i` if asked). */
export function compileSafeRegex(source: string, flags = ''): RegexVerdict {
  if (source.length === 0 || source.length > CUSTOM_REGEX_MAX_LENGTH) {
    return { ok: false, reason: `pattern must be 1..${CUSTOM_REGEX_MAX_LENGTH} characters` };
  }
  if (/[^imsu]/.test(flags)) return { ok: false, reason: 'only the flags i, m, s, u are allowed' };
  if (/\\[1-9]|\\k</.test(source)) return { ok: false, reason: 'backreferences are not allowed' };
  if (/\(\?<[=!]/.test(source)) return { ok: false, reason: 'lookbehind is not allowed' };
  // Walk the pattern tracking, per open group, whether it holds a quantifier or an alternation.
  const stack: Array<{ quantified: boolean; alternation: boolean }> = [
    { quantified: false, alternation: false },
  ];
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === '(') stack.push({ quantified: false, alternation: false });
    else if (c === '|') stack.at(-1)!.alternation = true;
    else if (c === ')') {
      const group = stack.pop();
      if (!group || stack.length === 0) return { ok: false, reason: 'unbalanced parentheses' };
      const next = source[i + 1];
      const quantifiedGroup = next === '*' || next === '+' || next === '?' || next === '{';
      const unbounded =
        next === '*' || next === '+' || (next === '{' && /^\{\d+,(?:\d{3,})?\}/.test(source.slice(i + 1)));
      if (quantifiedGroup && group.quantified && unbounded) {
        return { ok: false, reason: 'nested quantifiers can backtrack catastrophically' };
      }
      if (unbounded && group.alternation) {
        return { ok: false, reason: 'a repeated group with alternatives can backtrack catastrophically' };
      }
      if (group.quantified || quantifiedGroup) stack.at(-1)!.quantified = true;
    } else if (c === '*' || c === '+' || c === '{') stack.at(-1)!.quantified = true;
  }
  if (stack.length !== 1) return { ok: false, reason: 'unbalanced parentheses' };
  try {
    return { ok: true, regex: new RegExp(source, `${flags}g`) };
  } catch {
    return { ok: false, reason: 'not a valid regular expression' };
  }
}
