/**
 * dockerd 26's check of one endpoint's settings at create and connect: every problem found at
 * once, not the first, joined as its multierror joins them:
 *
 *   invalid endpoint settings:
 *   * invalid IPv4 address: 300.1.1.1
 *   * user specified IP address is supported only when connecting to networks with user configured subnets
 *
 * (one problem alone has no bullet). The problems, in dockerd's order:
 *   1. on the default bridge: a static address, then a network-scoped alias;
 *   2. addresses that do not parse: the IPv4, the IPv6, each link-local one;
 *   3. a static address outside every subnet (or ip-range) the user configured for its family;
 *   4. a static IPv4, then IPv6, address where the network has no user subnet of that family.
 * The API front uses it from API 1.42 (dockerd 26 does at every version; at 1.41 dockerd
 * 20.10's first error is kept).
 */
import * as net from 'node:net';
import { InvalidArgumentError } from '../errors';

/** An endpoint's settings as the API sends them (EndpointSettings, the fields checked here). */
export interface EndpointSettingsInput {
  Aliases?: string[] | null;
  IPAMConfig?: { IPv4Address?: string; IPv6Address?: string; LinkLocalIPs?: string[] | null } | null;
}

/** What the check needs to know of the network an endpoint is on. */
export interface EndpointNetworkFacts {
  /** A user network (not the default bridge). */
  user: boolean;
  /** Whether the user configured a subnet of each family (a static address needs one). */
  userSubnet: { 4: boolean; 6: boolean };
  /** The subnets or ip-ranges the user configured, per family (none: no range check). */
  userRanges: { 4: string[]; 6: string[] };
}

/** Whether `addr` is in CIDR `range` of `family`. */
function inRange(addr: string, range: string, family: 4 | 6): boolean {
  const [base, bits] = range.split('/');
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (net.isIP(base) !== family) return false;
  const list = new net.BlockList();
  list.addSubnet(base, Number(bits), type);
  return list.check(addr, type);
}

/** Every problem dockerd 26 finds in endpoint settings `ep` on a network with `facts`, in its order. */
export function endpointSettingsProblems(ep: EndpointSettingsInput, facts: EndpointNetworkFacts): string[] {
  const ip4 = ep.IPAMConfig?.IPv4Address || '';
  const ip6 = ep.IPAMConfig?.IPv6Address || '';
  const problems: string[] = [];
  if (!facts.user) {
    if (ip4 || ip6) problems.push('user specified IP address is supported on user defined networks only');
    if ((ep.Aliases ?? []).length > 0)
      problems.push('network-scoped alias is supported only for containers in user defined networks');
  }
  const ip4Valid = !ip4 || net.isIPv4(ip4);
  const ip6Valid = !ip6 || net.isIPv6(ip6);
  if (!ip4Valid) problems.push(`invalid IPv4 address: ${ip4}`);
  if (!ip6Valid) problems.push(`invalid IPv6 address: ${ip6}`);
  for (const ll of ep.IPAMConfig?.LinkLocalIPs ?? [])
    if (net.isIP(ll) === 0) problems.push(`invalid link-local IP address: ${ll}`);
  for (const [addr, valid, family] of [
    [ip4, ip4Valid, 4],
    [ip6, ip6Valid, 6],
  ] as const) {
    const ranges = facts.userRanges[family];
    if (addr && valid && ranges.length > 0 && !ranges.some((r) => inRange(addr, r, family)))
      problems.push(`no configured subnet or ip-range contain the IP address ${addr}`);
  }
  const subnetless =
    'user specified IP address is supported only when connecting to networks with user configured subnets';
  if (ip4 && !facts.userSubnet[4]) problems.push(subnetless);
  if (ip6 && !facts.userSubnet[6]) problems.push(subnetless);
  return problems;
}

/** Problems joined as dockerd's multierror joins them (one alone as it is), or undefined for none. */
export function joinEndpointProblems(problems: string[]): string | undefined {
  if (problems.length === 0) return undefined;
  const list = problems.length === 1 ? problems[0] : problems.map((p) => `* ${p}`).join('\n');
  return `invalid endpoint settings:\n${list}`;
}

/**
 * Throw dockerd 26's 400 for endpoint settings `ep` on a network with `facts`, with every
 * problem, `prefix` before it (at create: "invalid config for network NAME: "); nothing when
 * there is none.
 */
export function checkEndpointSettings(ep: EndpointSettingsInput, facts: EndpointNetworkFacts, prefix = ''): void {
  const message = joinEndpointProblems(endpointSettingsProblems(ep, facts));
  if (message) throw new InvalidArgumentError(prefix + message);
}

/**
 * The ranges an address may be in, from a network's configured pools (as inspect shows them)
 * where the user gave them: each pool's ip-range, or its subnet when it has none.
 */
export function userRangesOf(
  pools: Array<{ Subnet?: string; IPRange?: string }>,
  userSubnet4: boolean,
): {
  4: string[];
  6: string[];
} {
  const out: { 4: string[]; 6: string[] } = { 4: [], 6: [] };
  for (const p of pools) {
    const range = p.IPRange || p.Subnet;
    if (!range) continue;
    const family = net.isIP(range.split('/')[0]);
    if (family === 4 && userSubnet4) out[4].push(range);
    if (family === 6) out[6].push(range);
  }
  return out;
}
