/**
 * An in-memory NetHost for unit tests of the network manager: it records bridges, taps on
 * bridges, the networks the firewall was last written for, DNS servers and published ports,
 * and can be told which host ports are taken and which subnets the host routes.
 */
import type { Closable, NetHost } from '../../../src/net/host';
import type { NameResolver } from '../../../src/net/dns';
import type { PortRequest } from '../../../src/net/types';
import type { ProxyHandle } from '../../../src/net/proxy';
import type { NetworkRecord } from '../../../src/net/types';
import { UnavailableError } from '../../../src/errors';

/** The fake host's state, open to the test. */
export class FakeNetHost implements NetHost {
  bridges = new Map<string, { gateway: string; mtu: number; gateway6?: string }>();
  /** Owned links that are not bridges (taps). */
  taps = new Set<string>();
  /** link -> bridge */
  masters = new Map<string, string>();
  firewall: NetworkRecord[] | undefined;
  dns = new Map<string, NameResolver>();
  /** "proto/hostIp:port" in use (by us or by "another process"). */
  taken = new Set<string>();
  routes: string[] = ['192.0.2.0/24'];

  async ensureBridge(name: string, gatewayCidr: string, mtu: number, gateway6Cidr?: string): Promise<void> {
    this.bridges.set(name, { gateway: gatewayCidr, mtu, ...(gateway6Cidr ? { gateway6: gateway6Cidr } : {}) });
  }
  async deleteLink(name: string): Promise<void> {
    this.bridges.delete(name);
    this.taps.delete(name);
    this.masters.delete(name);
  }
  async ownedLinks(): Promise<string[]> {
    return [...this.bridges.keys(), ...this.taps];
  }
  async attach(link: string, bridge: string): Promise<void> {
    if (!this.bridges.has(bridge)) throw new Error(`no bridge ${bridge}`);
    this.masters.set(link, bridge);
  }
  async detach(link: string): Promise<void> {
    this.masters.delete(link);
  }
  async usedSubnets(): Promise<string[]> {
    return this.routes;
  }
  /** One process: nothing to exclude. */
  whileChoosingSubnets<T>(fn: () => Promise<T>): Promise<T> {
    return fn();
  }
  async applyFirewall(nets: NetworkRecord[]): Promise<void> {
    this.firewall = JSON.parse(JSON.stringify(nets)) as NetworkRecord[];
  }
  async removeFirewall(): Promise<void> {
    this.firewall = undefined;
  }
  async startDns(address: string, resolve: NameResolver): Promise<Closable> {
    this.dns.set(address, resolve);
    return { close: async () => void this.dns.delete(address) };
  }
  async publish(reqs: PortRequest[], toIp: string, label: string): Promise<ProxyHandle[]> {
    const out: ProxyHandle[] = [];
    for (const r of reqs) {
      let port = r.hostPortMin || 49153;
      const max = r.hostPortMin ? r.hostPortMax : 60999;
      while (port <= max && this.taken.has(`${r.proto}/${r.hostIp}:${port}`)) port++;
      if (port > max) {
        for (const h of out) await h.close();
        throw new UnavailableError(`driver failed programming external connectivity on endpoint ${label}: port in use`);
      }
      const key = `${r.proto}/${r.hostIp}:${port}`;
      this.taken.add(key);
      out.push({
        binding: { proto: r.proto, containerPort: r.containerPort, hostIp: r.hostIp, hostPort: port },
        close: async () => void this.taken.delete(key),
      });
      void toIp;
    }
    return out;
  }
}
