import { ResponseTooLargeError } from './errors.ts';

/** Anything a response body can be: undici's BodyReadable, a Node stream, a web ReadableStream. */
type Body = AsyncIterable<Uint8Array | string>;

/**
 * Reads a whole response body into memory, refusing to hold more than `maxBytes`: an upstream (or
 * anything that answers in its place) must not be able to exhaust the gateway's memory. On excess
 * ResponseTooLargeError is thrown; leaving the `for await` early destroys a Node stream (and
 * cancels a web stream), so the rest of the body is never read.
 */
export async function readBounded(body: Body, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    const buf =
      typeof chunk === 'string'
        ? Buffer.from(chunk)
        : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    total += buf.byteLength;
    if (total > maxBytes) {
      throw new ResponseTooLargeError(maxBytes);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks, total);
}
