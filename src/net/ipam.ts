/**
 * Address management of one network: its subnet, gateway and the range containers draw from,
 * which addresses are taken and by whom. The state is plain JSON kept in the network's record,
 * so allocations survive a restart; a released address is handed out again (lowest first).
 */
import { ConflictError, ForbiddenError, InvalidArgumentError } from '../errors';
import { contains, formatCidr, formatIp, parseCidr, parseIp, sizeOf, within, type Cidr } from './ipv4';

/** The persisted IPAM state of one network. */
export interface IpamState {
  /** "10.88.0.0/16" */
  subnet: string;
  /** "10.88.0.1" (the bridge's own address). */
  gateway: string;
  /** The part of the subnet containers get addresses from (--ip-range); the subnet when unset. */
  ipRange?: string;
  /** Addresses in use: address -> owner (an endpoint id). The gateway is not listed. */
  allocated: Record<string, string>;
}

/** What a user asked for (docker network create --subnet/--gateway/--ip-range). */
export interface IpamRequest {
  subnet: string;
  gateway?: string;
  ipRange?: string;
}

/** Check a request and build the initial state (gateway: the subnet's first host address). */
export function newIpam(req: IpamRequest): IpamState {
  const subnet = parseCidr(req.subnet, 'subnet');
  if (subnet.prefix > 30) throw new InvalidArgumentError(`invalid subnet ${req.subnet}: too small for a network`);
  let gateway = subnet.base + 1;
  if (req.gateway) {
    const g = parseIp(req.gateway);
    if (g === undefined) throw new InvalidArgumentError(`invalid gateway address ${req.gateway}`);
    if (!contains(subnet, g) || isReserved(subnet, g)) {
      throw new InvalidArgumentError(`no matching subnet for gateway ${req.gateway}`);
    }
    gateway = g;
  }
  let ipRange: string | undefined;
  if (req.ipRange) {
    const r = parseCidr(req.ipRange, 'ip-range');
    if (!within(subnet, r)) throw new InvalidArgumentError(`no matching subnet for range ${req.ipRange}`);
    ipRange = formatCidr(r);
  }
  return { subnet: formatCidr(subnet), gateway: formatIp(gateway), ...(ipRange ? { ipRange } : {}), allocated: {} };
}

/** The network and broadcast addresses are never handed out. */
function isReserved(subnet: Cidr, ip: number): boolean {
  return ip === subnet.base || ip === subnet.base + sizeOf(subnet) - 1;
}

/**
 * Take an address for `owner`: `requested` (a static --ip, which must be in the subnet and
 * free) or the lowest free one of the range. Mutates `state`; returns the address.
 */
export function allocate(state: IpamState, owner: string, requested?: string): string {
  const subnet = parseCidr(state.subnet);
  const gateway = parseIp(state.gateway)!;
  if (requested !== undefined) {
    const ip = parseIp(requested);
    if (ip === undefined) throw new InvalidArgumentError(`invalid IPv4 address: ${requested}`);
    // dockerd's check of a static address against the network's subnets, then its IPAM's.
    if (!contains(subnet, ip)) {
      throw new InvalidArgumentError(
        `Invalid address ${requested}: It does not belong to any of this network's subnets`,
      );
    }
    if (isReserved(subnet, ip)) {
      throw new InvalidArgumentError(
        `no available IPv4 addresses on this network's address pools: requested address ${requested} is not in subnet ${state.subnet}`,
      );
    }
    const key = formatIp(ip);
    if (ip === gateway || (state.allocated[key] !== undefined && state.allocated[key] !== owner)) {
      throw new ConflictError(`Address already in use`);
    }
    state.allocated[key] = owner;
    return key;
  }
  const range = state.ipRange ? parseCidr(state.ipRange) : subnet;
  const first = range.base;
  const last = range.base + sizeOf(range) - 1;
  for (let ip = first; ip <= last; ip++) {
    if (ip === gateway || isReserved(subnet, ip)) continue;
    const key = formatIp(ip);
    if (state.allocated[key] === undefined) {
      state.allocated[key] = owner;
      return key;
    }
  }
  throw new ConflictError(`no available IPv4 addresses on this network's address pools: ${state.subnet}`);
}

/**
 * Hold the auxiliary addresses of `docker network create --aux-address` (name -> address) so
 * that no container gets them, with dockerd's 403s for an address that does not parse or lies
 * outside the subnet. `network` is the network's name, for the message. Mutates `state`.
 */
export function reserveAuxiliary(state: IpamState, aux: Record<string, string>, network: string): void {
  const subnet = parseCidr(state.subnet);
  for (const [name, addr] of Object.entries(aux)) {
    const ip = parseIp(addr);
    if (ip === undefined)
      throw new ForbiddenError(`non parsable secondary ip address (${name}:${addr}) passed for network ${network}`);
    if (!contains(subnet, ip))
      throw new ForbiddenError(`auxiliary address: (${name}:${addr}) must belong to the master pool: ${state.subnet}`);
    const key = formatIp(ip);
    if (key !== state.gateway) state.allocated[key] = `aux:${name}`;
  }
}

/** Give back every address `owner` holds. Mutates `state`. */
export function releaseOwner(state: IpamState, owner: string): void {
  for (const [ip, o] of Object.entries(state.allocated)) if (o === owner) delete state.allocated[ip];
}

/** The prefix length of the state's subnet. */
export function prefixOf(state: IpamState): number {
  return parseCidr(state.subnet).prefix;
}

/** dockerd's MAC for an address: 02:42 followed by the four bytes of the IPv4 address. */
export function macFor(ip: string): string {
  const n = parseIp(ip)!;
  return [
    '02',
    '42',
    ...[n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].map((b) => b.toString(16).padStart(2, '0')),
  ].join(':');
}
