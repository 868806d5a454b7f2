/**
 * Structured-output checks (issue 7, item 7; DESIGN.md stage 7): does the model's answer match the
 * JSON Schema the client asked for (`response_format`, `text.format`, `output_config.format`)?
 *
 * The schema is untrusted input — it comes with the request — so it is compiled defensively:
 * - nothing is ever fetched: no `loadSchema`, so a `$ref` outside the schema is a compile error;
 * - every `pattern` / `patternProperties` regex passes the safe-regex policy first
 *   (regex-policy.ts: no nested unbounded quantifiers, repeated alternations, backreferences or
 *   lookbehind, at most 512 characters), because V8 backtracks and the answer is model text;
 * - the schema's canonical JSON is bounded (size and depth) before Ajv sees it;
 * - compiled validators are cached (LRU) per scope (workspace) and canonical JSON, so one tenant
 *   cannot tell from timing which schemas another used (DESIGN.md invariant 3);
 * - schemas with `$id` register themselves inside Ajv (a root `$ref: "#"` needs it); those
 *   registrations are undone after each compile, so one client's schema can never `$ref` another's,
 *   and the Ajv instance is replaced after a few hundred compiles because it keeps per-schema state
 *   for ever.
 *
 * Results name a JSON Pointer (RFC 6901) into the answer and the failing keyword, never answer
 * text: an object key the schema does not declare (it was chosen by the model) shows as `*`.
 */
import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsPlugin from 'ajv-formats';
import { compileSafeRegex } from './regex-policy.ts';

/** What a check found. `invalid` names where and why; `error` means the check could not run. */
export type AnswerCheck =
  | { outcome: 'valid' }
  | { outcome: 'invalid'; pointer: string; keyword: string }
  | { outcome: 'error'; reason: 'too_large' | 'exception' | 'timeout' };

/** Checks one answer text; pure, synchronous, bounded by `maxAnswerChars`. */
export type AnswerValidator = (text: string) => AnswerCheck;

/** The client's schema cannot be used; `message` is about their own schema, safe to send back (400). */
export class SchemaRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SchemaRefusedError';
  }
}

export interface JsonSchemaValidators {
  /** `json_object`: the answer must be one JSON object (RFC 8259 text whose value is an object). */
  readonly jsonObject: AnswerValidator;
  /** Compiles a client schema, cached per `scope`; throws SchemaRefusedError. */
  compile(schema: unknown, scope: string): AnswerValidator;
}

export interface JsonSchemaOptions {
  /** Compiled validators kept (LRU). */
  cacheSize?: number;
  /** Longest schema, as canonical JSON characters. */
  maxSchemaChars?: number;
  /** Deepest schema nesting (the request body's own depth limit usually stops it first). */
  maxSchemaDepth?: number;
  /** Longest answer text checked; longer ones are an `error` (fail closed by policy). */
  maxAnswerChars?: number;
  /** Compiles after which a fresh Ajv instance is used (Ajv keeps state per compiled schema). */
  recycleAfter?: number;
}

export const JSON_SCHEMA_LIMITS = {
  cacheSize: 256,
  maxSchemaChars: 262_144,
  maxSchemaDepth: 64,
  maxAnswerChars: 4_194_304,
  recycleAfter: 256,
} as const;

/** The string formats OpenAI structured outputs support; other formats are ignored, as providers do. */
const FORMATS = ['date-time', 'time', 'date', 'duration', 'email', 'hostname', 'ipv4', 'ipv6', 'uuid'];

const DRAFT_07 = new Set([
  'http://json-schema.org/draft-07/schema',
  'http://json-schema.org/draft-07/schema#',
]);
const DRAFT_2020 = new Set([
  'https://json-schema.org/draft/2020-12/schema',
  'https://json-schema.org/draft/2020-12/schema#',
]);

const MAX_POINTER = 512;

type RegExpEngine = NonNullable<NonNullable<Options['code']>['regExp']>;

/** Ajv's regex engine hook: every schema pattern is admitted by the safe-regex policy, or refused. */
const safeRegExp: RegExpEngine = Object.assign(
  (pattern: string, flags: string) => {
    const verdict = compileSafeRegex(pattern, flags);
    if (!verdict.ok) {
      throw new SchemaRefusedError(
        `the pattern ${JSON.stringify(pattern.slice(0, 64))} is refused: ${verdict.reason}`,
      );
    }
    // Without the `g` flag compileSafeRegex adds: RegExp#test must not carry lastIndex between calls.
    return new RegExp(pattern, flags);
  },
  { code: 'new RegExp' },
);

const addFormats = addFormatsPlugin as unknown as (ajv: Ajv, options: object) => Ajv;

