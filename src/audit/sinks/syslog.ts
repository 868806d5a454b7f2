import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import type { LookupAddress } from 'node:dns';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { EgressDeniedError } from '../../egress/errors.ts';
import type { AuditEntry } from '../chain.ts';
import { type AddressGuard, fixedLookup } from './egress-address.ts';
import { type AuditSink, egressRefusal, errorCode, InvalidSinkTarget, SinkError } from './sink.ts';
import { formatSyslogMessage, octetCounted } from './syslog-format.ts';

/**
 * The syslog sink: one RFC 5424 message per entry (src/audit/sinks/syslog-format.ts), over
 * - tcp://host[:514]  octet-counted frames (RFC 6587 §3.4.1),
 * - tls://host[:6514] the same frames inside TLS (RFC 5425; certificate checked against the name),
 * - udp://host[:514]  one message per datagram (RFC 5426): lossy, and unordered on the wire.
 * Syslog has no acknowledgement, so "delivered" means handed to the socket. The destination is
 * resolved and checked against the egress policy before connecting, and the socket is opened only
 * to the checked addresses.
 */

export type SyslogTransport = 'tcp' | 'udp' | 'tls';

export interface SyslogTarget {
  transport: SyslogTransport;
  /** Without IPv6 brackets. */
  host: string;
  port: number;
}

const DEFAULT_PORTS: Readonly<Record<SyslogTransport, number>> = { tcp: 514, udp: 514, tls: 6514 };

export function parseSyslogTarget(raw: string): SyslogTarget {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InvalidSinkTarget('--syslog takes tcp://host:514, udp://host:514 or tls://host:6514');
  }
  const transport = url.protocol.slice(0, -1);
  if (transport !== 'tcp' && transport !== 'udp' && transport !== 'tls')
    throw new InvalidSinkTarget('--syslog takes tcp://host:514, udp://host:514 or tls://host:6514');
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '')
    throw new InvalidSinkTarget('--syslog takes only a scheme, a host and a port');
  if (url.pathname !== '' && url.pathname !== '/')
    throw new InvalidSinkTarget('--syslog takes only a scheme, a host and a port');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new InvalidSinkTarget('--syslog needs a host');
  const port = url.port === '' ? DEFAULT_PORTS[transport] : Number(url.port);
  return { transport, host, port };
}

export interface SyslogSinkOptions {
  target: SyslogTarget;
  guard: AddressGuard;
  /** HOSTNAME of every message: this machine's name (os.hostname()). */
  hostname: string;
  connectTimeoutMs?: number;
}

function destinationOf(t: SyslogTarget): string {
  return `${isIP(t.host) === 6 ? `[${t.host}]` : t.host}:${t.port}`;
}

/** Resolves, checks and connects; the returned sink is ready to write. */
export async function openSyslogSink(options: SyslogSinkOptions): Promise<AuditSink> {
  const { target, guard } = options;
  const destination = destinationOf(target);
  let addresses: LookupAddress[];
  try {
    addresses = await guard.resolve(target.host);
  } catch (err) {
    if (err instanceof EgressDeniedError) throw egressRefusal(err);
    throw err;
  }
  const unreachable = (err: unknown): SinkError =>
    err instanceof EgressDeniedError
      ? egressRefusal(err)
      : new SinkError(
          'sink_unreachable',
          `could not connect to the syslog collector at ${destination} (${errorCode(err)})`,
        );
  try {
    return target.transport === 'udp'
      ? await openUdp(options, destination, addresses)
      : await openStream(options, destination, addresses);
  } catch (err) {
    throw unreachable(err);
  }
}

function writeFailed(destination: string, err: unknown, delivered: number): SinkError {
  return new SinkError(
    'sink_write_failed',
    `sending to the syslog collector at ${destination} failed (${errorCode(err)}); ${delivered} ${delivered === 1 ? 'entry was' : 'entries were'} sent before`,
  );
}

