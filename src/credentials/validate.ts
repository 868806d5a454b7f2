import { type AllowList, normalizeHost, parseAllowList, parseIpLiteral } from '../egress/address-policy.ts';
import type { Egress } from '../egress/egress.ts';
import { EgressDeniedError } from '../egress/errors.ts';
import { isValidModelGlob, modelMatcher } from '../util/glob.ts';
import { CredentialError } from './errors.ts';

/** Input validation for provider credentials: pure, except the egress check of the base URL. */

export const PROVIDERS = ['openai', 'anthropic', 'azure-openai', 'openai-compatible'] as const;
export type Provider = (typeof PROVIDERS)[number];

export const DEFAULT_BASE_URLS: Readonly<Partial<Record<Provider, string>>> = {
  openai: 'https://api.openai.com/v1',
  anthropic: 'https://api.anthropic.com',
};

/**
 * Models a credential serves when none are given. Only for providers whose catalogue is known;
 * Azure deployments and OpenAI-compatible servers serve whatever their operator deployed.
 */
export const DEFAULT_MODELS: Readonly<Partial<Record<Provider, readonly string[]>>> = {
  openai: ['gpt-*', 'o[0-9]*', 'chatgpt-*', 'text-embedding-*', 'omni-moderation-*'],
  anthropic: ['claude-*'],
};

/**
 * The latest generally-available dated Azure OpenAI data-plane API version
 * (learn.microsoft.com/azure/ai-services/openai/reference, "API version lifecycle").
 */
export const DEFAULT_AZURE_API_VERSION = '2024-10-21';

/** Provider-specific settings, stored as the row's `options` JSON. */
export interface CredentialOptions {
  /** azure-openai: the `api-version` query parameter. */
  apiVersion?: string;
  /** azure-openai: model name → deployment name; a model not listed uses its own name as deployment. */
  deployments?: Record<string, string>;
  /** Concrete model names to show in GET /v1/models (globs cannot be enumerated). Must match `models`. */
  listed?: string[];
}

// Used in CLI target syntax `credential:model`, in logs and error messages: plain and bounded.
const CREDENTIAL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
// Public model names and upstream model ids: `gpt-4o`, `meta-llama/Llama-3.1-8B`, `claude@2024`, `ft:gpt-4o:acme`.
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$/;
const AZURE_API_VERSION = /^\d{4}-\d{2}-\d{2}(-preview)?$/;
const AZURE_DEPLOYMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
// Printable ASCII without spaces: the secret goes into an HTTP header, where CR/LF would inject.
const SECRET = /^[\x21-\x7e]+$/;
const MAX_SECRET = 8192;
const MAX_MODELS = 100;

export function isProvider(value: string): value is Provider {
  return (PROVIDERS as readonly string[]).includes(value);
}

function invalid(field: string, message: string): CredentialError {
  return new CredentialError('invalid_credential', message, field);
}

export function validateCredentialName(name: string): string {
  if (!CREDENTIAL_NAME.test(name)) {
    throw invalid(
      'name',
      'a credential name is 1-63 letters, digits, dots, dashes or underscores, starting with a letter or digit',
    );
  }
  return name;
}

export function validateProvider(provider: string): Provider {
  if (!isProvider(provider)) {
    throw invalid(
      'provider',
      `unknown provider "${provider.slice(0, 40)}"; use one of: ${PROVIDERS.join(', ')}`,
    );
  }
  return provider;
}

export function validateModelName(model: string, field: string): string {
  if (!MODEL_NAME.test(model)) {
    throw invalid(
      field,
      `"${model.slice(0, 80)}" is not a valid model name (1-200 letters, digits and . _ : / @ + -, starting with a letter or digit)`,
    );
  }
  return model;
}