function newAjv(draft: '07' | '2020'): Ajv {
  const options: Options = {
    // Unknown keywords (title, description, x-*, provider extensions) are ignored, as the
    // providers ignore them; strict mode would refuse ordinary client schemas.
    strict: false,
    allErrors: false,
    logger: false,
    // A schema property named `constructor` or `__proto__` must not find Object.prototype's.
    ownProperties: true,
    code: { regExp: safeRegExp },
  };
  const ajv = draft === '2020' ? (new Ajv2020(options) as unknown as Ajv) : new Ajv(options);
  return addFormats(ajv, { mode: 'fast', formats: FORMATS, keywords: false });
}

/** Canonical JSON (keys sorted), refusing what is too deep or too large before Ajv walks it. */
function canonical(value: unknown, maxDepth: number, maxChars: number): string {
  let size = 0;
  const grow = (n: number): void => {
    size += n;
    if (size > maxChars) throw new SchemaRefusedError(`it is larger than ${maxChars} characters`);
  };
  const walk = (v: unknown, depth: number): string => {
    if (depth > maxDepth) throw new SchemaRefusedError(`it is nested deeper than ${maxDepth} levels`);
    if (Array.isArray(v)) {
      grow(1 + v.length);
      return `[${v.map((x) => walk(x, depth + 1)).join(',')}]`;
    }
    if (typeof v === 'object' && v !== null) {
      const keys = Object.keys(v).sort();
      grow(1 + keys.length);
      const parts = keys.map((k) => {
        const name = JSON.stringify(k);
        grow(name.length + 1);
        return `${name}:${walk((v as Record<string, unknown>)[k], depth + 1)}`;
      });
      return `{${parts.join(',')}}`;
    }
    const leaf = JSON.stringify(v) ?? 'null';
    grow(leaf.length);
    return leaf;
  };
  return walk(value, 0);
}

/** Object keys the schema itself names (`properties`, `required`): safe to show in a pointer. */
function declaredNames(schema: unknown): Set<string> {
  const names = new Set<string>();
  const stack: unknown[] = [schema];
  while (stack.length > 0) {
    const v = stack.pop();
    if (Array.isArray(v)) {
      stack.push(...v);
      continue;
    }
    if (typeof v !== 'object' || v === null) continue;
    const o = v as Record<string, unknown>;
    const props = o.properties;
    if (typeof props === 'object' && props !== null && !Array.isArray(props))
      for (const k of Object.keys(props)) names.add(k);
    if (Array.isArray(o.required)) for (const r of o.required) if (typeof r === 'string') names.add(r);
    stack.push(...Object.values(o));
  }
  return names;
}

const escapeSegment = (s: string): string => s.replaceAll('~', '~0').replaceAll('/', '~1');
const unescapeSegment = (s: string): string => s.replaceAll('~1', '/').replaceAll('~0', '~');

/**
 * The pointer to report for an Ajv error. Ajv's instancePath is already a JSON Pointer; segments
 * that are neither array indices nor names from the schema are the model's own keys, so they
 * become `*`. A missing required property is appended (its name comes from the schema).
 */
function pointerOf(error: ErrorObject, declared: ReadonlySet<string>): string {
  const segments = error.instancePath === '' ? [] : error.instancePath.slice(1).split('/');
  const shown = segments.map((raw) => {
    const s = unescapeSegment(raw);
    return /^(0|[1-9]\d*)$/.test(s) || declared.has(s) ? escapeSegment(s) : '*';
  });
  const missing = (error.params as { missingProperty?: unknown }).missingProperty;
  if (error.keyword === 'required' && typeof missing === 'string' && declared.has(missing))
    shown.push(escapeSegment(missing));
  const pointer = shown.length === 0 ? '' : `/${shown.join('/')}`;
  return pointer.length > MAX_POINTER ? `${pointer.slice(0, MAX_POINTER)}…` : pointer;
}

function parse(text: string, maxChars: number): { value: unknown } | AnswerCheck {
  if (text.length > maxChars) return { outcome: 'error', reason: 'too_large' };
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    // The parser's message quotes the answer; it is dropped (invariant 1).
    return { outcome: 'invalid', pointer: '', keyword: 'json' };
  }
}