async function openStream(
  options: SyslogSinkOptions,
  destination: string,
  addresses: readonly LookupAddress[],
): Promise<AuditSink> {
  const { target } = options;
  const lookup = fixedLookup(addresses);
  const tls = target.transport === 'tls';
  // SNI and the certificate check use the name (RFC 5425 §5.2); an IP literal is checked as such.
  const socket: Socket = tls
    ? tlsConnect({
        host: target.host,
        port: target.port,
        lookup,
        servername: isIP(target.host) === 0 ? target.host : undefined,
        minVersion: 'TLSv1.2',
      })
    : netConnect({ host: target.host, port: target.port, lookup });

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      const err: NodeJS.ErrnoException = new Error('connect timed out');
      err.code = 'ETIMEDOUT';
      socket.destroy(err);
    }, options.connectTimeoutMs ?? 10_000);
    const done = (err?: Error) => {
      clearTimeout(timer);
      socket.off('error', done);
      if (err) reject(err);
      else resolve();
    };
    socket.once('error', done);
    socket.once(tls ? 'secureConnect' : 'connect', () => done());
  }).catch((err: unknown) => {
    socket.destroy();
    throw err;
  });
  try {
    options.guard.checkPeer(target.host, socket.remoteAddress);
  } catch (err) {
    socket.destroy();
    throw err;
  }

  let failure: Error | undefined;
  let delivered = 0;
  socket.on('error', (err) => {
    failure ??= err;
  });
  socket.on('close', () => {
    failure ??= Object.assign(new Error('closed by the collector'), { code: 'ECONNRESET' });
  });
  // Resolves when the socket can take more, rejects when it fails first.
  const drained = () =>
    new Promise<void>((resolve, reject) => {
      const onDrain = () => settle();
      const onFail = () => settle(failure ?? new Error('closed'));
      const settle = (err?: Error) => {
        socket.off('drain', onDrain).off('error', onFail).off('close', onFail);
        if (err) reject(err);
        else resolve();
      };
      socket.once('drain', onDrain).once('error', onFail).once('close', onFail);
    });

  return {
    kind: 'syslog',
    destination,
    get delivered() {
      return delivered;
    },
    async write(entry: AuditEntry) {
      if (failure) throw writeFailed(destination, failure, delivered);
      const room = socket.write(octetCounted(formatSyslogMessage(entry, options.hostname)));
      if (!room)
        await drained().catch((err: unknown) => Promise.reject(writeFailed(destination, err, delivered)));
      delivered += 1;
    },
    async end() {
      if (failure) throw writeFailed(destination, failure, delivered);
      // 'finish': every frame has been handed to the kernel; then give the collector a moment to
      // close its side, so a reset it sends on reading is still seen here.
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.end(() => resolve());
      }).catch((err: unknown) => Promise.reject(writeFailed(destination, err, delivered)));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2_000);
        socket.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      socket.destroy();
    },
    destroy() {
      socket.destroy();
    },
  };
}

async function openUdp(
  options: SyslogSinkOptions,
  destination: string,
  addresses: readonly LookupAddress[],
): Promise<AuditSink> {
  const first = addresses[0];
  if (!first) throw Object.assign(new Error('no address'), { code: 'ENOTFOUND' });
  const socket: UdpSocket = createSocket(first.family === 6 ? 'udp6' : 'udp4');
  let failure: Error | undefined;
  socket.on('error', (err) => {
    failure ??= err;
  });
  // A connected UDP socket sends only to the checked address, and reports ICMP refusals.
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.connect(options.target.port, first.address, () => {
      socket.off('error', reject);
      resolve();
    });
  }).catch((err: unknown) => {
    socket.close();
    throw err;
  });
  try {
    options.guard.checkPeer(options.target.host, socket.remoteAddress().address);
  } catch (err) {
    socket.close();
    throw err;
  }
  let delivered = 0;
  let closed = false;
  const close = () => {
    if (!closed) socket.close();
    closed = true;
  };
  return {
    kind: 'syslog',
    destination,
    get delivered() {
      return delivered;
    },
    async write(entry: AuditEntry) {
      if (failure) throw writeFailed(destination, failure, delivered);
      const message = Buffer.from(formatSyslogMessage(entry, options.hostname), 'utf8');
      await new Promise<void>((resolve, reject) => {
        socket.send(message, (err) => (err ? reject(err) : resolve()));
      }).catch((err: unknown) => Promise.reject(writeFailed(destination, err, delivered)));
      delivered += 1;
    },
    async end() {
      close();
      if (failure) throw writeFailed(destination, failure, delivered);
    },
    destroy: close,
  };
}
