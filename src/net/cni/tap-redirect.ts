/**
 * Joining a VM's NIC to the interface CNI made in the sandbox's namespace, the way Kata
 * Containers does it (its "tcfilter" model): the VM's tap goes into the sandbox namespace,
 * and two tc filters move every frame between the two links with `mirred egress redirect`:
 *
 *   bridge -- veth --[netns: eth0] --ingress--> redirect --> [tap] --> QEMU --> guest eth0
 *                                  <--redirect <--ingress--
 *
 * The namespace's own stack sees none of that traffic: the guest is the pod's end of the
 * wire, and takes the CNI interface's MAC (so the bridge, ARP caches and plugins like portmap
 * that know the pod by its MAC and address reach it) and its addresses and routes (./guest.ts).
 *
 * The tap is the one QEMU created at boot in the host's namespace (src/vm/devices/nic.ts),
 * moved: a tap can change namespace while QEMU holds its file descriptor, so a VM from the
 * warm pool or a template clone, booted before the pod existed, serves a CNI sandbox with no
 * new device model. The tap lives as long as QEMU holds it (or until its namespace is freed).
 */
import { UnavailableError } from '../../errors';
import { run } from '../run';
import { inNetns } from './netns';

/** What the sandbox-side CNI interface looks like. */
export interface LinkFacts {
  mac: string;
  mtu: number;
}

/** MAC and MTU of `ifName` in the namespace `netns`. */
export async function linkFacts(netns: string, ifName: string): Promise<LinkFacts> {
  return factsOf(await inNetns(netns, 'ip', ['-o', 'link', 'show', 'dev', ifName]), netns, ifName);
}

/** MAC and MTU from `ip -o link show dev ifName`'s one line ("... mtu 1500 ... link/ether MAC brd ..."). */
function factsOf(line: string, netns: string, ifName: string): LinkFacts {
  const mtu = / mtu (\d+) /.exec(line)?.[1];
  const mac = /link\/ether ([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}) /.exec(line)?.[1];
  if (!mac || !mtu) throw new UnavailableError(`${ifName} in ${netns} has no hardware address or MTU`);
  return { mac: mac.toLowerCase(), mtu: Number(mtu) };
}

/**
 * The steps in the sandbox's namespace, as one shell (`$1` the tap, `$2` the CNI interface,
 * `$3` its MTU, `$4` "again" on a retry; the tc batch on stdin): the tap given the interface's
 * MTU and brought up, then the redirects added. Only a retry first removes the ingress qdiscs
 * (with their filters) that an earlier try left: on a first join there are none. Four process
 * starts (nsenter, sh, ip, tc: ~3 ms each on a quiet host).
 */
const IN_NETNS_STEPS = [
  'set -e',
  'ip link set dev "$1" mtu "$3" up',
  'if [ "$4" = again ]; then',
  '  tc qdisc del dev "$2" ingress 2>/dev/null || :',
  '  tc qdisc del dev "$1" ingress 2>/dev/null || :',
  'fi',
  'tc -batch -',
].join('\n');

/**
 * Move host tap `tap` into the namespace `netns`: a kernel namespace change of ~15-25 ms (its
 * RCU grace periods), which sandbox-networks.ts runs beside the CNI plugins.
 */
export async function moveTapInto(netns: string, tap: string): Promise<void> {
  checkLinkName('tap', tap);
  await run('ip', ['link', 'set', 'dev', tap, 'netns', netns]);
}

/**
 * In `netns`, give tap `tap` the MTU `mtu` of `ifName`, bring it up, and redirect both ways
 * between the two with tc (u32 match-all filters: cls_matchall is not always there).
 * Idempotent: a first try that fails is tried again after removing what an earlier join left.
 */
export async function redirectTap(netns: string, tap: string, ifName: string, mtu: number): Promise<void> {
  checkLinkName('tap', tap);
  checkLinkName('interface', ifName);
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new UnavailableError(`unusable MTU ${mtu} of ${ifName}`);
  const redirect = (from: string, to: string) => [
    `qdisc add dev ${from} ingress`,
    `filter add dev ${from} parent ffff: prio 1 protocol all u32 match u32 0 0 action mirred egress redirect dev ${to}`,
  ];
  const batch = [...redirect(ifName, tap), ...redirect(tap, ifName)].join('\n') + '\n';
  const steps = (again: boolean) =>
    inNetns(
      netns,
      'sh',
      ['-c', IN_NETNS_STEPS, 'join-tap', tap, ifName, String(mtu), again ? 'again' : 'first'],
      batch,
    );
  await steps(false).catch(() => steps(true));
}

function checkLinkName(what: string, name: string): void {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name)) throw new UnavailableError(`unusable ${what} name ${JSON.stringify(name)}`);
}
