/**
 * A pod's place on the host's networks (src/net): at start, its endpoints on the networks of
 * its plan, the VM's NICs on those networks' bridges, the guest's interfaces and default route,
 * the /etc/hosts and /etc/resolv.conf that go with the address, and its published ports; at the
 * end of a run (stop, exit, remove, a failed start), all of it taken off again.
 *
 * The order matters: the endpoint is recorded first (with dockerd's MAC for its address,
 * 02:42 and the IPv4 bytes, or the one --mac-address gave, which the agent then sets on the NIC
 * after checking its boot MAC), the tap goes on the bridge, and only then is the guest
 * configured, so the VM never speaks on a network before its address is ours. An address
 * keeps its MAC from one container to the next, as with dockerd: the host's and the other
 * containers' ARP entries for a reused address stay right (with each VM's own NIC MAC, they
 * pointed at the previous VM for up to half a minute, and connections to the new one hung).
 */
import type { ContainerNetworkPlan } from '../../net/container-config';
import type { EndpointConfig, EndpointRequest, NetworkManager } from '../../net/manager';
import type { PortBinding } from '../../net/types';
import { LINK_LOCAL_PREFIX } from '../../net/link-local';
import { logger } from '../../util/log';
import type { InterfaceInfo, Vm } from '../../vm/types';
import type { NicDevice } from '../../vm/devices/types';
import { FIXED_HOSTS_LINES } from '../lifecycle/runtime';
import { settleAll } from '../../util/settle';
import { downUnplannedNics, joinRestoredNic } from './restored-nics';

const log = logger('pod');

/** What the pod layer uses of the network manager (src/net/manager.ts). */
export type PodNetworks = Pick<
  NetworkManager,
  'connect' | 'attachTap' | 'publish' | 'disconnect' | 'endpointsOf' | 'get'
>;

/**
 * NICs every networked pod's VM boots with (and pool VMs, where taps can be made): the first
 * for the network of its plan, the others spare for `docker network connect` while it runs
 * (microvm has no hot-plug).
 */
export const POD_VM_NICS = 2;

/** How many NICs a pod's VM needs for its plan (0: loopback only). */
export function nicsFor(plan: ContainerNetworkPlan | undefined): number {
  if (plan?.mode !== 'networks') return 0;
  return Math.max(plan.networks.length, POD_VM_NICS);
}

/** The hosts files a networked container gets instead of the loopback-only ones. */
export interface NetworkFiles {
  hosts: string;
  resolv: string;
}

/**
 * Docker's /etc/hosts of a container with an address: the fixed lines, then its own name on
 * its address, and on its IPv6 address too when it has one (a network with IPv6).
 */
export function hostsWithAddress(hostname: string, domainname: string, ip: string, ip6?: string): string {
  const names = domainname ? `${hostname}.${domainname} ${hostname}` : hostname;
  return [...FIXED_HOSTS_LINES, `${ip}\t${names}`, ...(ip6 ? [`${ip6}\t${names}`] : []), ''].join('\n');
}

/**
 * resolv.conf on a user network: our DNS server on the gateway, the host's search and options
 * lines kept. On the default bridge the host's resolvers (already filtered) are used as is.
 */
export function resolvForNetwork(hostResolv: string, dnsServer: string | undefined): string {
  if (!dnsServer) return hostResolv;
  const kept = hostResolv.split('\n').filter((l) => l.trim() && !/^\s*nameserver\s/.test(l));
  return [`nameserver ${dnsServer}`, ...kept, ''].join('\n');
}

/**
 * A --mac-address, lower-cased; dockerd's start error (a 500) for one that is no MAC. A
 * multicast one is refused by the agent, as the kernel refuses it under dockerd.
 */
export function checkedMac(mac: string): string {
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac)) throw new Error(`address ${mac}: invalid MAC address`);
  return mac.toLowerCase();
}

/** What joining left: the endpoints (the plan's order) and the ports bound. */
export interface Joined {
  endpoints: EndpointConfig[];
  ports: PortBinding[];
  files: NetworkFiles;
}

