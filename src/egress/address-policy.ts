import type { LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import type { EgressDenyReason } from './errors.ts';

/**
 * Which destinations an outbound call may reach. Pure and synchronous: the egress agent calls it
 * for every address it is about to connect to, so it must be cheap and must not do I/O.
 */

export type IpAddress = ipaddr.IPv4 | ipaddr.IPv6;

/**
 * Cloud instance-metadata endpoints. They hand out credentials, so they are refused even when an
 * allowlisted CIDR covers them; only an allow entry naming them exactly lets them through.
 */
const METADATA_ADDRESSES: ReadonlySet<string> = new Set([
  '169.254.169.254', // AWS, GCP, Azure, OCI, DigitalOcean, OpenStack
  '169.254.170.2', // AWS ECS task metadata and credentials
  '169.254.170.23', // AWS EKS Pod Identity agent
  '100.100.100.200', // Alibaba Cloud
  '192.0.0.192', // Oracle Cloud Classic
  'fd00:ec2::254', // AWS IMDS over IPv6
  'fd00:ec2::23', // AWS EKS Pod Identity over IPv6
]);

const METADATA_HOSTNAMES: ReadonlySet<string> = new Set([
  'metadata.google.internal',
  'metadata.goog',
  'metadata',
  'instance-data',
  'instance-data.ec2.internal',
]);

// 2000::/3 is the only IPv6 space IANA allocates as global unicast (RFC 4291 §2.4, RFC 3587);
// ipaddr.js calls everything it has no special name for 'unicast', including unallocated space.
const GLOBAL_UNICAST_V6: [ipaddr.IPv6, number] = [ipaddr.IPv6.parse('2000::'), 3];
// RFC 6052 §2.1 well-known NAT64 prefix: the IPv4 address sits in the low 32 bits.
const NAT64_WELL_KNOWN: [ipaddr.IPv6, number] = [ipaddr.IPv6.parse('64:ff9b::'), 96];

export interface AllowList {
  /** Hostnames allowed whatever they resolve to (except metadata addresses). */
  readonly names: ReadonlySet<string>;
  /** From `*.example.internal` entries: any subdomain of these. */
  readonly suffixes: readonly string[];
  readonly cidrs: readonly [IpAddress, number][];
  /** Addresses listed as a bare IP or a full-length prefix: the only way to allow a metadata address. */
  readonly exactAddresses: ReadonlySet<string>;
}

export interface AddressDenial {
  reason: Extract<EgressDenyReason, 'private_address' | 'metadata'>;
  range: string;
}

/** Lower-case, drop IPv6 brackets and the root-label dot, so `LOCALHOST.` and `localhost` compare equal. */
export function normalizeHost(host: string): string {
  let h = host.toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  while (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

/**
 * Parses a host that is an IP address in any spelling the system resolver would also accept:
 * besides dotted decimal, inet_aton(3) takes `2130706433`, `0177.0.0.1`, `0x7f.1`, `127.1`.
 * Returns null for a name that needs DNS.
 */
export function parseIpLiteral(host: string): IpAddress | null {
  const h = normalizeHost(host);
  const canonical = parseIp(h);
  if (canonical) return canonical;
  if (ipaddr.IPv4.isValid(h)) return ipaddr.IPv4.parse(h);
  return null;
}

/**
 * Parses an address in canonical notation (what DNS and sockets report), dropping any zone id.
 * ipaddr.js reads `::a.b.c.d` as `::ffff:a.b.c.d`, which is a different address (RFC 4291
 * §2.5.5), so a dotted tail is rewritten to hex groups first.
 */
export function parseIp(address: string): IpAddress | null {
  const percent = address.indexOf('%');
  let a = percent === -1 ? address : address.slice(0, percent);
  const kind = isIP(a);
  if (kind === 0) return null;
  if (kind === 6 && a.includes('.')) {
    const colon = a.lastIndexOf(':');
    const [o1 = 0, o2 = 0, o3 = 0, o4 = 0] = a
      .slice(colon + 1)
      .split('.')
      .map(Number);
    a = `${a.slice(0, colon + 1)}${((o1 << 8) | o2).toString(16)}:${((o3 << 8) | o4).toString(16)}`;
  }
  return ipaddr.parse(a);
}

/** The IPv4 address an IPv6 address stands for, when it is one of the forms that embed one. */
function embeddedIPv4(ip: ipaddr.IPv6): { v4: ipaddr.IPv4; form: string } | null {
  const p = ip.parts;
  const v4 = (): ipaddr.IPv4 =>
    new ipaddr.IPv4([(p[6] ?? 0) >> 8, (p[6] ?? 0) & 0xff, (p[7] ?? 0) >> 8, (p[7] ?? 0) & 0xff]);
  const range = ip.range();
  // ::ffff:a.b.c.d (RFC 4291 §2.5.5.2) and ::ffff:0:a.b.c.d (RFC 6145 §2.1)
  if (range === 'ipv4Mapped' || range === 'rfc6145') return { v4: v4(), form: range };
  if (ip.match(NAT64_WELL_KNOWN)) return { v4: v4(), form: 'nat64' };
  // ::a.b.c.d, "IPv4-compatible" (deprecated by RFC 4291 §2.5.5.1); :: and ::1 are their own thing.
  if (p.slice(0, 6).every((x) => x === 0) && range !== 'unspecified' && range !== 'loopback') {
    return { v4: v4(), form: 'ipv4Compatible' };
  }
  return null;
}

export type AddressClass =
  | { verdict: 'public' }
  | { verdict: 'metadata' }
  | { verdict: 'non_public'; range: string };

/** Public, metadata, or some non-public range (named as ipaddr.js names it: 'loopback', 'private' …). */
export function classifyAddress(ip: IpAddress): AddressClass {
  if (METADATA_ADDRESSES.has(ip.toString())) return { verdict: 'metadata' };
  if (ip.kind() === 'ipv4') {
    const range = ip.range();
    return range === 'unicast' ? { verdict: 'public' } : { verdict: 'non_public', range };
  }
  const v6 = ip as ipaddr.IPv6;
  const embedded = embeddedIPv4(v6);
  if (embedded) {
    const inner = classifyAddress(embedded.v4);
    if (inner.verdict !== 'public') return inner;
    // A public IPv4 inside a deprecated form is still not a destination a provider would use.
    return embedded.form === 'ipv4Compatible' ? { verdict: 'non_public', range: 'ipv4Compatible' } : inner;
  }
  const range = v6.range();
  if (range === 'unicast' && v6.match(GLOBAL_UNICAST_V6)) return { verdict: 'public' };
  return { verdict: 'non_public', range: range === 'unicast' ? 'reserved' : range };
}

const HOSTNAME = /^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/;

/**
 * Parses `config.egress.allow`: hostnames (`vllm.internal`, `*.corp.internal`), IP addresses
 * (`127.0.0.1`, `::1`) and CIDRs (`10.0.0.0/8`). Throws on an entry it cannot read, naming it,
 * so a typo fails at boot instead of silently allowing nothing.
 */
export function parseAllowList(entries: readonly string[]): AllowList {
  const names = new Set<string>();
  const suffixes: string[] = [];
  const cidrs: [IpAddress, number][] = [];
  const exactAddresses = new Set<string>();
  for (const raw of entries) {
    const entry = normalizeHost(raw.trim());
    if (entry.includes('/')) {
      const [addr = '', bits = ''] = entry.split('/');
      if (isIP(addr) === 0 || !ipaddr.isValidCIDR(`${addr}/${bits}`)) {
        throw new Error(`egress.allow: "${raw}" is not a valid CIDR`);
      }
      const ip = parseIp(addr);
      const prefix = Number(bits);
      if (!ip) throw new Error(`egress.allow: "${raw}" is not a valid CIDR`);
      cidrs.push([ip, prefix]);
      if (prefix === (ip.kind() === 'ipv4' ? 32 : 128)) exactAddresses.add(ip.toString());
    } else if (isIP(entry) !== 0) {
      const ip = parseIp(entry);
      if (!ip) throw new Error(`egress.allow: "${raw}" is not a valid address`);
      cidrs.push([ip, ip.kind() === 'ipv4' ? 32 : 128]);
      exactAddresses.add(ip.toString());
    } else if (ipaddr.IPv4.isValid(entry)) {
      // `0177.0.0.1` or `2130706433`: legal to the resolver, but almost surely a mistake in config.
      throw new Error(`egress.allow: write "${raw}" as a dotted-decimal address`);
    } else if (entry.startsWith('*.') && HOSTNAME.test(entry.slice(2))) {
      suffixes.push(entry.slice(2));
    } else if (HOSTNAME.test(entry)) {
      names.add(entry);
    } else {
      throw new Error(`egress.allow: "${raw}" is neither a hostname, an IP address nor a CIDR`);
    }
  }
  return { names, suffixes, cidrs, exactAddresses };
}

function candidates(ip: IpAddress): IpAddress[] {
  if (ip.kind() === 'ipv4') return [ip];
  const embedded = embeddedIPv4(ip as ipaddr.IPv6);
  return embedded ? [ip, embedded.v4] : [ip];
}

function isHostAllowed(allow: AllowList, host: string): boolean {
  return allow.names.has(host) || allow.suffixes.some((s) => host.endsWith(`.${s}`));
}

function isAddressInAllowedCidr(allow: AllowList, ip: IpAddress): boolean {
  return candidates(ip).some((c) =>
    allow.cidrs.some(([net, bits]) => net.kind() === c.kind() && c.match(net, bits)),
  );
}

/**
 * Checked before resolving a name: a metadata hostname is refused without asking DNS, unless the
 * operator listed that very name.
 */
export function checkHostname(allow: AllowList, host: string): AddressDenial | null {
  if (METADATA_HOSTNAMES.has(host) && !allow.names.has(host))
    return { reason: 'metadata', range: 'metadata' };
  return null;
}

/**
 * May we connect to `ip`, reached as `host` (a normalised name, or the address itself)?
 * Public addresses: yes. Metadata: only if listed exactly (or reached through a metadata name
 * listed exactly). Other non-public addresses: only if the host or a CIDR is allowlisted.
 */
export function checkAddress(allow: AllowList, host: string, ip: IpAddress): AddressDenial | null {
  const cls = classifyAddress(ip);
  if (cls.verdict === 'public') return null;
  if (cls.verdict === 'metadata') {
    const listedExactly =
      candidates(ip).some((c) => allow.exactAddresses.has(c.toString())) ||
      (METADATA_HOSTNAMES.has(host) && allow.names.has(host));
    return listedExactly ? null : { reason: 'metadata', range: 'metadata' };
  }
  if (isHostAllowed(allow, host) || isAddressInAllowedCidr(allow, ip)) return null;
  return { reason: 'private_address', range: cls.range };
}

/** Same shape as `dns.promises.lookup` called with `{ all: true }`; injected by tests. */
export type ResolveAll = (hostname: string, options: { all: true }) => Promise<LookupAddress[]>;

/**
 * Resolves `host` (already normalised) and returns its addresses only if every one is allowed:
 * the one check behind the egress dispatcher and the syslog sink. One refused address refuses the
 * name, since the OS may pick any of them, now or on a retry. `deny` builds (and logs) the error.
 */
export async function resolveAllowed(
  allow: AllowList,
  host: string,
  resolveAll: ResolveAll,
  deny: (reason: AddressDenial['reason'] | 'dns_failed', host: string, range?: string) => Error,
): Promise<LookupAddress[]> {
  const literal = parseIpLiteral(host);
  if (literal) {
    const denial = checkAddress(allow, host, literal);
    if (denial) throw deny(denial.reason, host, denial.range);
    return [{ address: literal.toString(), family: literal.kind() === 'ipv4' ? 4 : 6 }];
  }
  const nameDenial = checkHostname(allow, host);
  if (nameDenial) throw deny(nameDenial.reason, host, nameDenial.range);
  let addresses: LookupAddress[];
  try {
    addresses = await resolveAll(host, { all: true });
  } catch {
    throw deny('dns_failed', host);
  }
  if (addresses.length === 0) throw deny('dns_failed', host);
  for (const { address } of addresses) {
    const ip = parseIp(address);
    if (!ip) throw deny('dns_failed', host);
    const denial = checkAddress(allow, host, ip);
    if (denial) throw deny(denial.reason, host, denial.range);
  }
  return addresses;
}
