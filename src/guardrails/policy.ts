/**
 * Guardrail policy model (issue 7, item 1): per detector, where it applies, what it does, from
 * which score/confidence, how long it may take, and what happens when it cannot run. A workspace
 * has a policy (DEFAULT_POLICY until changed); a key may override parts of it.
 */
import type { CustomEntity, PiiEntity } from './pii.ts';
import { PII_ENTITIES } from './pii.ts';
import { compileSafeRegex } from './regex-policy.ts';
import { DETECTOR_NAMES, type DetectorName } from './types.ts';

export type Where = 'input' | 'output' | 'both';
export type Action = 'block' | 'redact' | 'pseudonymize' | 'log';
/** Fail closed ('block', the default) or open ('allow') when a detector throws or overruns its budget. */
export type OnError = 'block' | 'allow';

export interface DetectorPolicy {
  enabled: boolean;
  where: Where;
  action: Action;
  /** Minimum score (injection) or confidence (PII, secrets) for a finding to count. */
  threshold: number;
  /** Time the detector may take for one inspect() call; over it counts as an error. */
  timeBudgetMs: number;
  onError: OnError;
}

export interface PiiPolicy extends DetectorPolicy {
  entities: readonly PiiEntity[];
  custom: readonly CustomEntity[];
}

export interface SecretsPolicy extends DetectorPolicy {
  /** gitleaks / Portcullis rule ids switched off for this workspace or key. */
  disabledRules: readonly string[];
}

/**
 * Structured output (`response_format` json_schema / json_object, Responses `text.format`,
 * Anthropic `output_config.format`): the answer is checked against the schema the request sent.
 * Answers only, so `where` is always `output`; there is no score, so no threshold.
 */
export interface JsonSchemaPolicy {
  enabled: boolean;
  where: 'output';
  /** block: refuse a non-matching answer (output_schema_violation); log: deliver it, log the finding. */
  action: 'block' | 'log';
  /** Extra provider calls when a non-streaming answer does not match (0 or 1; streams never retry). */
  retries: number;
  /** Longer than this to check one answer counts as an error. */
  timeBudgetMs: number;
  /** An answer that cannot be checked (too large, over budget): refused ('block') or delivered. */
  onError: OnError;
}

/** Function tools the model may call (OWASP LLM08, excessive agency); null = any. */
export interface ToolPolicy {
  allow: readonly string[] | null;
}

/** Names allowed for a capability that is off unless listed (provider-hosted tools, beta flags). */
export interface AllowList {
  allow: readonly string[];
}

export interface GuardrailPolicy {
  'prompt-injection': DetectorPolicy;
  pii: PiiPolicy;
  secrets: SecretsPolicy;
  'json-schema': JsonSchemaPolicy;
  tools: ToolPolicy;
  /** Provider-hosted tools (web search, code execution, MCP …) by type or type prefix; none by default. */
  hostedTools: AllowList;
  /** `anthropic-beta` header flags; none by default. */
  betaFlags: AllowList;
}

export type PolicySection = keyof GuardrailPolicy;
const ACCESS_SECTIONS = ['tools', 'hostedTools', 'betaFlags'] as const;
const SECTIONS: readonly PolicySection[] = [...DETECTOR_NAMES, ...ACCESS_SECTIONS];

export type PolicyOverride = { [K in PolicySection]?: Partial<GuardrailPolicy[K]> };

/**
 * What a new workspace starts with (documented in docs/guardrails.md): secrets redacted both ways,
 * high-confidence injection blocked on input (user turns, tool results, documents), PII logged,
 * structured-output answers that do not match their schema refused (no retry).
 */
export const DEFAULT_POLICY: GuardrailPolicy = deepFreeze({
  'prompt-injection': {
    enabled: true,
    where: 'input',
    action: 'block',
    // Chosen on a validation split of the training rows (scripts/train-injection.ts --validate):
    // ~91 % recall at < 1 % false positives; 0.85 caught only ~60 % (docs/guardrails.md "Measured").
    threshold: 0.6,
    timeBudgetMs: 20,
    onError: 'block',
  },
  pii: {
    enabled: true,
    where: 'both',
    action: 'log',
    threshold: 0.5,
    timeBudgetMs: 20,
    onError: 'block',
    entities: PII_ENTITIES,
    custom: [],
  },
  secrets: {
    enabled: true,
    where: 'both',
    action: 'redact',
    threshold: 0.5,
    timeBudgetMs: 20,
    onError: 'block',
    disabledRules: [],
  },
  'json-schema': {
    enabled: true,
    where: 'output',
    action: 'block',
    retries: 0,
    timeBudgetMs: 100,
    onError: 'block',
  },
  tools: { allow: null },
  hostedTools: { allow: [] },
  betaFlags: { allow: [] },
});

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

export const appliesTo = (p: DetectorPolicy, stage: 'input' | 'output'): boolean =>
  p.enabled && (p.where === 'both' || p.where === stage);

/** Workspace policy, then each override in order (e.g. the key's); the result is frozen. */
export function mergePolicy(
  base: GuardrailPolicy,
  ...overrides: Array<PolicyOverride | undefined>
): GuardrailPolicy {
  const out = structuredClone(base) as GuardrailPolicy;
  for (const o of overrides) {
    if (!o) continue;
    for (const d of SECTIONS) {
      const part = o[d];
      if (part) Object.assign(out[d], structuredClone(part));
    }
  }
  return deepFreeze(out);
}