export function createJsonSchemaValidators(options: JsonSchemaOptions = {}): JsonSchemaValidators {
  const limits = { ...JSON_SCHEMA_LIMITS, ...options };
  const cache = new Map<string, AnswerValidator | SchemaRefusedError>();
  const instances: { '07'?: { ajv: Ajv; compiles: number }; '2020'?: { ajv: Ajv; compiles: number } } = {};

  const ajvFor = (draft: '07' | '2020'): Ajv => {
    let entry = instances[draft];
    if (!entry || entry.compiles >= limits.recycleAfter) {
      entry = { ajv: newAjv(draft), compiles: 0 };
      instances[draft] = entry;
    }
    entry.compiles++;
    return entry.ajv;
  };

  const jsonObject: AnswerValidator = (text) => {
    const parsed = parse(text, limits.maxAnswerChars);
    if ('outcome' in parsed) return parsed;
    const v = parsed.value;
    return typeof v === 'object' && v !== null && !Array.isArray(v)
      ? { outcome: 'valid' }
      : { outcome: 'invalid', pointer: '', keyword: 'type' };
  };

  const build = (schema: Record<string, unknown>): AnswerValidator => {
    const declared = schemaDialect(schema);
    const ajv = ajvFor(declared);
    const registered = { refs: { ...ajv.refs }, schemas: { ...ajv.schemas } };
    let validate: ValidateFunction;
    try {
      validate = ajv.compile(schema);
    } catch (err) {
      if (err instanceof SchemaRefusedError) throw err;
      throw new SchemaRefusedError(compileProblem(err));
    } finally {
      restoreRegistrations(ajv, schema, registered);
    }
    const names = declaredNames(schema);
    return (text) => {
      const parsed = parse(text, limits.maxAnswerChars);
      if ('outcome' in parsed) return parsed;
      try {
        if (validate(parsed.value)) return { outcome: 'valid' };
      } catch {
        // e.g. a stack overflow on an absurdly deep answer under a recursive schema
        return { outcome: 'error', reason: 'exception' };
      }
      // With allErrors off, Ajv stops at the first failing keyword; combinators (anyOf, oneOf,
      // if) list their branches' errors first and their own last: the last one is the decision.
      const error = validate.errors?.at(-1);
      if (!error) return { outcome: 'invalid', pointer: '', keyword: 'schema' };
      return { outcome: 'invalid', pointer: pointerOf(error, names), keyword: error.keyword };
    };
  };

  return {
    jsonObject,
    compile(schema, scope) {
      if (typeof schema !== 'object' || schema === null || Array.isArray(schema))
        throw new SchemaRefusedError('it must be a JSON Schema object');
      const key = `${scope}\u0000${canonical(schema, limits.maxSchemaDepth, limits.maxSchemaChars)}`;
      let hit = cache.get(key);
      if (hit) {
        cache.delete(key);
      } else {
        try {
          // Ajv annotates nothing on the schema, but the caller's object stays the caller's.
          hit = build(structuredClone(schema) as Record<string, unknown>);
        } catch (err) {
          if (!(err instanceof SchemaRefusedError)) throw err;
          hit = err;
        }
        if (cache.size >= limits.cacheSize) cache.delete(cache.keys().next().value as string);
      }
      cache.set(key, hit);
      if (hit instanceof SchemaRefusedError) throw hit;
      return hit;
    },
  };
}

/** Draft-07 unless the schema declares 2020-12; other dialects are refused rather than guessed. */
function schemaDialect(schema: Record<string, unknown>): '07' | '2020' {
  const declared = schema.$schema;
  if (declared === undefined) return '07';
  if (typeof declared === 'string' && DRAFT_07.has(declared)) return '07';
  if (typeof declared === 'string' && DRAFT_2020.has(declared)) return '2020';
  throw new SchemaRefusedError('$schema must be draft-07 or 2020-12 (or be left out)');
}

/** Ajv's reason for refusing a schema, kept short; it describes the client's schema, not the answer. */
function compileProblem(err: unknown): string {
  const e = err as { missingRef?: unknown; message?: unknown } | null;
  if (typeof e?.missingRef === 'string') {
    return `$ref ${JSON.stringify(e.missingRef.slice(0, 200))} cannot be resolved: only references inside the schema are followed, nothing is fetched`;
  }
  const message = typeof e?.message === 'string' ? e.message : 'it is not a valid JSON Schema';
  return message.length > 300 ? `${message.slice(0, 300)}…` : message;
}

/**
 * Puts Ajv's registries back as they were before a compile: what the client's schema registered
 * ($id, nested ids) is forgotten, so no later schema can $ref it, and an id the client borrowed
 * (say, the meta-schema's) cannot unregister the original on its way out.
 */
function restoreRegistrations(
  ajv: Ajv,
  schema: object,
  before: { refs: Ajv['refs']; schemas: Ajv['schemas'] },
): void {
  try {
    // Drops the compiled schema from Ajv's own cache (the validator keeps working).
    ajv.removeSchema(schema);
  } catch {
    // Nothing was registered.
  }
  for (const [now, was] of [
    [ajv.refs, before.refs],
    [ajv.schemas, before.schemas],
  ] as const) {
    const table = now as Record<string, unknown>;
    for (const k of Object.keys(table)) if (!Object.hasOwn(was, k)) delete table[k];
    for (const [k, v] of Object.entries(was)) table[k] = v;
  }
}
