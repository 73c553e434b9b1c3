/**
 * A clone's NICs (./clone.ts): what makes each guest interface this VM's.
 *
 * - A clone of a template: each interface given this VM's MAC once the agent is connected,
 *   right behind ACTIVATE (the agent serves requests in order: no round trip of its own). The
 *   restored device has the template's MAC; the template's interfaces were never up.
 * - A VM started from a checkpoint's save: each NIC whose guest interface the checkpoint
 *   recorded (SavedVmRecord.nics, listed just before the save) keeps the MAC its guest has (its
 *   QEMU is started with it), with the address, MTU and routes it was saved with
 *   (Vm.restoredNics). The pod's network join leaves an interface that already is what its
 *   endpoint asks as it is (a container restored onto the address it had), and resets the
 *   others (src/pod/network/restored-nics.ts): under TCG a down and up of the guest's
 *   interface is tens of milliseconds of kernel code translated afresh in each new QEMU. Its
 *   taps are on no bridge until that join, which configures a restored interface before its
 *   tap goes on one, so nothing the guest sends with the saved address reaches a network in
 *   between. A NIC the checkpoint did not record (one saved before checkpoints recorded them,
 *   or an interface whose MAC no NIC may have) is given this VM's MAC and taken down, right
 *   behind ACTIVATE.
 */
import type { Agent, InterfaceInfo, NicDevice, VmDevices } from '../../types';

/**
 * The NICs of a VM started from a checkpoint's save whose guest interfaces `saved` recorded
 * (in NIC order): each such NIC's MAC in `devices` made the one its guest has. Returns
 * Vm.restoredNics (undefined for a NIC given none: it gets this VM's MAC, settleCloneNics).
 */
export function adoptSavedNics(
  devices: VmDevices,
  saved: ReadonlyArray<InterfaceInfo | undefined> | undefined,
): Array<InterfaceInfo | undefined> {
  return devices.nics.map((nic, i) => {
    const s = saved?.[i];
    if (!s || s.name !== nic.guestName || !unicastMac(s.mac)) return undefined;
    nic.mac = s.mac;
    return s;
  });
}

/**
 * Send what makes the clone's NICs its own right behind `activated` (its ACTIVATE, already
 * sent), and resolve once both are answered. `restored`: a checkpoint's VM's NICs as
 * adoptSavedNics left them (those it has none for get this VM's MAC and go down); undefined
 * for a template's clone (every NIC gets this VM's MAC).
 */
export async function settleCloneNics(
  agent: Agent,
  devices: VmDevices,
  restored: ReadonlyArray<InterfaceInfo | undefined> | undefined,
  activated: Promise<void>,
): Promise<void> {
  const fresh = devices.nics.filter((_, i) => !restored?.[i]);
  await Promise.all([activated, ...fresh.map((nic) => newMac(agent, nic, restored !== undefined))]);
}

/**
 * Give the guest's interface of `nic` the NIC's MAC; `down`: take it down first (a restored
 * one may be up with its saved address: the pod's network join brings it up with its
 * endpoint's, and its MAC then changes while it is down, not in a down and up of its own).
 */
function newMac(agent: Agent, nic: NicDevice, down: boolean): Promise<void> {
  const downed = down ? agent.configureInterface({ name: nic.guestName, up: false }) : undefined;
  const mac = agent.configureInterface({ name: nic.guestName, setMac: nic.mac });
  return downed ? Promise.all([downed, mac]).then(() => undefined) : mac;
}

/** Whether `mac` (aa:bb:cc:dd:ee:ff) is one a NIC may have: unicast, not all zeros. */
export function unicastMac(mac: string): boolean {
  return (
    /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(mac) && (parseInt(mac.slice(0, 2), 16) & 1) === 0 && !/^(00:){5}00$/.test(mac)
  );
}
