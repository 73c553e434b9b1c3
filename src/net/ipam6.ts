/**
 * IPv6 address management of a network with IPv6 enabled (`docker network create --ipv6`
 * with an IPv6 subnet): its subnet, gateway, the range containers draw from and who holds
 * which address. The state has the shape of the IPv4 one (./ipam.ts: IpamState, kept in the
 * network's record, released with its releaseOwner); addresses are in canonical text.
 *
 * As dockerd's default IPAM: the gateway is the subnet's first address unless one is given;
 * the subnet's own address (the subnet-router anycast) is never handed out, and there is no
 * broadcast address; containers get the lowest free address of the range.
 */
import { ConflictError, InvalidArgumentError } from '../errors';
import { formatIpv6, parseIpv6 } from '../util/ipv6';
import type { IpamState } from './ipam';

/** An IPv6 CIDR: the network's first address and its prefix length. */
export interface Cidr6 {
  base: bigint;
  prefix: number;
}

/** Largest range scanned for a free address: allocations are few, the space is not. */
const SCAN_LIMIT = 1n << 20n;

/**
 * Parse "addr/len" as dockerd takes a subnet: host bits allowed and cleared ("2001:389::1/64"
 * is 2001:389::/64). Throws dockerd's 400 for anything else. `what` names it in the message.
 */
export function parseCidr6(s: string, what = 'subnet'): Cidr6 {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  const addr = m ? parseIpv6(m[1]) : undefined;
  const prefix = m ? Number(m[2]) : NaN;
  if (addr === undefined || !(prefix <= 128))
    throw new InvalidArgumentError(`invalid ${what} ${s}: invalid CIDR address: ${s}`);
  return { base: addr & maskOf(prefix), prefix };
}

function maskOf(prefix: number): bigint {
  const all = (1n << 128n) - 1n;
  return prefix === 0 ? 0n : (all << BigInt(128 - prefix)) & all;
}

/** "base/len" in canonical text. */
export function formatCidr6(c: Cidr6): string {
  return `${formatIpv6(c.base)}/${c.prefix}`;
}

function contains6(c: Cidr6, ip: bigint): boolean {
  return (ip & maskOf(c.prefix)) === c.base;
}

function last6(c: Cidr6): bigint {
  return c.base | (~maskOf(c.prefix) & ((1n << 128n) - 1n));
}

/** Whether two subnets share an address. */
export function overlaps6(a: Cidr6, b: Cidr6): boolean {
  return contains6(a, b.base) || contains6(b, a.base);
}

/** What a user asked for (--subnet, --gateway, --ip-range of the IPv6 pool). */
export interface Ipam6Request {
  subnet: string;
  gateway?: string;
  ipRange?: string;
}

/** Check a request and build the initial state (gateway: the subnet's first address after its own). */
export function newIpam6(req: Ipam6Request): IpamState {
  const subnet = parseCidr6(req.subnet);
  if (subnet.prefix > 126) throw new InvalidArgumentError(`invalid subnet ${req.subnet}: too small for a network`);
  let gateway = subnet.base + 1n;
  if (req.gateway) {
    const g = parseIpv6(req.gateway);
    if (g === undefined) throw new InvalidArgumentError(`invalid gateway address ${req.gateway}`);
    if (!contains6(subnet, g) || g === subnet.base)
      throw new InvalidArgumentError(`no matching subnet for gateway ${req.gateway}`);
    gateway = g;
  }
  let ipRange: string | undefined;
  if (req.ipRange) {
    const r = parseCidr6(req.ipRange, 'ip-range');
    if (!contains6(subnet, r.base) || r.prefix < subnet.prefix)
      throw new InvalidArgumentError(`no matching subnet for range ${req.ipRange}`);
    ipRange = formatCidr6(r);
  }
  return { subnet: formatCidr6(subnet), gateway: formatIpv6(gateway), ...(ipRange ? { ipRange } : {}), allocated: {} };
}

/**
 * Take an IPv6 address for `owner`: `requested` (a static --ip6, in the subnet and free) or
 * the lowest free one of the range. Mutates `state`; returns the address in canonical text.
 */
export function allocate6(state: IpamState, owner: string, requested?: string): string {
  const subnet = parseCidr6(state.subnet);
  const gateway = parseIpv6(state.gateway)!;
  if (requested !== undefined) {
    const ip = parseIpv6(requested);
    if (ip === undefined) throw new InvalidArgumentError(`invalid IPv6 address: ${requested}`);
    // dockerd's check of a static address against the network's subnets, then its IPAM's.
    if (!contains6(subnet, ip)) {
      throw new InvalidArgumentError(
        `Invalid address ${requested}: It does not belong to any of this network's subnets`,
      );
    }
    if (ip === subnet.base) {
      throw new InvalidArgumentError(
        `no available IPv6 addresses on this network's address pools: requested address ${requested} is not in subnet ${state.subnet}`,
      );
    }
    const key = formatIpv6(ip);
    if (ip === gateway || (state.allocated[key] !== undefined && state.allocated[key] !== owner))
      throw new ConflictError('Address already in use');
    state.allocated[key] = owner;
    return key;
  }
  const range = state.ipRange ? parseCidr6(state.ipRange) : subnet;
  const end = last6(range);
  let ip = range.base;
  for (let n = 0n; ip <= end && n < SCAN_LIMIT; ip++, n++) {
    if (ip === gateway || ip === subnet.base) continue;
    const key = formatIpv6(ip);
    if (state.allocated[key] === undefined) {
      state.allocated[key] = owner;
      return key;
    }
  }
  throw new ConflictError(`no available IPv6 addresses on this network's address pools: ${state.subnet}`);
}

/** The prefix length of an IPv6 state's subnet. */
export function prefixOf6(state: IpamState): number {
  return parseCidr6(state.subnet).prefix;
}
