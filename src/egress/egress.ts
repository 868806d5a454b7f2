import type { LookupAddress, LookupOptions } from 'node:dns';
import { lookup as systemLookup } from 'node:dns/promises';
import type { Socket } from 'node:net';
import { Agent, buildConnector, type Dispatcher } from 'undici';
import {
  type AddressDenial,
  type AllowList,
  checkAddress,
  normalizeHost,
  parseAllowList,
  parseIp,
  parseIpLiteral,
  type ResolveAll,
  resolveAllowed,
} from './address-policy.ts';
import { EgressDeniedError, type EgressDenyReason } from './errors.ts';

export type { ResolveAll } from './address-policy.ts';

/** The part of a pino logger the guard uses. */
export interface EgressLogger {
  warn(obj: Record<string, unknown>, msg: string): void;
}

export interface EgressOptions {
  /** `config.egress.allow`: hostnames, `*.suffix` patterns, IP addresses or CIDRs. */
  allow: readonly string[];
  logger: EgressLogger;
  lookup?: ResolveAll;
  /** Connection pool tuning, passed to undici's Agent. */
  pool?: {
    connectTimeoutMs?: number;
    connections?: number;
    keepAliveTimeoutMs?: number;
    headersTimeoutMs?: number;
    bodyTimeoutMs?: number;
  };
}

export interface Egress {
  /** Use for every outbound request: `request(url, { dispatcher })`. Never follows redirects. */
  readonly dispatcher: Dispatcher;
  /**
   * Validates a URL when it is configured (a provider base URL, a webhook), so a bad one is refused
   * at creation time. Resolves the name now; the dispatcher checks again on every connection.
   */
  checkUrl(url: string): Promise<void>;
  close(): Promise<void>;
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * The egress guard: an undici Agent that connects only to destinations the policy allows. The
 * check runs on the addresses the socket is actually opened to: names are resolved by our own
 * `lookup` (the only resolver net.connect then uses), every resolved address is checked, and only
 * checked addresses are handed back — so a DNS answer cannot change between check and connect
 * (DNS rebinding). IP literals are checked before connecting, and the peer address of every new
 * socket is checked once more before undici may use it.
 */
export function createEgress(options: EgressOptions): Egress {
  const allow: AllowList = parseAllowList(options.allow);
  const { logger } = options;
  const resolveAll: ResolveAll = options.lookup ?? ((host, opts) => systemLookup(host, opts));

  const deny = (reason: EgressDenyReason, host: string, range?: string): EgressDeniedError => {
    logger.warn({ event: 'egress_denied', host, reason, range }, 'outbound connection refused');
    return new EgressDeniedError(reason, host, range);
  };
  const denyFor = (host: string, d: AddressDenial): EgressDeniedError => deny(d.reason, host, d.range);

  /** Resolves `host` and returns its addresses only if every one of them is allowed. */
  const resolveChecked = (host: string): Promise<LookupAddress[]> =>
    resolveAllowed(allow, host, resolveAll, deny);

  function guardedLookup(hostname: string, opts: LookupOptions, callback: LookupCallback): void {
    resolveChecked(normalizeHost(hostname)).then(
      (addresses) => {
        const family = opts.family === 'IPv4' ? 4 : opts.family === 'IPv6' ? 6 : opts.family;
        const usable =
          family === 4 || family === 6 ? addresses.filter((a) => a.family === family) : addresses;
        const first = usable[0];
        if (!first) {
          callback(deny('dns_failed', normalizeHost(hostname)), []);
        } else if (opts.all) {
          callback(null, usable);
        } else {
          callback(null, first.address, first.family);
        }
      },
      (error: Error) => callback(error, []),
    );
  }

  const connectTimeout = options.pool?.connectTimeoutMs ?? 10_000;
  const baseConnect = buildConnector({ timeout: connectTimeout, lookup: guardedLookup });

  const connect: buildConnector.connector = (opts, callback) => {
    const host = normalizeHost(opts.hostname);
    if (opts.protocol !== 'http:' && opts.protocol !== 'https:') {
      callback(deny('scheme', host), null);
      return;
    }
    // net.connect skips `lookup` for an IP literal, so literals are checked here.
    const literal = parseIpLiteral(host);
    const denial = literal ? checkAddress(allow, host, literal) : null;
    if (denial) {
      callback(denyFor(host, denial), null);
      return;
    }
    baseConnect(opts, (...args) => {
      const [error, socket] = args;
      if (error !== null) {
        callback(error, null);
        return;
      }
      // Defence in depth: whatever path the connection took, refuse a peer the policy forbids.
      const peer = peerDenial(host, socket);
      if (peer) {
        socket.destroy();
        callback(peer, null);
        return;
      }
      callback(null, socket);
    });
  };

  function peerDenial(host: string, socket: Socket): EgressDeniedError | null {
    const ip = socket.remoteAddress ? parseIp(socket.remoteAddress) : null;
    if (!ip) return deny('private_address', host, 'unknown_peer');
    const denial = checkAddress(allow, host, ip);
    return denial ? denyFor(host, denial) : null;
  }

  const agent = new Agent({
    connect,
    connectTimeout,
    connections: options.pool?.connections ?? null,
    keepAliveTimeout: options.pool?.keepAliveTimeoutMs ?? 4_000,
    headersTimeout: options.pool?.headersTimeoutMs ?? 300_000,
    bodyTimeout: options.pool?.bodyTimeoutMs ?? 300_000,
  });

  async function checkUrl(url: string): Promise<void> {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      // The unparsed string may hold a secret: name nothing from it.
      throw deny('invalid_url', '(unparseable)');
    }
    const host = normalizeHost(parsed.hostname);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
      throw deny('scheme', host || parsed.protocol);
    if (parsed.username !== '' || parsed.password !== '') throw deny('userinfo', host);
    if (host === '') throw deny('invalid_url', '(empty)');
    await resolveChecked(host);
  }

  return { dispatcher: agent, checkUrl, close: () => agent.close() };
}
