import type { LookupAddress, LookupOptions } from 'node:dns';
import { lookup as systemLookup } from 'node:dns/promises';
import {
  checkAddress,
  normalizeHost,
  parseAllowList,
  parseIp,
  type ResolveAll,
  resolveAllowed,
} from '../../egress/address-policy.ts';
import type { EgressLogger } from '../../egress/egress.ts';
import { EgressDeniedError, type EgressDenyReason } from '../../egress/errors.ts';

/**
 * The egress policy for a connection that does not go through undici (syslog over TCP, TLS or
 * UDP). It applies the same checks as the egress dispatcher (src/egress/egress.ts), with the same
 * functions: the name is resolved once, every address is checked (one refused address refuses the
 * name, since the OS may pick any of them), and the socket is then opened only to those checked
 * addresses through `lookup` — so a second DNS answer cannot slip in between check and connect
 * (DNS rebinding). The peer of the opened socket is checked once more.
 */
export interface AddressGuard {
  /** The addresses `host` may be reached at; throws EgressDeniedError (already logged). */
  resolve(host: string): Promise<LookupAddress[]>;
  /** Throws EgressDeniedError unless the connected peer is allowed for `host`. */
  checkPeer(host: string, remoteAddress: string | undefined): void;
}

export function createAddressGuard(options: {
  allow: readonly string[];
  logger: EgressLogger;
  lookup?: ResolveAll;
}): AddressGuard {
  const allow = parseAllowList(options.allow);
  const resolveAll: ResolveAll = options.lookup ?? ((host, opts) => systemLookup(host, opts));
  const deny = (reason: EgressDenyReason, host: string, range?: string): EgressDeniedError => {
    options.logger.warn({ event: 'egress_denied', host, reason, range }, 'outbound connection refused');
    return new EgressDeniedError(reason, host, range);
  };

  return {
    resolve: (rawHost) => resolveAllowed(allow, normalizeHost(rawHost), resolveAll, deny),
    checkPeer(rawHost, remoteAddress) {
      const host = normalizeHost(rawHost);
      const ip = remoteAddress ? parseIp(remoteAddress) : null;
      if (!ip) throw deny('private_address', host, 'unknown_peer');
      const denial = checkAddress(allow, host, ip);
      if (denial) throw deny(denial.reason, host, denial.range);
    },
  };
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for net.connect / tls.connect that answers only with addresses checked already, so
 * the socket cannot be opened to anything else (and TLS still verifies the certificate against
 * the name, not the address).
 */
export function fixedLookup(checked: readonly LookupAddress[]) {
  return (_hostname: string, opts: LookupOptions, callback: LookupCallback): void => {
    const family = opts.family === 'IPv4' ? 4 : opts.family === 'IPv6' ? 6 : opts.family;
    const usable = family === 4 || family === 6 ? checked.filter((a) => a.family === family) : [...checked];
    const first = usable[0];
    if (!first) {
      const err: NodeJS.ErrnoException = new Error('no checked address of the requested family');
      err.code = 'ENOTFOUND';
      callback(err, []);
    } else if (opts.all) callback(null, usable);
    else callback(null, first.address, first.family);
  };
}