/**
 * Give the guest interface of `nic` the endpoint's address (and its MAC, when --mac-address
 * gave the endpoint another than the NIC's; its IPv6 address on a network with IPv6), and the
 * default route through it when `route` (the IPv6 one when `route6` and it has an IPv6 address).
 * The requests go out at once: the agent serves them in order and brings the interface up
 * last, so a route through a gateway is only added once the configuration succeeded (it
 * fails with it otherwise), and a start waits for one round trip to the guest, not two. The
 * configuration's error is the one reported. `reset`: the MAC is set even when it is the NIC's
 * (a restored interface: the agent's MAC change takes it down and up again, which drops the
 * addresses and routes it was saved with: ./restored-nics.ts).
 */
export async function configureNic(
  vm: Vm,
  nic: NicDevice,
  ep: EndpointConfig,
  route: boolean,
  route6 = route,
  reset = false,
): Promise<void> {
  const setMac = reset || ep.mac !== nic.mac ? { setMac: ep.mac } : {};
  const secondary = (ep.linkLocalIps ?? []).map((address) => ({ address, prefix: LINK_LOCAL_PREFIX }));
  const v6 = ep.ip6 && ep.prefixLen6 ? { address6: ep.ip6, prefix6: ep.prefixLen6 } : {};
  const configured = vm.agent.configureInterface({
    name: nic.guestName,
    mac: nic.mac,
    ...setMac,
    address: ep.ip,
    prefix: ep.prefixLen,
    ...(secondary.length ? { secondary } : {}),
    ...v6,
    mtu: ep.mtu,
    up: true,
  });
  const routed = route
    ? vm.agent.addRoute({ destination: '0.0.0.0', prefix: 0, gateway: ep.gateway, device: nic.guestName })
    : Promise.resolve();
  const routed6 =
    route6 && ep.ip6 && ep.gateway6
      ? vm.agent.addRoute({ destination: '::', prefix: 0, gateway: ep.gateway6, device: nic.guestName })
      : Promise.resolve();
  await settleAll([configured, routed, routed6]);
}

/**
 * Put a pod on its plan's networks, the i-th on the VM's i-th NIC: endpoint, then the tap on
 * the bridge beside the guest interface; the default route through the first network with a way out (an
 * internal one has none); published ports on the first network. On failure whatever was done
 * is undone and the error (dockerd's, for a port in use) is thrown. `restored`: the start of
 * a VM from a checkpoint's save, its NICs' guest interfaces as restored (Vm.restoredNics:
 * ./restored-nics.ts).
 */