export function validateModels(provider: Provider, models: readonly string[] | undefined): string[] {
  if (models === undefined) {
    const defaults = DEFAULT_MODELS[provider];
    if (defaults) return [...defaults];
    throw invalid(
      'models',
      `a ${provider} credential needs the models it serves (globs, e.g. "gpt-4o*,llama-3*")`,
    );
  }
  const cleaned = [...new Set(models.map((m) => m.trim()).filter((m) => m !== ''))];
  if (cleaned.length === 0) throw invalid('models', 'models must list at least one model name or glob');
  if (cleaned.length > MAX_MODELS)
    throw invalid('models', `at most ${MAX_MODELS} model globs per credential`);
  cleaned.forEach((glob, i) => {
    if (!isValidModelGlob(glob))
      throw invalid(`models[${i}]`, `"${glob.slice(0, 80)}" is not a valid model glob`);
  });
  return cleaned;
}

export function validateSecret(secret: string): string {
  // Files usually end with a newline; a secret never contains whitespace, so trimming is safe.
  const trimmed = secret.trim();
  if (trimmed === '') throw invalid('secret', 'the secret is empty');
  if (trimmed.length > MAX_SECRET)
    throw invalid('secret', `the secret is longer than ${MAX_SECRET} characters`);
  // Never echo it, not even in part.
  if (!SECRET.test(trimmed)) {
    throw invalid('secret', 'the secret must be printable ASCII without spaces or line breaks');
  }
  return trimmed;
}

/** Validates provider options and fills defaults (Azure api-version). */
export function validateOptions(
  provider: Provider,
  models: readonly string[],
  options: CredentialOptions | undefined,
): CredentialOptions {
  const out: CredentialOptions = {};
  const given = options ?? {};
  if (provider === 'azure-openai') {
    const apiVersion = given.apiVersion ?? DEFAULT_AZURE_API_VERSION;
    if (!AZURE_API_VERSION.test(apiVersion)) {
      throw invalid(
        'options.apiVersion',
        'the Azure api-version looks like 2024-10-21 or 2025-04-01-preview',
      );
    }
    out.apiVersion = apiVersion;
    if (given.deployments !== undefined) {
      const deployments: Record<string, string> = {};
      for (const [model, deployment] of Object.entries(given.deployments)) {
        validateModelName(model, `options.deployments.${model.slice(0, 40)}`);
        if (!AZURE_DEPLOYMENT.test(deployment)) {
          throw invalid(
            `options.deployments.${model}`,
            `"${deployment.slice(0, 80)}" is not a valid Azure deployment name (letters, digits, . _ -; at most 64)`,
          );
        }
        deployments[model] = deployment;
      }
      out.deployments = deployments;
    }
  } else if (given.apiVersion !== undefined || given.deployments !== undefined) {
    throw invalid('options', 'apiVersion and deployments apply only to azure-openai credentials');
  }
  if (given.listed !== undefined) {
    const serves = modelMatcher(models);
    const listed = [...new Set(given.listed)];
    listed.forEach((m, i) => {
      validateModelName(m, `options.listed[${i}]`);
      if (!serves(m)) {
        throw invalid(`options.listed[${i}]`, `"${m}" is listed but not matched by this credential's models`);
      }
    });
    out.listed = listed;
  }
  return out;
}

/** The Azure deployment that serves `model` (the model name itself unless mapped). */
export function azureDeployment(options: CredentialOptions, model: string): string {
  return options.deployments?.[model] ?? model;
}

export interface BaseUrlCheck {
  egress: Pick<Egress, 'checkUrl'>;
  allow: AllowList;
  /** Told when the host does not resolve now (accepted: the guard checks again on every connection). */
  onUnresolved(host: string): void;
}

export function egressAllowList(entries: readonly string[]): AllowList {
  return parseAllowList(entries);
}

/**
 * Validates and normalises a base URL, and asks the egress guard about its address now, so a
 * private or metadata address is a configuration error at creation rather than a 502 per call.
 * Returns the URL without a trailing slash.
 */
