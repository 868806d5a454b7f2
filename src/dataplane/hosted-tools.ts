import { PortcullisError } from '../errors/catalogue.ts';
import type { AllowList } from '../guardrails/policy.ts';
import type { Format } from './texts.ts';

/**
 * Provider-hosted tools and beta flags (security review): tools the provider runs itself — web
 * search and fetch, code execution, computer use, shell, MCP servers — act outside the gateway's
 * view (egress, guardrails, audit), and `anthropic-beta` flags switch on features the gateway has
 * not reviewed. Both are refused unless the workspace's (or key's) policy lists them.
 *
 * Fail closed: any tool whose `type` is not a client-defined function is treated as hosted, so a
 * tool type added by a provider tomorrow is refused until someone allows it.
 */
type Json = Record<string, unknown>;

/** Client-defined tools, executed by the application (OpenAI `function` / `custom`, Anthropic `custom`). */
const CLIENT_TOOL_TYPES = new Set(['function', 'custom']);

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Names client-controlled, so they are shortened before they go into a message. */
const shown = (name: string): string => (name.length > 64 ? `${name.slice(0, 64)}…` : name);

/**
 * An entry allows a name exactly, or as a prefix followed by `_` (`web_search` allows
 * `web_search_20250305` and `web_search_preview`), or as a prefix ending in `*`.
 */
export function isAllowed(name: string, list: AllowList): boolean {
  return list.allow.some((entry) =>
    entry.endsWith('*')
      ? name.startsWith(entry.slice(0, -1))
      : name === entry || name.startsWith(`${entry}_`),
  );
}

/** The hosted tools a request asks for, with the field that asks (for `param`). */
export function hostedToolsOf(format: Format, body: Json): Array<{ name: string; param: string }> {
  const found: Array<{ name: string; param: string }> = [];
  if (format === 'embeddings') return found;
  const tools = Array.isArray(body.tools) ? body.tools : [];
  tools.forEach((tool, i) => {
    if (!isObject(tool)) return;
    // Anthropic client tools may omit `type`; OpenAI's always carry one.
    if (tool.type === undefined && format === 'messages') return;
    const type = typeof tool.type === 'string' ? tool.type : String(tool.type);
    if (!CLIENT_TOOL_TYPES.has(type)) found.push({ name: type, param: `tools.${i}.type` });
  });
  if (format === 'messages' && body.mcp_servers !== undefined) {
    found.push({ name: 'mcp_servers', param: 'mcp_servers' });
  }
  // Chat completions' built-in web search (search models).
  if (format === 'chat' && body.web_search_options !== undefined) {
    found.push({ name: 'web_search_options', param: 'web_search_options' });
  }
  return found;
}

/** The `anthropic-beta` flags of a request (comma-separated, possibly repeated headers). */
export function betaFlagsOf(header: string | string[] | undefined): string[] {
  const values = header === undefined ? [] : Array.isArray(header) ? header : [header];
  return values
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

/** Throws hosted_tool_not_allowed or beta_flag_not_allowed for the first one the policy does not list. */
export function checkHostedCapabilities(
  format: Format,
  body: Json,
  betaHeader: string | string[] | undefined,
  policy: { hostedTools: AllowList; betaFlags: AllowList },
): void {
  for (const { name, param } of hostedToolsOf(format, body)) {
    if (!isAllowed(name, policy.hostedTools)) {
      throw new PortcullisError('hosted_tool_not_allowed', { vars: { tool: shown(name) }, param });
    }
  }
  for (const flag of betaFlagsOf(betaHeader)) {
    if (!policy.betaFlags.allow.includes(flag)) {
      throw new PortcullisError('beta_flag_not_allowed', { vars: { flag: shown(flag) } });
    }
  }
}
