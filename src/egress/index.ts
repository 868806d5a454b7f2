export { type AllowList, classifyAddress, parseAllowList } from './address-policy.ts';
export {
  createEgress,
  type Egress,
  type EgressLogger,
  type EgressOptions,
  type ResolveAll,
} from './egress.ts';
export { EgressDeniedError, type EgressDenyReason, ResponseTooLargeError } from './errors.ts';
export { readBounded } from './read-bounded.ts';