export async function validateBaseUrl(
  provider: Provider,
  baseUrl: string | undefined,
  check: BaseUrlCheck,
): Promise<string> {
  const given = baseUrl?.trim();
  if (given === undefined || given === '') {
    const fallback = DEFAULT_BASE_URLS[provider];
    if (!fallback) {
      throw invalid(
        'baseUrl',
        provider === 'azure-openai'
          ? 'an azure-openai credential needs its resource URL, e.g. https://my-resource.openai.azure.com'
          : 'an openai-compatible credential needs the server URL, e.g. https://api.groq.com/openai/v1',
      );
    }
    await checkEgress(fallback, check);
    return fallback;
  }
  let url: URL;
  try {
    url = new URL(given);
  } catch {
    throw invalid('baseUrl', 'the base URL is not an absolute URL such as https://api.example.com/v1');
  }
  const host = normalizeHost(url.hostname);
  if (url.username !== '' || url.password !== '') {
    throw invalid(
      'baseUrl',
      `the base URL for ${host} must not contain user:password@ (it would leak into logs); give the secret with --secret-file or --secret-env`,
    );
  }
  if (url.search !== '' || given.includes('?')) {
    throw invalid(
      'baseUrl',
      `the base URL for ${host} must not contain a query string; secrets go in the secret`,
    );
  }
  if (url.hash !== '' || given.includes('#')) {
    throw invalid('baseUrl', `the base URL for ${host} must not contain a #fragment`);
  }
  if (url.protocol === 'http:') {
    if (!isAllowlisted(check.allow, host)) {
      throw invalid(
        'baseUrl',
        `the base URL for ${host} must use https: plain http is accepted only for hosts listed in ` +
          `PORTCULLIS_EGRESS_ALLOW (egress.allow), such as a local vLLM or Ollama`,
      );
    }
  } else if (url.protocol !== 'https:') {
    throw invalid('baseUrl', `the base URL must use https (not ${url.protocol.replace(':', '')})`);
  }
  const normalized = `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
  await checkEgress(normalized, check);
  return normalized;
}

/** Listed by name, by `*.suffix`, or (for an IP literal) covered by an allowed address or CIDR. */
function isAllowlisted(allow: AllowList, host: string): boolean {
  if (allow.names.has(host) || allow.suffixes.some((s) => host.endsWith(`.${s}`))) return true;
  const ip = parseIpLiteral(host);
  if (!ip) return false;
  return allow.cidrs.some(([net, bits]) => net.kind() === ip.kind() && ip.match(net, bits));
}

async function checkEgress(url: string, check: BaseUrlCheck): Promise<void> {
  try {
    await check.egress.checkUrl(url);
  } catch (err) {
    if (!(err instanceof EgressDeniedError)) throw err;
    if (err.reason === 'dns_failed') {
      // Not a policy refusal: the name may resolve only where the gateway runs (split DNS), or the
      // network may be down now. Every connection is checked again, so accepting it is safe.
      check.onUnresolved(err.host);
      return;
    }
    throw refusal(err);
  }
}

function refusal(err: EgressDeniedError): CredentialError {
  const host = err.host;
  if (err.reason === 'metadata') {
    return new CredentialError(
      'base_url_refused',
      `the base URL host ${host} is a cloud instance-metadata endpoint, which the egress policy always refuses ` +
        '(it hands out cloud credentials). Only an exact entry for it in PORTCULLIS_EGRESS_ALLOW would allow it; ' +
        'a provider never lives there.',
      'baseUrl',
    );
  }
  if (err.reason === 'private_address') {
    return new CredentialError(
      'base_url_refused',
      `the base URL host ${host} is a ${err.range ?? 'private'} address, which the egress policy refuses so that a ` +
        'credential cannot be pointed at internal services (SSRF). If this is a server you run (vLLM, Ollama…), ' +
        `allow it on every replica: PORTCULLIS_EGRESS_ALLOW=${host} (or a CIDR; egress.allow in the config file).`,
      'baseUrl',
    );
  }
  return new CredentialError(
    'base_url_refused',
    `the base URL for ${host} is refused by the egress policy (${err.reason}); use https://host[:port][/path]`,
    'baseUrl',
  );
}