/** Validates an override from the admin API / CLI. Returns the problems, one line each (empty = valid). */
export function validatePolicyOverride(input: unknown): string[] {
  const errors: string[] = [];
  if (!input || typeof input !== 'object' || Array.isArray(input)) return ['policy must be an object'];
  for (const [name, value] of Object.entries(input)) {
    if ((ACCESS_SECTIONS as readonly string[]).includes(name)) {
      errors.push(...validateAllowList(name, value));
      continue;
    }
    if (!DETECTOR_NAMES.includes(name as DetectorName)) {
      errors.push(`unknown detector "${name}"`);
      continue;
    }
    if (!value || typeof value !== 'object') {
      errors.push(`${name}: must be an object`);
      continue;
    }
    const v = value as Record<string, unknown>;
    if (name === 'json-schema') {
      errors.push(...validateJsonSchemaPolicy(v));
      continue;
    }
    const check = (ok: boolean, msg: string): void => {
      if (!ok) errors.push(`${name}.${msg}`);
    };
    if ('enabled' in v) check(typeof v.enabled === 'boolean', 'enabled: must be a boolean');
    if ('where' in v)
      check(['input', 'output', 'both'].includes(v.where as string), 'where: input|output|both');
    if ('action' in v) {
      const allowed =
        name === 'prompt-injection' ? ['block', 'log'] : ['block', 'redact', 'pseudonymize', 'log'];
      check(allowed.includes(v.action as string), `action: ${allowed.join('|')}`);
    }
    if ('threshold' in v)
      check(typeof v.threshold === 'number' && v.threshold >= 0 && v.threshold <= 1, 'threshold: 0..1');
    if ('timeBudgetMs' in v) {
      check(
        typeof v.timeBudgetMs === 'number' && v.timeBudgetMs > 0 && v.timeBudgetMs <= 10_000,
        'timeBudgetMs: 1..10000',
      );
    }
    if ('onError' in v) check(v.onError === 'block' || v.onError === 'allow', 'onError: block|allow');
    if (name === 'pii' && 'entities' in v) {
      check(
        Array.isArray(v.entities) && v.entities.every((e) => PII_ENTITIES.includes(e as PiiEntity)),
        `entities: subset of ${PII_ENTITIES.join(',')}`,
      );
    }
    if (name === 'pii' && 'custom' in v) {
      if (!Array.isArray(v.custom) || v.custom.length > 50) errors.push('pii.custom: at most 50 entities');
      else
        for (const c of v.custom as Array<Record<string, unknown>>) {
          if (typeof c?.name !== 'string' || !/^[A-Z][A-Z0-9_]{0,39}$/.test(c.name)) {
            errors.push('pii.custom[].name: UPPER_SNAKE, up to 40 characters');
            continue;
          }
          const r = compileSafeRegex(String(c.pattern ?? ''), typeof c.flags === 'string' ? c.flags : '');
          if (!r.ok) errors.push(`pii.custom.${c.name}: ${r.reason}`);
        }
    }
    if (name === 'secrets' && 'disabledRules' in v) {
      check(
        Array.isArray(v.disabledRules) && v.disabledRules.every((r) => typeof r === 'string'),
        'disabledRules: string[]',
      );
    }
  }
  return errors;
}

/** The json-schema section: its own fields only (a threshold or entity list would mean nothing here). */
function validateJsonSchemaPolicy(v: Record<string, unknown>): string[] {
  const errors: string[] = [];
  const rules: Record<string, [(x: unknown) => boolean, string]> = {
    enabled: [(x) => typeof x === 'boolean', 'must be a boolean'],
    where: [(x) => x === 'output', 'output (answers are checked, requests are not)'],
    action: [(x) => x === 'block' || x === 'log', 'block|log'],
    retries: [(x) => x === 0 || x === 1, '0 or 1 (extra provider calls for a non-matching answer)'],
    timeBudgetMs: [(x) => typeof x === 'number' && x > 0 && x <= 10_000, '1..10000'],
    onError: [(x) => x === 'block' || x === 'allow', 'block|allow'],
  };
  for (const [field, value] of Object.entries(v)) {
    const rule = rules[field];
    if (!rule) errors.push(`json-schema.${field}: unknown field`);
    else if (!rule[0](value)) errors.push(`json-schema.${field}: ${rule[1]}`);
  }
  return errors;
}

/** `{ allow: [...] }` of names (tools: also `null` = any), each 1-128 printable characters, at most 256. */
function validateAllowList(name: string, value: unknown): string[] {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return [`${name}: must be an object`];
  const errors: string[] = [];
  for (const [k, v] of Object.entries(value)) {
    if (k !== 'allow') {
      errors.push(`${name}.${k}: unknown field`);
      continue;
    }
    if (v === null && name === 'tools') continue;
    const ok =
      Array.isArray(v) &&
      v.length <= 256 &&
      v.every((t) => typeof t === 'string' && /^[\x21-\x7e]{1,128}$/.test(t));
    if (!ok)
      errors.push(`${name}.allow: ${name === 'tools' ? 'null or ' : ''}up to 256 names without spaces`);
  }
  return errors;
}
