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
  return factsOf(await inNetns(netns, 'ip', ['-j', 'link', 'show', 'dev', ifName]), netns, ifName);
}

/** MAC and MTU from `ip -j link show dev ifName`'s output. */
function factsOf(json: string, netns: string, ifName: string): LinkFacts {
  const raw = JSON.parse(json) as Array<{ address?: string; mtu?: number }>;
  const l = raw[0];
  if (!l?.address || !l.mtu) throw new UnavailableError(`${ifName} in ${netns} has no hardware address or MTU`);
  return { mac: l.address.toLowerCase(), mtu: l.mtu };
}

/**
 * The steps in the sandbox's namespace, as one shell (`$1` the tap, `$2` the CNI interface;
 * the tc batch on stdin): the interface's facts printed for the host (`ip -j`), the tap given
 * its MTU and brought up, any ingress qdisc of an earlier try removed (with its filters), the
 * redirects added. One process start instead of six (~6-15 ms each on a loaded host).
 */
const IN_NETNS_STEPS = [
  'set -e',
  'ip -j link show dev "$2"',
  'mtu=$(ip -o link show dev "$2" | sed -n \'s/.* mtu \\([0-9][0-9]*\\) .*/\\1/p\')',
  'ip link set dev "$1" mtu "$mtu" up',
  'tc qdisc del dev "$2" ingress 2>/dev/null || :',
  'tc qdisc del dev "$1" ingress 2>/dev/null || :',
  'tc -batch -',
].join('\n');

/**
 * Move host tap `tap` into `netns` (unless it is there already) and redirect both ways between
 * it and `ifName` with tc (u32 match-all filters: cls_matchall is not always there). Idempotent.
 */
export async function joinTap(netns: string, tap: string, ifName = 'eth0'): Promise<LinkFacts> {
  for (const [what, name] of [
    ['tap', tap],
    ['interface', ifName],
  ])
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name))
      throw new UnavailableError(`unusable ${what} name ${JSON.stringify(name)}`);
  // A tap already moved (a retried join) is not in the host's namespace any more: the steps
  // in the namespace then find it there, or fail naming it.
  await run('ip', ['link', 'set', 'dev', tap, 'netns', netns]).catch(() => undefined);
  const redirect = (from: string, to: string) => [
    `qdisc add dev ${from} ingress`,
    `filter add dev ${from} parent ffff: prio 1 protocol all u32 match u32 0 0 action mirred egress redirect dev ${to}`,
  ];
  const batch = [...redirect(ifName, tap), ...redirect(tap, ifName)].join('\n') + '\n';
  const out = await inNetns(netns, 'sh', ['-c', IN_NETNS_STEPS, 'join-tap', tap, ifName], batch);
  return factsOf(out, netns, ifName);
}
