import { randomBytes } from 'node:crypto';

/** Resource ids: a type prefix plus 128 random bits in base64url, e.g. `wsp_3lq0cM1xJ0Yk2b7WcL0a9Q`. */
export function newId(
  prefix: 'wsp' | 'crd' | 'als' | 'usr' | 'evt' | 'req' | 'prc' | 'ses' | 'inv' | 'rcv',
): string {
  return `${prefix}_${randomBytes(16).toString('base64url')}`;
}
