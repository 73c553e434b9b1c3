/**
 * A network's record as `docker network create` (or the daemon, for the default network) makes
 * it: the driver, subnets and IPAM pools, MTU and options checked with dockerd's answers. The
 * manager (./manager.ts) keeps the records and plumbs the host after them.
 */
import * as crypto from 'node:crypto';
import { ForbiddenError, InvalidArgumentError, NotFoundError, NotImplementedError } from '../errors';
import { newIpam, reserveAuxiliary } from './ipam';
import { newIpam6, overlaps6, parseCidr6 } from './ipam6';
import { formatCidr, overlaps, parseCidr, type Cidr } from './ipv4';
import { splitPools, type IpamPoolConfig } from './ip-family';
import type { NetworkRecord } from './types';

/** What `docker network create` asks for. */
export interface CreateNetworkOptions {
  name: string;
  driver?: string;
  internal?: boolean;
  attachable?: boolean;
  labels?: Record<string, string>;
  options?: Record<string, string>;
  /** The pools as given; IPv6 ones are used with `enableIPv6`, else kept for inspect (./ip-family.ts). */
  ipam?: IpamPoolConfig[];
  /** IPAM driver options (kept for inspect). */
  ipamOptions?: Record<string, string> | null;
  enableIPv6?: boolean;
  /** Create even when a network of that name exists (the API's CheckDuplicate false), as dockerd. */
  allowDuplicate?: boolean;
}

/**
 * The network drivers podvisor serves, sorted as `docker info` lists them (Plugins.Network):
 * bridge (the default network and user networks) and null (`--network none`, loopback only).
 * host, macvlan, ipvlan and overlay are refused (see newRecord and planNetworks).
 */
export const NETWORK_DRIVERS: readonly string[] = ['bridge', 'null'];

/** Name of the default network, as in Docker. */
export const DEFAULT_NETWORK = 'bridge';
/** The MTU of a bridge when the network's options name none. */
const DEFAULT_MTU = 1500;
/** The networks every dockerd has; a user network may not take their names. */
export const PREDEFINED = [DEFAULT_NETWORK, 'host', 'none'];

/** Subnets tried for networks created without --subnet; dockerd's own 172.17/16 comes last. */
export function candidatePool(): Cidr[] {
  const out: Cidr[] = [];
  for (let b = 18; b <= 31; b++) out.push(parseCidr(`172.${b}.0.0/16`));
  for (let c = 0; c < 256; c += 16) out.push(parseCidr(`192.168.${c}.0/20`));
  out.push(parseCidr('172.17.0.0/16'));
  return out;
}

/**
 * A new network's record from what `create` asks (or the default network's, `isDefault`), with
 * dockerd's refusals: drivers other than bridge, more than one IPv4 subnet, a subnet that
 * overlaps one of `others`, a bad MTU. `freeSubnet` picks a subnet when none is given.
 */
