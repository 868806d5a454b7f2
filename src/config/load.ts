import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import ipaddr from 'ipaddr.js';
import { parse as parseYaml } from 'yaml';
import { type Config, ConfigSchema, ENV_ALIASES } from './schema.ts';

/**
 * Loads the configuration: defaults < YAML file < environment. This is the only module that reads
 * process.env (the caller passes it in). Every problem is collected and reported at once, each
 * with the setting's path and where the value came from; the result is deep-frozen.
 */

export interface ConfigProblem {
  /** Dotted setting path, e.g. `tls.minVersion`. */
  path: string;
  message: string;
  /** Where the offending value came from: `default`, `file <name>`, or the environment variable. */
  source: string;
}

export class ConfigError extends Error {
  readonly problems: ConfigProblem[];
  constructor(problems: ConfigProblem[]) {
    super(
      `invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((p) => `  - ${p.path}: ${p.message} [${p.source}]`).join('\n'),
    );
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export interface LoadedConfig {
  config: Readonly<Config>;
  /** Where each set value came from, by dotted path (settings left at their default are absent). */
  sources: Readonly<Record<string, string>>;
  configFile?: string;
}

export interface LoadOptions {
  env: Readonly<Record<string, string | undefined>>;
  /** `--config FILE`; falls back to PORTCULLIS_CONFIG. */
  configFile?: string;
  cwd?: string;
}

interface Leaf {
  path: string[];
  schema: TSchema;
  secret: boolean;
  env: string;
}

const ENV_PREFIX = 'PORTCULLIS_';
/** Environment variables that are not settings but are understood by the loader or the CLI. */
const NON_SETTING_ENV = new Set(['PORTCULLIS_CONFIG']);

function snake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

function isObjectSchema(schema: TSchema): boolean {
  return schema.type === 'object' && typeof schema.properties === 'object';
}

function collectLeaves(schema: TSchema, prefix: string[] = []): Leaf[] {
  const leaves: Leaf[] = [];
  for (const [name, child] of Object.entries(schema.properties as Record<string, TSchema>)) {
    const p = [...prefix, name];
    if (isObjectSchema(child)) leaves.push(...collectLeaves(child, p));
    else
      leaves.push({
        path: p,
        schema: child,
        secret: child.secret === true,
        env: ENV_PREFIX + p.map(snake).join('_'),
      });
  }
  return leaves;
}

export const CONFIG_LEAVES: readonly Leaf[] = Object.freeze(collectLeaves(ConfigSchema));

function setPath(target: Record<string, unknown>, keys: string[], value: unknown): void {
  let node = target;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1] as string] = value;
}

function getPath(source: unknown, keys: readonly string[]): unknown {
  let node = source;
  for (const key of keys) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

/** Turns an environment string into the leaf's type; returns a problem message instead when it cannot. */
function fromEnv(leaf: Leaf, raw: string): { value: unknown } | { problem: string } {
  const type = leaf.schema.type;
  if (type === 'integer' || type === 'number') {
    if (!/^-?\d+(\.\d+)?$/.test(raw.trim())) return { problem: `expected a number, got "${raw}"` };
    return { value: Number(raw.trim()) };
  }
  if (type === 'boolean') {
    const v = raw.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(v)) return { value: true };
    if (['false', '0', 'no', 'off', ''].includes(v)) return { value: false };
    return { problem: `expected true or false, got "${raw}"` };
  }
  if (type === 'array') {
    return {
      value: raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0),
    };
  }
  return { value: raw };
}

function readSecretFile(file: string, cwd: string): { value: string } | { problem: string } {
  try {
    // A trailing newline is an artefact of `echo > file`, never part of the secret.
    return { value: readFileSync(path.resolve(cwd, file), 'utf8').replace(/\r?\n$/, '') };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    return { problem: `cannot read secret file ${file} (${code})` };
  }
}

function describeError(error: { message: string; schema: TSchema; value: unknown }, secret: boolean): string {
  const s = error.schema;
  if (Array.isArray(s.anyOf) && s.anyOf.every((x: TSchema) => 'const' in x)) {
    return `must be one of ${s.anyOf.map((x: TSchema) => JSON.stringify(x.const)).join(', ')}`;
  }
  if (s.pattern !== undefined && typeof error.value === 'string') {
    return secret
      ? `does not match the expected form (${s.pattern})`
      : `"${error.value}" does not match ${s.pattern}`;
  }
  return error.message.toLowerCase();
}

function validCidrOrIp(entry: string): boolean {
  if (isIP(entry) !== 0) return true;
  try {
    ipaddr.parseCIDR(entry);
    return true;
  } catch {
    return false;
  }
}

function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (!ipaddr.isValid(host)) return false;
  const addr = ipaddr.process(host);
  return addr.range() === 'loopback';
}

/** Rules that span several settings, checked after the schema so both kinds are reported together. */
function crossChecks(config: Config, sourceOf: (p: string) => string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const tls = config.tls;
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    const missing = tls.certFile === undefined ? 'tls.certFile' : 'tls.keyFile';
    problems.push({
      path: missing,
      message: 'TLS needs both a certificate and a key; only one is set',
      source: sourceOf(missing),
    });
  }
  for (const [i, entry] of config.trustedProxies.entries()) {
    if (!validCidrOrIp(entry))
      problems.push({
        path: `trustedProxies[${i}]`,
        message: `"${entry}" is not an IP address or CIDR`,
        source: sourceOf('trustedProxies'),
      });
  }
  const tlsOn = tls.certFile !== undefined && tls.keyFile !== undefined;
  if (!tlsOn && !isLoopbackHost(config.host)) {
    if (!config.allowPlainHttp) {
      problems.push({
        path: 'host',
        message: `refusing plain HTTP on non-loopback address ${config.host}: set tls.certFile and tls.keyFile, or set allowPlainHttp behind a TLS-terminating proxy listed in trustedProxies`,
        source: sourceOf('host'),
      });
    } else if (config.trustedProxies.length === 0) {
      problems.push({
        path: 'allowPlainHttp',
        message:
          'plain HTTP is only allowed behind a TLS-terminating proxy: list its addresses in trustedProxies',
        source: sourceOf('allowPlainHttp'),
      });
    }
  }
  return problems;
}

function deepFreeze<T>(value: T): Readonly<T> {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

export function loadConfig(options: LoadOptions): LoadedConfig {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env;
  const problems: ConfigProblem[] = [];
  const sources: Record<string, string> = {};
  const raw: Record<string, unknown> = {};

  const configFile = options.configFile ?? env.PORTCULLIS_CONFIG;
  if (configFile !== undefined && configFile !== '') {
    const label = `file ${configFile}`;
    let parsed: unknown;
    let text: string | undefined;
    try {
      text = readFileSync(path.resolve(cwd, configFile), 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      problems.push({ path: '(config file)', message: `cannot read it (${code})`, source: label });
    }
    try {
      if (text !== undefined) parsed = parseYaml(text);
    } catch (err) {
      const reason = `not valid YAML: ${(err as Error).message.split('\n')[0]}`;
      problems.push({ path: '(config file)', message: reason, source: label });
    }
    if (parsed !== undefined && parsed !== null) {
      if (typeof parsed !== 'object' || Array.isArray(parsed)) {
        problems.push({
          path: '(config file)',
          message: 'must be a YAML mapping of settings',
          source: label,
        });
      } else {
        Object.assign(raw, structuredClone(parsed));
        for (const leaf of CONFIG_LEAVES) {
          const dotted = leaf.path.join('.');
          if (getPath(raw, leaf.path) !== undefined) sources[dotted] = label;
          // Secrets may be given in the file as `<name>File: path` instead of inline.
          const fileKey = [...leaf.path.slice(0, -1), `${leaf.path[leaf.path.length - 1]}File`];
          const fileRef = getPath(raw, fileKey);
          if (leaf.secret && fileRef !== undefined) {
            const parent = getPath(raw, leaf.path.slice(0, -1)) ?? raw;
            delete (parent as Record<string, unknown>)[fileKey[fileKey.length - 1] as string];
            if (typeof fileRef !== 'string') {
              problems.push({ path: fileKey.join('.'), message: 'must be a file path', source: label });
              continue;
            }
            const read = readSecretFile(fileRef, path.dirname(path.resolve(cwd, configFile)));
            if ('problem' in read) problems.push({ path: dotted, message: read.problem, source: label });
            else setPath(raw, leaf.path, read.value);
            sources[dotted] = label;
          }
        }
      }
    }
  }

  const byEnv = new Map<string, Leaf>();
  for (const leaf of CONFIG_LEAVES) byEnv.set(leaf.env, leaf);
  const applyEnv = (leaf: Leaf, name: string): void => {
    const value = env[name];
    const fileName = `${name}_FILE`;
    const fileValue = leaf.secret ? env[fileName] : undefined;
    const dotted = leaf.path.join('.');
    if (value !== undefined && fileValue !== undefined) {
      problems.push({ path: dotted, message: `set either ${name} or ${fileName}, not both`, source: name });
      return;
    }
    if (fileValue !== undefined) {
      const read = readSecretFile(fileValue, cwd);
      if ('problem' in read) problems.push({ path: dotted, message: read.problem, source: fileName });
      else {
        setPath(raw, leaf.path, read.value);
        sources[dotted] = fileName;
      }
      return;
    }
    if (value === undefined) return;
    const parsed = fromEnv(leaf, value);
    if ('problem' in parsed)
      problems.push({ path: dotted, message: leaf.secret ? 'invalid value' : parsed.problem, source: name });
    else {
      setPath(raw, leaf.path, parsed.value);
      sources[dotted] = name;
    }
  };
  // Aliases first so the PORTCULLIS_* spelling wins when both are set.
  for (const [alias, dotted] of Object.entries(ENV_ALIASES)) {
    const leaf = CONFIG_LEAVES.find((l) => l.path.join('.') === dotted);
    if (leaf) applyEnv(leaf, alias);
  }
  for (const leaf of CONFIG_LEAVES) applyEnv(leaf, leaf.env);
  for (const name of Object.keys(env)) {
    if (!name.startsWith(ENV_PREFIX) || NON_SETTING_ENV.has(name) || byEnv.has(name)) continue;
    const base = name.endsWith('_FILE') ? name.slice(0, -5) : name;
    if (byEnv.get(base)?.secret) continue;
    problems.push({ path: name, message: 'unknown setting (check the spelling)', source: name });
  }

  const withDefaults = Value.Default(ConfigSchema, raw) as Config;
  const sourceOf = (dotted: string): string => sources[dotted] ?? 'default';
  for (const error of Value.Errors(ConfigSchema, withDefaults)) {
    const keys = error.path.split('/').filter(Boolean);
    const dotted = keys.join('.') || '(root)';
    const leaf = CONFIG_LEAVES.find((l) => dotted.startsWith(l.path.join('.')));
    // Unions report once per member and once for the union; keep only the union's message.
    if (problems.some((p) => p.path === dotted)) continue;
    if (error.message.startsWith('Unexpected property')) {
      problems.push({
        path: dotted,
        message: 'unknown setting (check the spelling)',
        source: sourceOf(dotted),
      });
      continue;
    }
    problems.push({
      path: dotted,
      message: describeError(error, leaf?.secret === true),
      source: sourceOf(leaf?.path.join('.') ?? dotted),
    });
  }
  if (problems.length === 0) problems.push(...crossChecks(withDefaults, sourceOf));
  if (problems.length > 0) throw new ConfigError(problems);

  return { config: deepFreeze(withDefaults), sources: deepFreeze(sources), configFile };
}

/** Masks a secret for display: enough to recognise which one is set, never enough to use it. */
function maskValue(dotted: string, value: string): string {
  if (dotted === 'databaseUrl' || dotted === 'redisUrl') {
    try {
      const url = new URL(value);
      if (url.password) url.password = '***';
      return url.toString();
    } catch {
      return '***';
    }
  }
  return value.length > 0 ? '*** (set)' : '';
}

/** The effective configuration with every secret masked, for `portcullis config check`. */
export function maskedConfig(config: Readonly<Config>): Record<string, unknown> {
  const copy = structuredClone(config) as Record<string, unknown>;
  for (const leaf of CONFIG_LEAVES) {
    if (!leaf.secret) continue;
    const value = getPath(copy, leaf.path);
    if (typeof value === 'string') setPath(copy, leaf.path, maskValue(leaf.path.join('.'), value));
  }
  return copy;
}
