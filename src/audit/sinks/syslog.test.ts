import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { once } from 'node:events';
import { type AddressInfo, createServer } from 'node:net';
import { describe, it } from 'node:test';
import { EgressDeniedError } from '../../egress/errors.ts';
import type { AuditEntry } from '../chain.ts';
import { createAddressGuard } from './egress-address.ts';
import { InvalidSinkTarget, SinkError } from './sink.ts';
import { openSyslogSink, parseSyslogTarget } from './syslog.ts';

const quiet = { warn: () => undefined };
const dns =
  (table: Record<string, string[]>) =>
  async (host: string): Promise<LookupAddress[]> => {
    const list = table[host];
    if (!list) throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' });
    return list.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };

describe('parseSyslogTarget', () => {
  it('reads tcp, udp and tls URLs with their default ports', () => {
    assert.deepEqual(parseSyslogTarget('tcp://logs.internal'), {
      transport: 'tcp',
      host: 'logs.internal',
      port: 514,
    });
    assert.deepEqual(parseSyslogTarget('udp://10.0.0.9:5514'), {
      transport: 'udp',
      host: '10.0.0.9',
      port: 5514,
    });
    assert.deepEqual(parseSyslogTarget('tls://[::1]'), { transport: 'tls', host: '::1', port: 6514 });
    for (const bad of ['http://x:514', 'tcp://u:p@x', 'tcp://x/path', 'tcp://x?q=1', 'tcp://', 'x'])
      assert.throws(() => parseSyslogTarget(bad), InvalidSinkTarget, bad);
  });
});

describe('the egress policy for syslog connections', () => {
  it('refuses loopback, private and metadata destinations unless allowed, on every resolved address', async () => {
    const lookup = dns({
      mixed: ['93.184.216.34', '10.1.2.3'],
      meta: ['169.254.169.254'],
      pub: ['93.184.216.34'],
    });
    const guard = createAddressGuard({ allow: [], logger: quiet, lookup });
    const denied = (reason: string) => (err: unknown) =>
      err instanceof EgressDeniedError && err.reason === reason;
    await assert.rejects(guard.resolve('127.0.0.1'), denied('private_address'));
    await assert.rejects(guard.resolve('mixed'), denied('private_address'));
    await assert.rejects(guard.resolve('meta'), denied('metadata'));
    await assert.rejects(guard.resolve('metadata.google.internal'), denied('metadata'));
    await assert.rejects(guard.resolve('nowhere'), denied('dns_failed'));
    assert.deepEqual(await guard.resolve('pub'), [{ address: '93.184.216.34', family: 4 }]);
    const allowed = createAddressGuard({ allow: ['10.0.0.0/8', '127.0.0.1'], logger: quiet, lookup });
    assert.equal((await allowed.resolve('mixed')).length, 2);
    assert.equal((await allowed.resolve('127.0.0.1')).length, 1);
    // A CIDR covering a metadata address does not allow it.
    const wide = createAddressGuard({ allow: ['169.254.0.0/16'], logger: quiet, lookup });
    await assert.rejects(wide.resolve('meta'), denied('metadata'));
  });

  it('connects to a name only through the addresses it checked', async () => {
    const chunks: Buffer[] = [];
    const server = createServer((s) => s.on('data', (d: Buffer) => chunks.push(d)).on('end', () => s.end()));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    const lookup = dns({ 'collector.test': ['127.0.0.1'] });
    try {
      const target = { transport: 'tcp' as const, host: 'collector.test', port };
      const refused = createAddressGuard({ allow: [], logger: quiet, lookup });
      await assert.rejects(
        openSyslogSink({ target, guard: refused, hostname: 'h' }),
        (err: unknown) => err instanceof SinkError && err.code === 'egress_denied',
      );
      const guard = createAddressGuard({ allow: ['collector.test'], logger: quiet, lookup });
      const sink = await openSyslogSink({ target, guard, hostname: 'h' });
      const e = {
        seq: 1,
        time: 0,
        action: 'auth.logout',
        outcome: 'success',
        details: {},
      } as unknown as AuditEntry;
      await sink.write(e);
      await sink.end();
      assert.equal(sink.delivered, 1);
      assert.match(
        Buffer.concat(chunks).toString(),
        /^\d+ <86>1 1970-01-01T00:00:00\.000Z h portcullis - auth\.logout - \{/,
      );
    } finally {
      server.close();
    }
  });
});