export async function newNetworkRecord(
  o: CreateNetworkOptions,
  isDefault: boolean,
  others: readonly NetworkRecord[],
  freeSubnet: () => Promise<string>,
): Promise<NetworkRecord> {
  const driver = o.driver || 'bridge';
  if (driver !== 'bridge') {
    if (driver === 'host' || driver === 'null')
      throw new ForbiddenError(`only one instance of "${driver}" network is allowed`);
    if (driver === 'overlay')
      throw new NotImplementedError(
        'podvisor has only the "bridge" network driver: overlay networks (swarm) are not supported',
      );
    if (driver === 'macvlan' || driver === 'ipvlan')
      throw new NotImplementedError(`podvisor has only the "bridge" network driver: "${driver}" is not supported`);
    throw new NotFoundError(`plugin "${driver}" not found`);
  }
  // IPv6 pools are used with EnableIPv6, else kept for inspect only, as dockerd keeps them.
  const { v4, v6 } = splitPools(o.ipam ?? []);
  const ipam6 = o.enableIPv6 ? newIpam6Of(v6, others) : undefined;
  if (v4.length > 1)
    throw new NotImplementedError('podvisor networks have one IPv4 subnet: more than one --subnet is not supported');
  const options = o.options ?? {};
  if (options['com.docker.network.bridge.name'] !== undefined && !isDefault) {
    throw new NotImplementedError(
      'com.docker.network.bridge.name is not supported: podvisor names its bridges pv-<network id>',
    );
  }
  let mtu = DEFAULT_MTU;
  if (options['com.docker.network.driver.mtu'] !== undefined) {
    mtu = Number(options['com.docker.network.driver.mtu']);
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535)
      throw new InvalidArgumentError(`invalid MTU: ${options['com.docker.network.driver.mtu']}`);
  }
  const cfg = v4[0] ?? {};
  let subnet = cfg.Subnet;
  if (subnet) {
    const c = parseCidrLoose(subnet);
    for (const n of others) {
      if (overlaps(c, parseCidr(n.ipam.subnet)))
        throw new ForbiddenError('Pool overlaps with other one on this address space');
    }
  } else {
    if (cfg.Gateway || cfg.IPRange) throw new InvalidArgumentError('a --gateway or --ip-range needs a --subnet');
    subnet = await freeSubnet();
  }
  const id = crypto.randomBytes(32).toString('hex');
  const ipam = newIpam({ subnet: formatCidr(parseCidrLoose(subnet)), gateway: cfg.Gateway, ipRange: cfg.IPRange });
  if (cfg.AuxiliaryAddresses) reserveAuxiliary(ipam, cfg.AuxiliaryAddresses, o.name);
  const bridge = `pv-${id.slice(0, 12)}`;
  return {
    id,
    name: o.name,
    created: new Date().toISOString(),
    driver: 'bridge',
    internal: !!o.internal,
    attachable: !!o.attachable,
    labels: o.labels ?? {},
    options: isDefault
      ? {
          'com.docker.network.bridge.default_bridge': 'true',
          'com.docker.network.bridge.enable_icc': 'true',
          'com.docker.network.bridge.enable_ip_masquerade': 'true',
          'com.docker.network.bridge.host_binding_ipv4': '0.0.0.0',
          'com.docker.network.bridge.name': bridge,
          'com.docker.network.driver.mtu': String(mtu),
        }
      : options,
    bridge,
    mtu,
    isDefault,
    userSubnet: !!cfg.Subnet,
    ipam,
    ...(ipam6 ? { enableIPv6: true, ipam6 } : {}),
    ipamConfig: [
      ...(isDefault || !cfg.Subnet ? [{ Subnet: ipam.subnet, Gateway: ipam.gateway }] : v4.map((c) => ({ ...c }))),
      ...v6.map((c) => ({ ...c })),
    ],
    ipamOptions: o.ipamOptions ?? null,
    endpoints: {},
  };
}

/**
 * The IPv6 addresses of a network created with EnableIPv6, from its one IPv6 pool, with
 * dockerd's answers: no pool is a 404 (dockerd has no default IPv6 pools), two are a 403, and
 * so is a subnet that overlaps another network's.
 */
function newIpam6Of(v6: IpamPoolConfig[], others: readonly NetworkRecord[]) {
  if (v6.length === 0)
    throw new NotFoundError(
      'could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network',
    );
  if (v6.length > 1) throw new ForbiddenError("bridge driver doesn't support multiple subnets");
  const cfg = v6[0];
  const ipam6 = newIpam6({ subnet: cfg.Subnet!, gateway: cfg.Gateway, ipRange: cfg.IPRange });
  const c = parseCidr6(ipam6.subnet);
  for (const n of others) {
    if (n.ipam6 && overlaps6(c, parseCidr6(n.ipam6.subnet)))
      throw new ForbiddenError('Pool overlaps with other one on this address space');
  }
  return ipam6;
}

/** A subnet as dockerd takes it: host bits allowed (cleared), "invalid CIDR address" otherwise. */
export function parseCidrLoose(s: string): Cidr {
  const m = /^(.*)\/(\d{1,2})$/.exec(s);
  if (!m) throw new InvalidArgumentError(`Invalid subnet ${s} : invalid CIDR address: ${s}`);
  try {
    return parseCidr(s);
  } catch (err) {
    if (!/should be/.test((err as Error).message))
      throw new InvalidArgumentError(`Invalid subnet ${s} : invalid CIDR address: ${s}`);
    const c = /should be (\S+)$/.exec((err as Error).message)![1];
    return parseCidr(c);
  }
}
