/**
 * `docker network connect` and `disconnect` of a pod. A pod that does not run only has its
 * plan changed (it joins at its next start). A running pod's VM cannot take a new device
 * (microvm has no hot-plug), so a connect takes one of the NICs its VM booted with that no
 * endpoint holds: its tap goes on the network's bridge and the agent gives the guest interface
 * its address, in that order (./network.ts). A disconnect takes the endpoint off (ports,
 * names, address, tap off the bridge) and brings the guest interface down, so the NIC is spare
 * again.
 */
import { checkStaticAddresses, lookupOver, type NetworkAttachment } from '../../net/container-config';
import { UnavailableError } from '../../errors';
import {
  AlreadyConnectedError,
  DefaultNetworkAliasError,
  NoneModeConnectError,
  NoSpareNicError,
  NotConnectedError,
} from '../errors';
import { logger } from '../../util/log';
import type { PodContext } from '../context';
import type { Entry } from '../records/registry';
import { configureNic, type PodNetworks } from './network';

const log = logger('pod');

async function networksOf(ctx: PodContext): Promise<PodNetworks> {
  const nets = await ctx.deps.networks;
  if (!nets) throw new UnavailableError('networks are not available in this daemon (see its log)');
  return nets;
}

/** Whether a plan's attachment names network `id` (by name or id, as the plan keeps it). */
function sameNetwork(nets: PodNetworks, ref: string, id: string): boolean {
  try {
    return nets.get(ref).id === id;
  } catch {
    return false;
  }
}

/**
 * Connect pod `e` to network `att.ref` (run under the pod's lock). dockerd's errors: a pod on
 * `--network none`, a second endpoint on one network, a static address (IPv4 or IPv6) or
 * alias where the network takes none; and ours when a running pod's VM has no spare NIC left.
 */
export async function connectPod(ctx: PodContext, e: Entry, att: NetworkAttachment): Promise<void> {
  const nets = await networksOf(ctx);
  const r = e.record;
  const spec = r.sandbox.spec;
  const n = nets.get(att.ref);
  if (spec.network?.mode === 'none') throw new NoneModeConnectError(r.id);
  checkStaticAddresses(
    att.ref,
    !n.isDefault,
    att.ip,
    att.ip6,
    lookupOver(() => n),
  );
  if (n.isDefault && att.aliases.length > 0) throw new DefaultNetworkAliasError(n.name);
  const plan = spec.network ?? { mode: 'networks' as const, networks: [], ports: [] };
  const planned = plan.networks.some((a) => sameNetwork(nets, a.ref, n.id));
  const planAfter = {
    ...plan,
    mode: 'networks' as const,
    networks: planned ? plan.networks : [...plan.networks, { ...att, ref: n.name }],
  };
  if (e.run) {
    const vm = e.run.vm;
    if (nets.endpointsOf(r.id).some((ep) => ep.networkId === n.id)) throw new AlreadyConnectedError(r.name, n.name);
    const used = new Set(nets.endpointsOf(r.id).map((ep) => ep.tap));
    const nic = vm.devices.nics.find((c) => !used.has(c.tap));
    if (!nic) throw new NoSpareNicError(r.name, vm.devices.nics.length);
    const ep = await nets.connect(n.id, {
      containerId: r.id,
      name: r.name,
      aliases: att.aliases,
      ...(att.ip ? { ip: att.ip } : {}),
      ...(att.ip6 ? { ip6: att.ip6 } : {}),
      ...(att.links?.length ? { links: att.links } : {}),
      ...(att.linkLocalIps?.length ? { linkLocalIps: att.linkLocalIps } : {}),
    });
    try {
      await nets.attachTap(n.id, r.id, nic.tap);
      // The default route stays where it is; a pod without one (on no other network with a
      // way out) gets it from this network.
      const others = nets.endpointsOf(r.id).filter((o) => o.networkId !== n.id && !nets.get(o.networkId).internal);
      await configureNic(vm, nic!, ep, !n.internal && others.length === 0, !n.internal && !others.some((o) => !!o.ip6));
    } catch (err) {
      await nets
        .disconnect(n.id, r.id)
        .catch((e2) => log.warn(`undoing connect of ${r.id.slice(0, 12)} to ${n.name}: ${(e2 as Error).message}`));
      throw err;
    }
  } else if (planned) {
    throw new AlreadyConnectedError(r.name, n.name);
  }
  spec.network = planAfter;
  await ctx.persist(e);
}

/**
 * Disconnect pod `e` from network `ref` (run under the pod's lock): dockerd's error when it is
 * not on it. A running pod's interface on that network goes down and its NIC is spare again.
 */
export async function disconnectPod(ctx: PodContext, e: Entry, ref: string): Promise<void> {
  const nets = await networksOf(ctx);
  const r = e.record;
  const spec = r.sandbox.spec;
  const n = nets.get(ref);
  const plan = spec.network;
  const planned = plan?.networks.some((a) => sameNetwork(nets, a.ref, n.id)) ?? false;
  const ep = nets.endpointsOf(r.id).find((o) => o.networkId === n.id);
  if (!ep && (e.run || !planned)) throw new NotConnectedError(r.id, n.name);
  if (ep) {
    await nets.disconnect(n.id, r.id);
    const nic = e.run?.vm.devices.nics.find((c) => c.tap === ep.tap);
    if (e.run && nic) {
      // The endpoint's MAC is the one the NIC has now; the NIC gets its boot MAC back, which
      // the next network's configuration checks before giving it that network's.
      const boot = ep.mac.toLowerCase() !== nic.mac.toLowerCase() ? { setMac: nic.mac } : {};
      await e.run.vm.agent
        .configureInterface({ name: nic.guestName, mac: ep.mac, ...boot, up: false })
        .catch((err) => log.warn(`bringing ${nic.guestName} of ${r.id.slice(0, 12)} down: ${(err as Error).message}`));
    }
  }
  if (plan) {
    const rest = plan.networks.filter((a) => !sameNetwork(nets, a.ref, n.id));
    // A pod on no network left starts with loopback only; published ports stay in the plan
    // and go with its first network again once it has one.
    spec.network = { ...plan, networks: rest };
  }
  await ctx.persist(e);
}
