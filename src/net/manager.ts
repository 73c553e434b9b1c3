/**
 * Networks: their records, the host plumbing that follows from them (bridge, rules, DNS
 * server, published ports) and the endpoints the pod layer adds and removes. Every change is
 * written to the record first and then to the host, one change at a time; `open` converges
 * the host on the records (after a restart or a SIGKILL) and removes what no record needs.
 */
import * as crypto from 'node:crypto';
import { ConflictError, ForbiddenError, InvalidArgumentError, NotFoundError } from '../errors';
import { logger } from '../util/log';
import { allocate, macFor, prefixOf, releaseOwner } from './ipam';
import { allocate6, prefixOf6 } from './ipam6';
import { formatCidr, overlaps, parseCidr } from './ipv4';
import { resolveScoped } from './resolve';
import { NetworkStore } from './store';
import {
  candidatePool,
  DEFAULT_NETWORK,
  newNetworkRecord,
  parseCidrLoose,
  PREDEFINED,
  type CreateNetworkOptions,
} from './network-record';
import type { Closable, NetHost } from './host';
import type { PortRequest } from './types';
import type { AllocatedPort, ProxyHandle } from './proxy';
import type { EndpointRecord, NetworkRecord, PortBinding } from './types';

const log = logger('net');

export { candidatePool, DEFAULT_NETWORK, NETWORK_DRIVERS, type CreateNetworkOptions } from './network-record';

/** Where network events go (the daemon's EventBus fits). */
export interface NetworkEvents {
  emit(type: string, action: string, id: string, attributes?: Record<string, string>): unknown;
}

/** What the pod layer gives when it puts a container on a network. */
export interface EndpointRequest {
  containerId: string;
  /** Container name (no leading slash). */
  name: string;
  aliases?: string[];
  /** A static --ip. */
  ip?: string;
  /** A static --ip6 (used on a network with IPv6; kept for inspect only elsewhere). */
  ip6?: string;
  /** A given --mac-address. */
  mac?: string;
  /** --link-local-ip: more IPv4 addresses of the interface (./link-local.ts checked them). */
  linkLocalIps?: string[];
  /** --link on a user network (names for this container alone). */
  links?: Array<{ name: string; alias: string }>;
}

/** An endpoint with what the guest needs to configure its interface. */
export interface EndpointConfig extends EndpointRecord {
  networkId: string;
  gateway: string;
  prefixLen: number;
  /** On a network with IPv6: its IPv6 gateway and the prefix length of `ip6`. */
  gateway6?: string;
  prefixLen6?: number;
  mtu: number;
  bridge: string;
}

