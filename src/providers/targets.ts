import { PortcullisError } from '../errors/catalogue.ts';
import type { UpstreamRequest, UpstreamTarget } from './upstream.ts';

/**
 * Where a request goes: one provider credential and the model name the provider knows. Built by
 * routing (src/routing) from aliases and credential model globs; the secret is fetched last,
 * decrypted in memory for this call only.
 */
export type ProviderKind = 'openai' | 'anthropic' | 'azure-openai' | 'openai-compatible';

export interface Target extends UpstreamTarget {
  credentialId: string;
  provider: ProviderKind;
  /** As the provider's own SDK takes it: OpenAI-style with `/v1`, Anthropic without. */
  baseUrl: string;
  upstreamModel: string;
  options: Readonly<Record<string, unknown>>;
}

/** The wire format a provider speaks natively. */
export function nativeFormat(provider: ProviderKind): 'openai' | 'anthropic' {
  return provider === 'anthropic' ? 'anthropic' : 'openai';
}

export type OpenAIEndpoint = 'chat' | 'embeddings' | 'responses';

const OPENAI_PATHS: Record<OpenAIEndpoint, string> = {
  chat: '/chat/completions',
  embeddings: '/embeddings',
  responses: '/responses',
};

export const ANTHROPIC_VERSION = '2023-06-01';
export const AZURE_DEFAULT_API_VERSION = '2024-10-21';

function trimSlash(url: string): string {
  return url.endsWith('/') ? url.slice(0, -1) : url;
}

/** A request to an OpenAI-format target (OpenAI, Azure OpenAI, any OpenAI-compatible server). */
export function openAIRequest(
  target: Target,
  endpoint: OpenAIEndpoint,
  body: Record<string, unknown>,
  secret: string,
): UpstreamRequest {
  const payload = JSON.stringify({ ...body, model: target.upstreamModel });
  const base = trimSlash(target.baseUrl);
  if (target.provider === 'azure-openai') {
    if (endpoint === 'responses') {
      throw new PortcullisError('unsupported_endpoint', {
        vars: {
          endpoint: 'The Responses API',
          model: target.upstreamModel,
          provider: target.provider,
          detail: 'use /v1/chat/completions, or an openai target',
        },
      });
    }
    const deployments = target.options.deployments as Record<string, string> | undefined;
    const deployment = deployments?.[target.upstreamModel] ?? target.upstreamModel;
    // Without a mapping the deployment name comes from the client's model name: it must be a
    // plain path segment (Azure deployment names are letters, digits, `-`, `_` and `.`).
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(deployment) || deployment.includes('..')) {
      throw new PortcullisError('model_not_found', { vars: { model: target.upstreamModel } });
    }
    const apiVersion =
      typeof target.options.apiVersion === 'string' ? target.options.apiVersion : AZURE_DEFAULT_API_VERSION;
    return {
      method: 'POST',
      url: `${base}/openai/deployments/${encodeURIComponent(deployment)}${OPENAI_PATHS[endpoint]}?api-version=${encodeURIComponent(apiVersion)}`,
      headers: { 'content-type': 'application/json', 'api-key': secret },
      body: payload,
    };
  }
  return {
    method: 'POST',
    url: `${base}${OPENAI_PATHS[endpoint]}`,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` },
    body: payload,
  };
}

/** A request to Anthropic's Messages API. Client `anthropic-beta` flags are passed on; nothing else of the client's. */
export function anthropicRequest(
  target: Target,
  body: Record<string, unknown>,
  secret: string,
  clientHeaders: Readonly<Record<string, string | string[] | undefined>> = {},
): UpstreamRequest {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-api-key': secret,
    'anthropic-version': ANTHROPIC_VERSION,
  };
  const version = clientHeaders['anthropic-version'];
  if (typeof version === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(version))
    headers['anthropic-version'] = version;
  const beta = clientHeaders['anthropic-beta'];
  if (typeof beta === 'string' && /^[A-Za-z0-9,._-]{1,500}$/.test(beta)) headers['anthropic-beta'] = beta;
  return {
    method: 'POST',
    url: `${trimSlash(target.baseUrl)}/v1/messages`,
    headers,
    body: JSON.stringify({ ...body, model: target.upstreamModel }),
  };
}
