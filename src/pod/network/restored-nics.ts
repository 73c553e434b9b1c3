/**
 * The NICs of a VM started from a checkpoint's save (Vm.restoredNics: each guest interface as
 * the restored guest has it, with the MAC, address, MTU and routes it was saved with) put on
 * their endpoints by the pod's network join (./network.ts).
 *
 * An interface that already is what its endpoint asks (a container restored onto the address
 * it had: the same MAC, address, MTU and IPv6 address, up) is left as it is, its default route
 * asked for again (already there: the agent's "exists" is that). Any other is reset: its MAC set
 * even when it is the endpoint's, so that the agent takes it down and up again (the addresses
 * and routes it was saved with go) before configuring it. The down and up is the costly part
 * under TCG (the kernel's code for it translated afresh in each new QEMU), which a restore onto
 * the same address now does without.
 *
 * A restored interface is configured before its tap goes on the bridge: until then its tap is on
 * no network, and the guest, whose interface still has the saved address and MAC (another
 * container's now, perhaps), never speaks on one with them. A NIC the plan no longer puts on a
 * network (disconnected while the container was stopped) is taken down when it was up, so that
 * a later `docker network connect` finds it as a spare: down, without the saved routes.
 */
import type { EndpointConfig } from '../../net/manager';
import { LINK_LOCAL_PREFIX } from '../../net/link-local';
import { ConflictError } from '../../errors';
import type { InterfaceInfo, Vm } from '../../vm/types';
import type { NicDevice } from '../../vm/devices/types';
import { settleAll } from '../../util/settle';

/** Whether restored interface `saved` already is what endpoint `ep` asks of it. */
export function configuredAs(saved: InterfaceInfo, ep: EndpointConfig): boolean {
  const addresses = (list: Array<{ address: string; prefix: number }>) =>
    list
      .map((a) => `${a.address}/${a.prefix}`)
      .sort()
      .join(' ');
  const secondary = (ep.linkLocalIps ?? []).map((address) => ({ address, prefix: LINK_LOCAL_PREFIX }));
  const v6 =
    ep.ip6 && ep.prefixLen6
      ? saved.address6 === ep.ip6 && saved.prefix6 === ep.prefixLen6
      : saved.address6 === undefined;
  return (
    saved.up &&
    saved.mac === ep.mac.toLowerCase() &&
    saved.address === ep.ip &&
    saved.prefix === ep.prefixLen &&
    saved.mtu === ep.mtu &&
    v6 &&
    addresses(saved.secondary ?? []) === addresses(secondary)
  );
}

/**
 * Put restored NIC `nic` (its interface as restored: `saved`, undefined when it was given a new
 * MAC and taken down) on endpoint `ep`: left as it is or reset and configured (`configure`, with
 * `reset`: ./network.ts configureNic), then its tap on the bridge (`attachTap`). `route`,
 * `route6`: whether its default routes go through it.
 */
export async function joinRestoredNic(
  vm: Vm,
  nic: NicDevice,
  saved: InterfaceInfo | undefined,
  ep: EndpointConfig,
  route: boolean,
  route6: boolean,
  configure: (reset: boolean) => Promise<void>,
  attachTap: () => Promise<void>,
): Promise<void> {
  if (saved && configuredAs(saved, ep)) {
    const again = (destination: string, gateway: string) =>
      vm.agent.addRoute({ destination, prefix: 0, gateway, device: nic.guestName }).catch((err: unknown) => {
        if (!(err instanceof ConflictError)) throw err;
      });
    await settleAll([
      attachTap(),
      route ? again('0.0.0.0', ep.gateway) : undefined,
      route6 && ep.ip6 && ep.gateway6 ? again('::', ep.gateway6) : undefined,
    ]);
    return;
  }
  await configure(saved !== undefined);
  await attachTap();
}

/**
 * Take down the NICs of `vm` from index `from` on that were up as restored (`restored`): their
 * plan puts them on no network.
 */
export async function downUnplannedNics(
  vm: Vm,
  restored: ReadonlyArray<InterfaceInfo | undefined>,
  from: number,
): Promise<void> {
  const up = vm.devices.nics.filter((nic, i) => i >= from && restored[i]?.up);
  await settleAll(up.map((nic) => vm.agent.configureInterface({ name: nic.guestName, up: false })));
}
