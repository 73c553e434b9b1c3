/**
 * The address family of a network's IPAM pools. dockerd splits `IPAM.Config` by the family of
 * each pool's subnet: the IPv4 pools are its network's addresses, the IPv6 ones are kept in
 * the network's config and used only when the network has IPv6 enabled (./ipam6.ts). On a
 * network without IPv6 they are kept and shown as given, as dockerd keeps them, and
 * containers get no IPv6 address from them.
 */
import * as net from 'node:net';
import { InvalidArgumentError } from '../errors';

/** One IPAM pool as a client sends it (and as inspect shows it). */
export interface IpamPoolConfig {
  Subnet?: string;
  Gateway?: string;
  IPRange?: string;
  AuxiliaryAddresses?: Record<string, string>;
}

/**
 * The family of a pool's subnet, from Go's net.ParseCIDR rules: an address, a slash and a
 * prefix length within the family's bits. Throws dockerd's 400 for anything else.
 */
export function subnetFamily(subnet: string): 4 | 6 {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(subnet);
  const family = m ? net.isIP(m[1]) : 0;
  if (!m || family === 0 || Number(m[2]) > (family === 4 ? 32 : 128)) {
    throw new InvalidArgumentError(`Invalid subnet ${subnet} : invalid CIDR address: ${subnet}`);
  }
  return family as 4 | 6;
}

/**
 * Split a create request's pools into IPv4 and IPv6 ones, in their order. A pool without a
 * subnet counts as IPv4 (it can only qualify the IPv4 pool dockerd allocates itself).
 */
export function splitPools(pools: IpamPoolConfig[]): { v4: IpamPoolConfig[]; v6: IpamPoolConfig[] } {
  const v4: IpamPoolConfig[] = [];
  const v6: IpamPoolConfig[] = [];
  for (const p of pools) (p.Subnet && subnetFamily(p.Subnet) === 6 ? v6 : v4).push(p);
  return { v4, v6 };
}

/** Whether a network's config (as inspect shows it) has an IPv6 pool a static IPv6 address may name. */
export function hasIpv6Pool(ipamConfig: IpamPoolConfig[]): boolean {
  return ipamConfig.some((p) => !!p.Subnet && p.Subnet.includes(':'));
}

/** dockerd's check of an endpoint's IPAMConfig.IPv6Address (400 "invalid IPv6 address"). */
export function checkIpv6Address(addr: string): void {
  if (!net.isIPv6(addr)) throw new InvalidArgumentError(`invalid IPv6 address: ${addr}`);
}
