import { ResponseTooLargeError } from '../egress/errors.ts';
import { readBounded } from '../egress/read-bounded.ts';
import { PortcullisError } from '../errors/catalogue.ts';
import type { Target } from '../providers/targets.ts';
import type { UpstreamClientError } from '../providers/upstream.ts';

/** Reads a non-streaming provider answer (bounded) and parses it; anything unparseable is a 502. */
export async function readJsonAnswer(
  body: AsyncIterable<Uint8Array | string>,
  maxBytes: number,
): Promise<{ text: string; json: unknown }> {
  let raw: Buffer;
  try {
    raw = await readBounded(body, maxBytes);
  } catch (err) {
    if (err instanceof ResponseTooLargeError)
      throw new PortcullisError('upstream_invalid_response', { cause: err });
    throw err;
  }
  const text = raw.toString('utf8');
  try {
    return { text, json: JSON.parse(text) };
  } catch {
    // No cause: a JSON parse error quotes part of the body, which may be answer text (invariant 1).
    throw new PortcullisError('upstream_invalid_response');
  }
}

const MAX_REASON = 1000;

/**
 * A provider's 4xx for the request itself (bad parameter, context too long): the client gets the
 * provider's own reason, which is about their request, never about our credential (401/403 are
 * handled as upstream_auth_failed before this). The reason is sent to the client, not logged: it
 * may quote the prompt.
 */
export async function upstreamRefusal(
  result: UpstreamClientError<Target>,
  model: string,
): Promise<PortcullisError> {
  let reason = `HTTP ${result.status}`;
  try {
    const { json } = await readJsonAnswer(result.body, 256 * 1024);
    const error = (json as { error?: unknown }).error;
    const message =
      typeof error === 'object' && error !== null ? (error as { message?: unknown }).message : error;
    if (typeof message === 'string' && message.length > 0) reason = message.slice(0, MAX_REASON);
  } catch {
    // An unreadable error body still gets the status.
  }
  if (result.status === 404) return new PortcullisError('model_not_found', { vars: { model } });
  return new PortcullisError('upstream_invalid_request', { vars: { detail: reason } });
}
