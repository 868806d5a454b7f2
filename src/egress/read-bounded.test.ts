import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { ResponseTooLargeError } from './errors.ts';
import { readBounded } from './read-bounded.ts';

describe('readBounded', () => {
  it('returns the whole body when it fits, up to exactly the limit', async () => {
    const body = Readable.from([Buffer.from('abc'), new Uint8Array([100, 101]), 'f']);
    assert.equal((await readBounded(body, 6)).toString(), 'abcdef');
  });

  it('throws ResponseTooLargeError past the limit and stops reading the stream', async () => {
    let produced = 0;
    async function* endless(): AsyncGenerator<Buffer> {
      while (true) {
        produced++;
        yield Buffer.alloc(1024);
      }
    }
    const body = Readable.from(endless());
    await assert.rejects(readBounded(body, 4096), (error: unknown) => {
      assert.ok(error instanceof ResponseTooLargeError);
      assert.equal(error.maxBytes, 4096);
      return true;
    });
    assert.ok(body.destroyed, 'the body is destroyed so the connection stops being read');
    assert.ok(produced < 64, `read ${produced} chunks`);
  });

  it('works on web streams too', async () => {
    const web = new Blob(['x'.repeat(10)]).stream();
    await assert.rejects(readBounded(web, 9), ResponseTooLargeError);
  });
});