export async function joinNetwork(
  nets: PodNetworks,
  plan: ContainerNetworkPlan,
  vm: Vm,
  pod: { id: string; name: string; hostname: string; domainname: string },
  hostResolv: string,
  restored?: ReadonlyArray<InterfaceInfo | undefined>,
): Promise<Joined | undefined> {
  const planned = plan.mode === 'networks' ? plan.networks.length : 0;
  if (restored) await downUnplannedNics(vm, restored, planned);
  if (planned === 0) return undefined;
  if (vm.devices.nics.length < plan.networks.length)
    throw new Error(
      `VM ${vm.id} has ${vm.devices.nics.length} network interface(s) for ${plan.networks.length} network(s)`,
    );
  const endpoints: EndpointConfig[] = [];
  try {
    let routed = false;
    let routed6 = false;
    for (const [i, att] of plan.networks.entries()) {
      const nic = vm.devices.nics[i];
      const req: EndpointRequest = {
        containerId: pod.id,
        name: pod.name,
        aliases: att.aliases,
        ...(att.mac ? { mac: checkedMac(att.mac) } : {}),
        ...(att.ip ? { ip: att.ip } : {}),
        ...(att.ip6 ? { ip6: att.ip6 } : {}),
        ...(att.links?.length ? { links: att.links } : {}),
        ...(att.linkLocalIps?.length ? { linkLocalIps: att.linkLocalIps } : {}),
      };
      const ep = await nets.connect(att.ref, req);
      endpoints.push(ep);
      const internal = nets.get(ep.networkId).internal;
      // The tap goes onto the bridge while the guest configures its interface: neither needs
      // the other, and a start waits for the longer of the two instead of their sum (a restored
      // interface, which has its saved address, is configured first: ./restored-nics.ts). The
      // IPv6 default route goes through the first network with IPv6 and a way out.
      const route = !internal && !routed;
      const route6 = !internal && !routed6;
      const attach = () => nets.attachTap(ep.networkId, pod.id, nic.tap);
      if (restored)
        await joinRestoredNic(
          vm,
          nic,
          restored[i],
          ep,
          route,
          route6,
          (reset) => configureNic(vm, nic, ep, route, route6, reset),
          attach,
        );
      else await settleAll([attach(), configureNic(vm, nic, ep, route, route6)]);
      routed ||= !internal;
      routed6 ||= !internal && !!ep.ip6;
    }
    const first = endpoints[0];
    // dockerd starts a container of an --internal network with -p and publishes nothing (no
    // way in); so does podvisor.
    const ports =
      plan.ports.length > 0 && !nets.get(first.networkId).internal
        ? await nets.publish(first.networkId, pod.id, plan.ports)
        : [];
    const user = endpoints.find((ep) => !nets.get(ep.networkId).isDefault);
    return {
      endpoints,
      ports,
      files: {
        hosts: hostsWithAddress(pod.hostname, pod.domainname, first.ip, first.ip6),
        resolv: resolvForNetwork(hostResolv, user?.gateway),
      },
    };
  } catch (err) {
    for (const ep of endpoints) {
      await nets
        .disconnect(ep.networkId, pod.id)
        .catch((e) =>
          log.warn(`undoing network ${ep.networkId.slice(0, 12)} of ${pod.id.slice(0, 12)}: ${(e as Error).message}`),
        );
    }
    throw err;
  }
}

/**
 * Take a pod off every network it is on (never rejects): ports, rules, names and tap go. Every
 * disconnect is asked at once: the manager runs them in that order, each before any network
 * removal asked after this call (compose down removes the networks right after the
 * containers, and a removal served between two of them would find the second endpoint).
 */
export async function leaveNetworks(nets: PodNetworks | undefined, podId: string): Promise<void> {
  if (!nets) return;
  await Promise.all(
    nets
      .endpointsOf(podId)
      .map((ep) =>
        nets
          .disconnect(ep.networkId, podId)
          .catch((err) =>
            log.warn(
              `disconnecting ${podId.slice(0, 12)} from ${ep.networkId.slice(0, 12)}: ${(err as Error).message}`,
            ),
          ),
      ),
  );
}

/** The endpoint ids on the networks now (taken when they open, before any new start joins). */
export function endpointIds(nets: NetworkManager): Set<string> {
  const ids = new Set<string>();
  for (const n of nets.list()) for (const ep of Object.keys(n.endpoints)) ids.add(ep);
  return ids;
}

/**
 * After a restart: endpoints from before it (`before`, see endpointIds) of pods that no longer
 * run (they exited, or were removed, while no daemon watched) are taken off, so that their
 * addresses, names and published ports are free. An endpoint a new start made is not touched.
 */
export async function dropStaleEndpoints(
  nets: NetworkManager,
  before: Set<string>,
  isRunning: (podId: string) => boolean,
): Promise<void> {
  for (const n of nets.list()) {
    for (const ep of Object.values(n.endpoints)) {
      if (!before.has(ep.id) || isRunning(ep.containerId)) continue;
      log.info(`freeing the endpoint of ${ep.name} on ${n.name}: the container no longer runs`);
      await nets
        .disconnect(n.id, ep.containerId)
        .catch((err) => log.warn(`disconnecting ${ep.name} from ${n.name}: ${(err as Error).message}`));
    }
  }
}