/** The networks of one daemon. */
export class NetworkManager {
  private readonly nets = new Map<string, NetworkRecord>();
  private readonly dns = new Map<string, Closable>();
  /** Published ports' listeners by endpoint id. */
  private readonly proxies = new Map<string, ProxyHandle[]>();
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly store: NetworkStore,
    private readonly host: NetHost,
    private readonly events?: NetworkEvents,
  ) {}

  /** Load the records, make the default network, converge the host on them. */
  static async open(dataRoot: string, host: NetHost, events?: NetworkEvents): Promise<NetworkManager> {
    const m = new NetworkManager(new NetworkStore(dataRoot), host, events);
    for (const rec of await m.store.loadAll()) m.nets.set(rec.id, rec);
    if (![...m.nets.values()].some((n) => n.isDefault)) {
      // Chosen and claimed (the bridge has its address) before another daemon chooses.
      await host.whileChoosingSubnets(async () => {
        const rec = await newNetworkRecord({ name: DEFAULT_NETWORK }, true, [...m.nets.values()], () => m.freeSubnet());
        await m.store.save(rec);
        m.nets.set(rec.id, rec);
        await m.plumb(rec);
      });
    }
    await m.reconcile();
    return m;
  }

  /** Run one change at a time. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** Bridges, rules, DNS and ports for every record; owned links no record needs are deleted. */
  private async reconcile(): Promise<void> {
    const keep = new Set<string>();
    for (const n of this.nets.values()) {
      keep.add(n.bridge);
      for (const ep of Object.values(n.endpoints)) if (ep.tap) keep.add(ep.tap);
    }
    for (const l of await this.host.ownedLinks()) {
      if (!keep.has(l)) {
        log.info(`removing link ${l}: no network or endpoint needs it`);
        await this.host.deleteLink(l);
      }
    }
    for (const n of this.nets.values()) await this.plumb(n);
    await this.host.applyFirewall([...this.nets.values()]);
    for (const n of this.nets.values()) {
      for (const ep of Object.values(n.endpoints)) {
        if (ep.ports.length === 0) continue;
        try {
          await this.startPorts(
            n,
            ep,
            ep.ports.map((p) => ({
              proto: p.proto,
              containerPort: p.containerPort,
              hostIp: p.hostIp,
              hostPortMin: p.hostPort,
              hostPortMax: p.hostPort,
            })),
          );
        } catch (err) {
          log.warn(`published ports of ${ep.name} on ${n.name} not restored: ${(err as Error).message}`);
        }
      }
    }
  }

  /** The bridge and DNS server of one network. */
  private async plumb(n: NetworkRecord): Promise<void> {
    const gateway6 = n.ipam6 ? `${n.ipam6.gateway}/${prefixOf6(n.ipam6)}` : undefined;
    await this.host.ensureBridge(n.bridge, `${n.ipam.gateway}/${prefixOf(n.ipam)}`, n.mtu, gateway6);
    if (!n.isDefault && !this.dns.has(n.id)) {
      try {
        this.dns.set(
          n.id,
          await this.host.startDns(n.ipam.gateway, (asker, name) => resolveScoped(this.nets.values(), asker, name)),
        );
      } catch (err) {
        log.warn(`network ${n.name}: no DNS server on ${n.ipam.gateway}: ${(err as Error).message}`);
      }
    }
  }

  /** The first pool subnet that overlaps neither the host's routes nor another network. */
  private async freeSubnet(): Promise<string> {
    const used = [
      ...(await this.host.usedSubnets(new Set([...this.nets.values()].map((n) => n.bridge)))).map((s) =>
        parseCidrLoose(s),
      ),
      ...[...this.nets.values()].map((n) => parseCidr(n.ipam.subnet)),
    ];
    const free = candidatePool().find((c) => !used.some((u) => overlaps(u, c)));
    if (!free)
      throw new ForbiddenError(
        'could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network',
      );
    return formatCidr(free);
  }

  /** `docker network create`: the record, then the bridge, rules and DNS; an event. */
  create(o: CreateNetworkOptions): Promise<NetworkRecord> {
    return this.serial(async () => {
      // dockerd takes any non-empty name ("test 01" included): names are labels, never paths.
      if (o.name === '') throw new InvalidArgumentError('invalid name: ');
      if (PREDEFINED.includes(o.name))
        throw new ForbiddenError(`operation is not permitted on predefined ${o.name} network `);
      if (!o.allowDuplicate && [...this.nets.values()].some((n) => n.name === o.name))
        throw new ConflictError(`network with name ${o.name} already exists`);
      // The subnet is chosen and claimed (the bridge has its address) before another daemon
      // on the host chooses one.
      const rec = await this.host.whileChoosingSubnets(async () => {
        const r = await newNetworkRecord(o, false, [...this.nets.values()], () => this.freeSubnet());
        await this.store.save(r);
        this.nets.set(r.id, r);
        try {
          await this.plumb(r);
        } catch (err) {
          await this.dropNetwork(r);
          throw err;
        }
        return r;
      });
      try {
        await this.host.applyFirewall([...this.nets.values()]);
      } catch (err) {
        await this.dropNetwork(rec);
        throw err;
      }
      this.events?.emit('network', 'create', rec.id, { name: rec.name, type: 'bridge' });
      return rec;
    });
  }

  /** Every network. */
  list(): NetworkRecord[] {
    return [...this.nets.values()];
  }

  /** A network by full id, exact name, or unique id prefix (dockerd's order); 404 otherwise. */
  get(ref: string): NetworkRecord {
    const byId = this.nets.get(ref);
    if (byId) return byId;
    const list = [...this.nets.values()];
    const byName = list.find((n) => n.name === ref);
    if (byName) return byName;
    const byPrefix = ref === '' ? [] : list.filter((n) => n.id.startsWith(ref));
    if (byPrefix.length === 1) return byPrefix[0];
    if (byPrefix.length > 1)
      throw new NotFoundError(`network ${ref} is ambiguous (${byPrefix.length} matches found based on ID prefix)`);
    throw new NotFoundError(`network ${ref} not found`);
  }

  private async dropNetwork(n: NetworkRecord): Promise<void> {
    this.nets.delete(n.id);
    await this.dns.get(n.id)?.close();
    this.dns.delete(n.id);
    await this.host.applyFirewall([...this.nets.values()]);
    await this.host.deleteLink(n.bridge);
    await this.store.remove(n.id);
  }

  /** `docker network rm`: refused for the default network and for one with endpoints. */
  remove(ref: string): Promise<void> {
    return this.serial(async () => {
      const n = this.get(ref);
      if (n.isDefault) throw new ForbiddenError(`${n.name} is a pre-defined network and cannot be removed`);
      if (Object.keys(n.endpoints).length > 0)
        throw new ForbiddenError(`error while removing network: network ${n.name} id ${n.id} has active endpoints`);
      await this.dropNetwork(n);
      this.events?.emit('network', 'destroy', n.id, { name: n.name, type: 'bridge' });
    });
  }

  /** `docker network prune`: every user network with no endpoint that `keep` does not spare. */
  async prune(keep: (n: NetworkRecord) => boolean = () => false): Promise<string[]> {
    const removed: string[] = [];
    for (const n of this.list()) {
      if (n.isDefault || Object.keys(n.endpoints).length > 0 || keep(n)) continue;
      try {
        await this.remove(n.id);
        removed.push(n.name);
      } catch (err) {
        log.warn(`prune: ${n.name}: ${(err as Error).message}`);
      }
    }
    return removed;
  }

  /** Put a container on a network: an address (static or free), a MAC, names for DNS. */
  connect(ref: string, req: EndpointRequest): Promise<EndpointConfig> {
    return this.serial(async () => {
      const n = this.get(ref);
      if (Object.values(n.endpoints).some((e) => e.containerId === req.containerId)) {
        throw new ForbiddenError(`endpoint with name ${req.name} already exists in network ${n.name}`);
      }
      if (n.isDefault && req.ip)
        throw new InvalidArgumentError('user specified IP address is supported on user defined networks only');
      if (n.isDefault && (req.aliases ?? []).length > 0)
        throw new InvalidArgumentError(
          'network-scoped alias is supported only for containers in user defined networks',
        );
      if (req.ip && !n.userSubnet)
        throw new InvalidArgumentError(
          'user specified IP address is supported only when connecting to networks with user configured subnets',
        );
      const id = crypto.randomBytes(32).toString('hex');
      const ip = allocate(n.ipam, id, req.ip);
      let ip6: string | undefined;
      try {
        ip6 = n.ipam6 ? allocate6(n.ipam6, id, req.ip6) : undefined;
      } catch (err) {
        releaseOwner(n.ipam, id);
        throw err;
      }
      const ep: EndpointRecord = {
        id,
        containerId: req.containerId,
        name: req.name,
        aliases: req.aliases ?? [],
        ip,
        ...(ip6 ? { ip6 } : {}),
        mac: req.mac ?? macFor(ip),
        ports: [],
        ...(req.links?.length ? { links: req.links } : {}),
        ...(req.linkLocalIps?.length ? { linkLocalIps: req.linkLocalIps } : {}),
      };
      n.endpoints[id] = ep;
      try {
        await this.store.save(n);
      } catch (err) {
        delete n.endpoints[id];
        releaseOwner(n.ipam, id);
        if (n.ipam6) releaseOwner(n.ipam6, id);
        throw err;
      }
      this.events?.emit('network', 'connect', n.id, { container: req.containerId, name: n.name, type: 'bridge' });
      return this.configOf(n, ep);
    });
  }

  private configOf(n: NetworkRecord, ep: EndpointRecord): EndpointConfig {
    const v6 = n.ipam6 && ep.ip6 ? { gateway6: n.ipam6.gateway, prefixLen6: prefixOf6(n.ipam6) } : {};
    return {
      ...ep,
      networkId: n.id,
      gateway: n.ipam.gateway,
      prefixLen: prefixOf(n.ipam),
      ...v6,
      mtu: n.mtu,
      bridge: n.bridge,
    };
  }

  private endpointOf(n: NetworkRecord, containerId: string): EndpointRecord {
    const ep = Object.values(n.endpoints).find((e) => e.containerId === containerId);
    if (!ep) throw new NotFoundError(`container ${containerId} is not connected to network ${n.name}`);
    return ep;
  }

  /** Put the endpoint's tap (made by the VM layer at boot) on the network's bridge. */
  attachTap(ref: string, containerId: string, tap: string): Promise<void> {
    return this.serial(async () => {
      const n = this.get(ref);
      const ep = this.endpointOf(n, containerId);
      await this.host.attach(tap, n.bridge, n.mtu);
      ep.tap = tap;
      await this.store.save(n);
    });
  }

  /** The host ports the endpoints other than `epId` publish, as dockerd's allocator holds them. */
  private allocatedBesides(epId: string): AllocatedPort {
    return (proto, hostIp, hostPort) =>
      [...this.nets.values()].some((n) =>
        Object.values(n.endpoints).some(
          (e) =>
            e.id !== epId && e.ports.some((p) => p.proto === proto && p.hostIp === hostIp && p.hostPort === hostPort),
        ),
      );
  }

  private async startPorts(n: NetworkRecord, ep: EndpointRecord, reqs: PortRequest[]): Promise<PortBinding[]> {
    const handles = await this.host.publish(reqs, ep.ip, `${ep.name} (${ep.id})`, this.allocatedBesides(ep.id));
    this.proxies.set(ep.id, [...(this.proxies.get(ep.id) ?? []), ...handles]);
    return handles.map((h) => h.binding);
  }

  /**
   * Publish ports to a connected container: all bound and their rules written, or nothing
   * left (a port in use: dockerd's error). Returns the bindings, host ports chosen.
   */
  publish(ref: string, containerId: string, reqs: PortRequest[]): Promise<PortBinding[]> {
    return this.serial(async () => {
      const n = this.get(ref);
      const ep = this.endpointOf(n, containerId);
      if (n.internal && reqs.length > 0)
        throw new InvalidArgumentError('ports cannot be published on an internal network');
      const handles = await this.host.publish(reqs, ep.ip, `${ep.name} (${ep.id})`, this.allocatedBesides(ep.id));
      const before = ep.ports;
      try {
        ep.ports = [...before, ...handles.map((h) => h.binding)];
        await this.store.save(n);
        await this.host.applyFirewall([...this.nets.values()]);
      } catch (err) {
        ep.ports = before;
        await Promise.all(handles.map((h) => h.close()));
        throw err;
      }
      this.proxies.set(ep.id, [...(this.proxies.get(ep.id) ?? []), ...handles]);
      return handles.map((h) => h.binding);
    });
  }

  /** Take a container off a network: its ports, rules, tap attachment, address and names go. */
  disconnect(ref: string, containerId: string): Promise<void> {
    return this.serial(async () => {
      const n = this.get(ref);
      const ep = this.endpointOf(n, containerId);
      for (const h of this.proxies.get(ep.id) ?? []) await h.close();
      this.proxies.delete(ep.id);
      delete n.endpoints[ep.id];
      releaseOwner(n.ipam, ep.id);
      if (n.ipam6) releaseOwner(n.ipam6, ep.id);
      await this.store.save(n);
      await this.host.applyFirewall([...this.nets.values()]);
      if (ep.tap) await this.host.detach(ep.tap);
      this.events?.emit('network', 'disconnect', n.id, { container: containerId, name: n.name, type: 'bridge' });
    });
  }

  /** The endpoints of one container on every network (for inspect). */
  endpointsOf(containerId: string): EndpointConfig[] {
    const out: EndpointConfig[] = [];
    for (const n of this.nets.values())
      for (const ep of Object.values(n.endpoints)) if (ep.containerId === containerId) out.push(this.configOf(n, ep));
    return out;
  }

  /**
   * Daemon shutdown: listeners close; networks with no endpoint lose their bridge and rules
   * (they come back at the next start); those with endpoints keep them for running VMs.
   */
  shutdown(): Promise<void> {
    return this.serial(async () => {
      for (const d of this.dns.values()) await d.close();
      this.dns.clear();
      for (const hs of this.proxies.values()) for (const h of hs) await h.close();
      this.proxies.clear();
      const busy = [...this.nets.values()].filter((n) => Object.keys(n.endpoints).length > 0);
      if (busy.length > 0) await this.host.applyFirewall(busy);
      else await this.host.removeFirewall();
      for (const n of this.nets.values()) if (!busy.includes(n)) await this.host.deleteLink(n.bridge);
    });
  }
}
