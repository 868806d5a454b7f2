import { type Endpoint, fetchOnce } from './load.ts';
import type { PathEndpoints, Pools } from './scenario.ts';
import type { Stack } from './stack.ts';

/**
 * The requests: a chat completion with a ~1 KB user prompt, sent byte for byte the same directly
 * and through the gateway (only the origin and the credential header differ); for the translation
 * path, the same conversation in Anthropic's format directly vs OpenAI's format through.
 */
const SYSTEM = 'You are a concise assistant for an engineering team.';
const OPENAI_MODEL = 'gpt-4o-mini';
const ANTHROPIC_MODEL = 'claude-haiku-4-5';

/** ~1 KB of ordinary prose, so input guardrails (when they exist) have text to scan. */
function prompt(): string {
  const sentence =
    'Summarise the quarterly maintenance notes for the harbour cranes, listing parts replaced, ' +
    'hours of downtime and any follow-up inspections that are still open. ';
  return sentence.repeat(Math.ceil(1024 / sentence.length)).slice(0, 1024);
}

function openAIBody(model: string, stream: boolean): string {
  const messages = [
    { role: 'system', content: SYSTEM },
    { role: 'user', content: prompt() },
  ];
  return JSON.stringify({ model, messages, max_tokens: 64, ...(stream ? { stream: true } : {}) });
}

function anthropicBody(model: string, stream: boolean): string {
  const messages = [{ role: 'user', content: prompt() }];
  return JSON.stringify({
    model,
    system: SYSTEM,
    messages,
    max_tokens: 64,
    ...(stream ? { stream: true } : {}),
  });
}

export interface Workload {
  native: PathEndpoints;
  translated: PathEndpoints;
}

export function workload(stack: Stack): Workload {
  const json = { 'content-type': 'application/json' };
  const openaiDirect = { ...json, authorization: `Bearer ${stack.providerSecret}` };
  const anthropicDirect = { ...json, 'x-api-key': stack.providerSecret, 'anthropic-version': '2023-06-01' };
  const through = { ...json, authorization: `Bearer ${stack.apiKey}` };
  const chat = '/v1/chat/completions';
  const direct = (body: string): Endpoint => ({
    label: 'direct',
    origin: stack.mockOrigin,
    path: chat,
    headers: openaiDirect,
    body,
    format: 'openai',
  });
  const directAnthropic = (body: string): Endpoint => ({
    label: 'direct (anthropic)',
    origin: stack.mockOrigin,
    path: '/v1/messages',
    headers: anthropicDirect,
    body,
    format: 'anthropic',
  });
  const viaGateway = (label: string, body: string): Endpoint => ({
    label,
    origin: stack.gatewayOrigin,
    path: chat,
    headers: through,
    body,
    format: 'openai',
  });
  return {
    native: {
      direct: direct(openAIBody(OPENAI_MODEL, false)),
      through: viaGateway('through', openAIBody(OPENAI_MODEL, false)),
      directStream: direct(openAIBody(OPENAI_MODEL, true)),
      throughStream: viaGateway('through', openAIBody(OPENAI_MODEL, true)),
    },
    translated: {
      direct: directAnthropic(anthropicBody(ANTHROPIC_MODEL, false)),
      through: viaGateway('through (openai→anthropic)', openAIBody(ANTHROPIC_MODEL, false)),
      directStream: directAnthropic(anthropicBody(ANTHROPIC_MODEL, true)),
      throughStream: viaGateway('through (openai→anthropic)', openAIBody(ANTHROPIC_MODEL, true)),
    },
  };
}

/** Each target answers 200 with the shape its client expects, before anything is timed. */
export async function sanityCheck(w: Workload, pools: Pools): Promise<void> {
  const hasChoices = (b: Record<string, unknown>) =>
    Array.isArray(b.choices) &&
    typeof (b.choices[0] as { message?: { content?: unknown } })?.message?.content === 'string';
  const hasContent = (b: Record<string, unknown>) => Array.isArray(b.content) && b.content.length > 0;
  const checks: [Endpoint, (b: Record<string, unknown>) => boolean][] = [
    [w.native.direct, hasChoices],
    [w.native.through, hasChoices],
    [w.translated.direct, hasContent],
    [w.translated.through, hasChoices],
  ];
  for (const [e, check] of checks) {
    const res = await fetchOnce(e.label.startsWith('direct') ? pools.direct1 : pools.through1, e);
    let ok = res.status === 200;
    try {
      ok &&= check(JSON.parse(res.text) as Record<string, unknown>);
    } catch {
      ok = false;
    }
    if (!ok)
      throw new Error(
        `${e.label} ${e.path}: unexpected answer HTTP ${res.status}: ${res.text.slice(0, 300)}`,
      );
  }
}
