/**
 * Giving the guest the L2 and L3 identity CNI gave the sandbox's interface: its MAC (so frames
 * the tc redirect hands over are the guest's), MTU, its first IPv4 and first IPv6 address with
 * prefix, and the result's routes, a route without `gw` going through the gateway of its
 * family. Done over the agent (Agent.configureInterface, Agent.addRoute), as the Docker
 * networks configure a VM's NIC.
 */
import * as net from 'node:net';
import type { Agent, InterfaceConfig } from '../../vm/types';
import type { CniResult } from './types';
import { settleAll } from '../../util/settle';

/** The guest's network settings derived from a CNI result. */
export interface GuestNetwork {
  /** The guest interface (eth0 for the VM's first NIC). */
  guestName: string;
  mac: string;
  mtu: number;
  /** IPv4 and IPv6 address with prefix, and their gateways. */
  ipv4?: { address: string; prefix: number; gateway?: string };
  ipv6?: { address: string; prefix: number; gateway?: string };
  routes: Array<{ destination: string; prefix: number; gateway?: string }>;
}

/**
 * Plan the guest's settings: the addresses of the sandbox interface `ifName` (or, when the
 * result ties none to an interface, its first ones), and every route.
 */
export function planGuestNetwork(
  result: CniResult,
  ifName: string,
  guestName: string,
  link: { mac: string; mtu: number },
): GuestNetwork {
  const ifIndex = result.interfaces.findIndex((i) => i.name === ifName && !!i.sandbox);
  const mine = result.ips.filter((ip) => ip.interface === undefined || ip.interface === ifIndex);
  const split = (cidr: string) => {
    const [address, prefix] = cidr.split('/');
    return { address, prefix: Number(prefix) };
  };
  const v4 = mine.find((ip) => net.isIPv4(split(ip.address).address));
  const v6 = mine.find((ip) => net.isIPv6(split(ip.address).address));
  const out: GuestNetwork = { guestName, mac: link.mac, mtu: link.mtu, routes: [] };
  if (v4) out.ipv4 = { ...split(v4.address), ...(v4.gateway ? { gateway: v4.gateway } : {}) };
  if (v6) out.ipv6 = { ...split(v6.address), ...(v6.gateway ? { gateway: v6.gateway } : {}) };
  for (const r of result.routes) {
    const dst = split(r.dst);
    const family = net.isIPv4(dst.address) ? out.ipv4 : out.ipv6;
    if (!family) continue; // a route of a family the guest has no address in
    const gateway = r.gw ?? family.gateway;
    out.routes.push({ destination: dst.address, prefix: dst.prefix, ...(gateway ? { gateway } : {}) });
  }
  return out;
}

/**
 * Configure the guest's interface and routes over its agent: all requests sent at once (the
 * agent answers them in order, so each route finds the interface configured), one round trip
 * into the VM instead of one per request, as a Docker network's NIC (src/pod/network/network.ts).
 */
export async function configureGuest(agent: Agent, g: GuestNetwork): Promise<void> {
  const c: InterfaceConfig = { name: g.guestName, setMac: g.mac, mtu: g.mtu, up: true };
  if (g.ipv4) Object.assign(c, { address: g.ipv4.address, prefix: g.ipv4.prefix });
  if (g.ipv6) Object.assign(c, { address6: g.ipv6.address, prefix6: g.ipv6.prefix });
  const sent = [agent.configureInterface(c), ...g.routes.map((r) => agent.addRoute({ ...r, device: g.guestName }))];
  // Every answer is awaited; the first failure, in the order sent, is the one thrown.
  await settleAll(sent);
}
