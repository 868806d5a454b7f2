import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { PortcullisError } from '../errors/catalogue.ts';

/**
 * The client's IP address (pipeline stage 1), as IP allowlists, rate limits and brute-force
 * defence see it.
 *
 * It is the socket's peer address, unless that peer is a configured trusted proxy: then the
 * forwarding chain is read from the right (the hop closest to us) and the first address that is
 * not itself a trusted proxy is the client. Everything to the left of it was written by the client
 * and is ignored, so a forged header never moves the result past the first untrusted hop.
 * (Same rule as proxy-addr / Fastify's trustProxy, extended to RFC 7239 `Forwarded`.)
 *
 * Both `X-Forwarded-For` and `Forwarded` are read. A proxy normally writes only one of them and
 * passes the other through untouched, so when both are present they must name the same client;
 * if they disagree one of them was written by the client, and the request is refused (400)
 * rather than guessing which.
 */

export interface ClientIpRequest {
  /** The TCP peer (`request.socket.remoteAddress`). */
  socketAddress: string | undefined;
  headers: Readonly<Record<string, string | string[] | undefined>>;
}

export type ClientIpResolver = (request: ClientIpRequest) => string;

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** Parses config.trustedProxies (IPs or CIDRs, validated by the config loader) once. */
export function createClientIpResolver(trustedProxies: readonly string[]): ClientIpResolver {
  const ranges: Range[] = trustedProxies.map(parseRange);
  const trusted = (ip: string): boolean => {
    if (ranges.length === 0) return false;
    const addr = ipaddr.parse(ip);
    return ranges.some(([net, bits]) => net.kind() === addr.kind() && addr.match(net, bits));
  };

  return (request) => {
    const peer = normalizeIp(request.socketAddress);
    // No socket address (a destroyed socket): nothing to attribute the request to.
    if (peer === undefined) throw unknownClient('the connection has no peer address');
    if (!trusted(peer)) return peer;
    const xff = headerValues(request.headers['x-forwarded-for']);
    const fwd = headerValues(request.headers.forwarded);
    const fromXff = xff.length > 0 ? walk(splitList(xff), peer, trusted) : undefined;
    const fromFwd = fwd.length > 0 ? walk(forwardedFor(fwd), peer, trusted) : undefined;
    if (fromXff !== undefined && fromFwd !== undefined && fromXff !== fromFwd) {
      throw new PortcullisError('invalid_request', {
        vars: { detail: 'the X-Forwarded-For and Forwarded headers name different clients' },
      });
    }
    return fromXff ?? fromFwd ?? peer;
  };
}

function parseRange(entry: string): Range {
  if (entry.includes('/')) {
    const [addr, bits] = ipaddr.parseCIDR(entry);
    if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
      return [(addr as ipaddr.IPv6).toIPv4Address(), bits - 96];
    }
    return [addr, bits];
  }
  const addr = ipaddr.process(entry);
  return [addr, addr.kind() === 'ipv4' ? 32 : 128];
}

/**
 * Canonical text of an address: IPv4-mapped IPv6 (`::ffff:192.0.2.1`, what a dual-stack socket
 * reports) becomes IPv4, IPv6 is compressed (RFC 5952). Strict: `127.1` or `0x7f.0.0.1` are not
 * addresses. undefined for anything else.
 */
export function normalizeIp(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let text = value;
  const zone = text.indexOf('%');
  if (zone !== -1) text = text.slice(0, zone);
  if (isIP(text) === 0) return undefined;
  return ipaddr.process(text).toString();
}

/** Header lines, without blank ones: an empty header is no header. */
function headerValues(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).filter((v) => v.trim() !== '');
}

/** Several header lines are one comma-separated list, in order (RFC 9110 §5.3). */
function splitList(lines: string[]): string[] {
  return lines.flatMap((l) => l.split(',')).map((s) => s.trim());
}

/**
 * The `for=` of each element of RFC 7239 `Forwarded` headers, in order. An element without `for`
 * contributes an empty entry (a hop nobody named). Quoted strings may contain `,` and `;`.
 */
export function forwardedFor(lines: string[]): string[] {
  const out: string[] = [];
  for (const line of lines) {
    for (const element of splitOutsideQuotes(line, ',')) {
      let value = '';
      for (const pair of splitOutsideQuotes(element, ';')) {
        const eq = pair.indexOf('=');
        if (eq !== -1 && pair.slice(0, eq).trim().toLowerCase() === 'for') {
          value = unquote(pair.slice(eq + 1).trim());
          break;
        }
      }
      out.push(value);
    }
  }
  return out;
}

function splitOutsideQuotes(text: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quoted && c === '\\') {
      current += c + (text[i + 1] ?? '');
      i++;
    } else if (c === separator && !quoted) {
      parts.push(current);
      current = '';
    } else {
      if (c === '"') quoted = !quoted;
      current += c;
    }
  }
  parts.push(current);
  return parts;
}

/** RFC 9110 §5.6.4 quoted-string, with its backslash escapes. */
function unquote(value: string): string {
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
    return value.slice(1, -1).replace(/\\(.)/g, '$1');
  }
  return value;
}

/** `1.2.3.4`, `1.2.3.4:80`, `[2001:db8::1]:443`, `2001:db8::1` → the address, or undefined. */
function hostOf(entry: string): string | undefined {
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(entry);
  if (bracketed?.[1] !== undefined) return normalizeIp(bracketed[1]);
  const v4port = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(entry);
  if (v4port?.[1] !== undefined) return normalizeIp(v4port[1]);
  return normalizeIp(entry);
}

/** From the right, the first hop that is not a trusted proxy; the left-most if all are trusted. */
function walk(chain: string[], peer: string, trusted: (ip: string) => boolean): string {
  let client = peer;
  for (let i = chain.length - 1; i >= 0; i--) {
    const ip = hostOf(chain[i] ?? '');
    // A trusted proxy reported a hop it could not name ("unknown", an obfuscated id, garbage):
    // there is no address to check an allowlist against, so refuse rather than use the proxy's.
    if (ip === undefined) throw unknownClient('a trusted proxy forwarded an unusable client address');
    client = ip;
    if (!trusted(ip)) return ip;
  }
  return client;
}

function unknownClient(detail: string): PortcullisError {
  return new PortcullisError('invalid_request', { vars: { detail } });
}
