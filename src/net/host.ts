/**
 * What the network manager needs from the host, as one interface: the Linux implementation
 * (bridges through iproute2, rules through iptables, sockets for DNS and published ports)
 * and, in unit tests, an in-memory one.
 */
import * as links from './links';
import { applyFirewall, firewallOwner, removeFirewall, renderRules, restoreInput } from './firewall';
import { DnsServer, hostResolvers, type NameResolver } from './dns';
import { publishAll, type AllocatedPort, type ProxyHandle } from './proxy';
import type { PortRequest } from './types';
import type { NetworkRecord } from './types';
import { ensureIpv4Forwarding } from './forwarding';
import { withHostLock } from '../util/host-lock';
import { logger } from '../util/log';

const log = logger('net');

/** The host-wide lock of subnet choices (every podvisord on the host takes it). */
const SUBNET_LOCK = '/run/lock/podvisor-subnets.lock';

/** A listener that can be closed (a DNS server, a published port). */
export interface Closable {
  close(): Promise<void>;
}

/** The host operations of the network layer. */
export interface NetHost {
  /** Create (or keep) the bridge with its gateway address (and IPv6 gateway, if any) and MTU, up. */
  ensureBridge(name: string, gatewayCidr: string, mtu: number, gateway6Cidr?: string): Promise<void>;
  /** Delete a link of ours (absent is fine). */
  deleteLink(name: string): Promise<void>;
  /** Names of the links this daemon owns (bridges, taps). */
  ownedLinks(): Promise<string[]>;
  /** Put a tap (or veth) on a bridge, with the MTU, up. */
  attach(link: string, bridge: string, mtu: number): Promise<void>;
  /** Take a link off its bridge. */
  detach(link: string): Promise<void>;
  /** Subnets the host already uses (routes), other than on the given links. */
  usedSubnets(except: Set<string>): Promise<string[]>;
  /**
   * Run `fn` while no other daemon on the host chooses a subnet: `fn` finds a free one and
   * gives its bridge the address before the next daemon looks.
   */
  whileChoosingSubnets<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * Make the firewall match these networks (our chains only), and the host forward their
   * traffic (./forwarding.ts: IPv4 forwarding turned on if it is off, as dockerd does).
   */
  applyFirewall(nets: NetworkRecord[]): Promise<void>;
  /** Remove every rule and chain of ours. */
  removeFirewall(): Promise<void>;
  /** Serve DNS on `address`. */
  startDns(address: string, resolve: NameResolver): Promise<Closable>;
  /**
   * Bind and relay published ports (all or none). `allocated` says which host ports other
   * endpoints of this daemon publish (./proxy.ts publishAll).
   */
  publish(reqs: PortRequest[], toIp: string, label: string, allocated?: AllocatedPort): Promise<ProxyHandle[]>;
}

/** The real host: iproute2, iptables, sockets. Owner marks derive from `dataRoot`. */
export class LinuxNetHost implements NetHost {
  private readonly fw;
  /** The jumps into our chains were checked by this process (checked once, at open). */
  private jumpsKnown = false;
  /** The iptables-restore input this process last applied (undefined: none, or removed since). */
  private applied: string | undefined;
  /**
   * `upstreams`: resolvers for names that are not ours ("ip" or "ip:port"; default: those of
   * /etc/resolv.conf, read when each DNS server starts).
   */
  constructor(
    private readonly dataRoot: string,
    private readonly upstreams?: string[],
  ) {
    this.fw = firewallOwner(dataRoot);
  }

  ensureBridge(name: string, gatewayCidr: string, mtu: number, gateway6Cidr?: string): Promise<void> {
    return links.ensureBridge(name, gatewayCidr, mtu, this.dataRoot, gateway6Cidr);
  }

  deleteLink(name: string): Promise<void> {
    return links.deleteLink(name);
  }

  async ownedLinks(): Promise<string[]> {
    return (await links.ownedLinks(this.dataRoot)).map((l) => l.name);
  }

  attach(link: string, bridge: string, mtu: number): Promise<void> {
    return links.attachToBridge(link, bridge, mtu);
  }

  detach(link: string): Promise<void> {
    return links.detachFromBridge(link);
  }

  usedSubnets(except: Set<string>): Promise<string[]> {
    return links.hostSubnets(except);
  }

  whileChoosingSubnets<T>(fn: () => Promise<T>): Promise<T> {
    return withHostLock(SUBNET_LOCK, fn);
  }

  /**
   * Our chains hold only what this process wrote, so rules equal to the last ones applied are
   * not written again: a container without published ports leaving a network changes no rule,
   * and skipping it saves an iptables-restore (an exec, ~3 ms of CPU) per container removal.
   */
  async applyFirewall(nets: NetworkRecord[]): Promise<void> {
    const input = restoreInput(this.fw, renderRules(this.fw, nets));
    if (this.jumpsKnown && input === this.applied) return;
    this.applied = undefined;
    const checkHost = !this.jumpsKnown;
    await applyFirewall(this.fw, nets, this.jumpsKnown);
    // After our accept rules exist: turning forwarding on may set the FORWARD policy to DROP.
    if (checkHost) {
      try {
        await ensureIpv4Forwarding();
      } catch (err) {
        log.warn((err as Error).message);
      }
    }
    this.jumpsKnown = true;
    this.applied = input;
  }

  async removeFirewall(): Promise<void> {
    this.jumpsKnown = false;
    this.applied = undefined;
    await removeFirewall(this.fw);
  }

  startDns(address: string, resolve: NameResolver): Promise<Closable> {
    return DnsServer.start(address, resolve, this.upstreams ?? hostResolvers());
  }

  publish(reqs: PortRequest[], toIp: string, label: string, allocated?: AllocatedPort): Promise<ProxyHandle[]> {
    return publishAll(reqs, toIp, label, allocated);
  }
}

/**
 * Remove everything the daemon of `dataRoot` made on the host (its bridges, taps, rules),
 * whether it is running or not: for test teardown after a SIGKILL, and for uninstalling.
 */
export async function removeAllOwned(dataRoot: string): Promise<void> {
  for (const l of await links.ownedLinks(dataRoot)) await links.deleteLink(l.name);
  await removeFirewall(firewallOwner(dataRoot));
}
