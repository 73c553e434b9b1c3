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
  const raw = JSON.parse(await inNetns(netns, 'ip', ['-j', 'link', 'show', 'dev', ifName])) as Array<{
    address?: string;
    mtu?: number;
  }>;
  const l = raw[0];
  if (!l?.address || !l.mtu) throw new UnavailableError(`${ifName} in ${netns} has no hardware address or MTU`);
  return { mac: l.address.toLowerCase(), mtu: l.mtu };
}

/**
 * Move host tap `tap` into `netns` (unless it is there already) and redirect both ways between
 * it and `ifName` with tc (u32 match-all filters: cls_matchall is not always there). Idempotent.
 */
export async function joinTap(netns: string, tap: string, ifName = 'eth0'): Promise<LinkFacts> {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(tap)) throw new UnavailableError(`unusable tap name ${JSON.stringify(tap)}`);
  const inside = await inNetns(netns, 'ip', ['link', 'show', 'dev', tap]).then(
    () => true,
    () => false,
  );
  if (!inside) await run('ip', ['link', 'set', 'dev', tap, 'netns', netns]);
  const facts = await linkFacts(netns, ifName);
  await inNetns(netns, 'ip', ['link', 'set', 'dev', tap, 'mtu', String(facts.mtu), 'up']);
  // Idempotent: any ingress qdisc (and its filters) of an earlier try goes first.
  for (const dev of [ifName, tap])
    await inNetns(netns, 'tc', ['qdisc', 'del', 'dev', dev, 'ingress']).catch(() => undefined);
  const redirect = (from: string, to: string) => [
    `qdisc add dev ${from} ingress`,
    `filter add dev ${from} parent ffff: prio 1 protocol all u32 match u32 0 0 action mirred egress redirect dev ${to}`,
  ];
  await inNetns(netns, 'tc', ['-batch', '-'], [...redirect(ifName, tap), ...redirect(tap, ifName)].join('\n') + '\n');
  return facts;
}
