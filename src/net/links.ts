/**
 * Linux bridges and taps through iproute2. Every link podvisor makes carries an alias
 * ("podvisor <data root>") naming its owner, so that the links of one daemon can be listed
 * and removed, and a link whose data root is gone can be told a leak.
 */
import * as crypto from 'node:crypto';
import { run } from './run';
import { sharedLinkHelper } from './link-helper';

/** The alias that marks a link as owned by the daemon of `dataRoot`. */
export function ownerAlias(dataRoot: string): string {
  return `podvisor ${dataRoot}`.slice(0, 250);
}

/** One link as `ip -j link` reports it. */
export interface LinkInfo {
  name: string;
  kind?: string;
  alias?: string;
  master?: string;
  mtu: number;
  up: boolean;
}

/** Every link of the host (namespace of the daemon). */
export async function listLinks(): Promise<LinkInfo[]> {
  const raw = JSON.parse(await run('ip', ['-j', '-d', 'link', 'show'])) as Array<Record<string, unknown>>;
  return raw.map((l) => ({
    name: String(l.ifname),
    kind: (l.linkinfo as { info_kind?: string } | undefined)?.info_kind,
    alias: typeof l.ifalias === 'string' ? l.ifalias : undefined,
    master: typeof l.master === 'string' ? l.master : undefined,
    mtu: Number(l.mtu),
    up: Array.isArray(l.flags) && (l.flags as string[]).includes('UP'),
  }));
}

/** Links whose alias names `dataRoot` as their owner. */
export async function ownedLinks(dataRoot: string): Promise<LinkInfo[]> {
  const alias = ownerAlias(dataRoot);
  return (await listLinks()).filter((l) => l.alias === alias);
}

/**
 * Make sure bridge `name` exists, owned, with address `gatewayCidr` ("10.88.0.1/16"), the MTU
 * and up. Idempotent: a restart finds the bridge and keeps it (running VMs' taps stay on it).
 */
export async function ensureBridge(
  name: string,
  gatewayCidr: string,
  mtu: number,
  dataRoot: string,
  gateway6Cidr?: string,
): Promise<void> {
  let exists = true;
  try {
    await run('ip', ['link', 'show', 'dev', name]);
  } catch {
    exists = false;
  }
  // One `ip -batch` for the rest: each exec of ip costs a few ms. The alias goes apart when
  // the data root has characters batch quoting cannot carry.
  const alias = ownerAlias(dataRoot);
  const batchSafe = !/["\\\n]/.test(alias);
  const cmds = [
    // A fixed MAC: a bridge without one takes the lowest MAC of its ports, so the gateway's
    // MAC would change under the containers' ARP caches whenever a port leaves.
    ...(exists ? [] : [`link add name ${name} address ${bridgeMac(name)} type bridge`]),
    ...(batchSafe ? [`link set dev ${name} alias "${alias}"`] : []),
    `link set dev ${name} mtu ${mtu}`,
    `addr replace ${gatewayCidr} dev ${name}`,
    // The IPv6 gateway of a network with IPv6, usable at once (no duplicate address detection).
    ...(gateway6Cidr ? [`addr replace ${gateway6Cidr} dev ${name} nodad`] : []),
    `link set dev ${name} up`,
  ];
  await run('ip', ['-batch', '-'], cmds.join('\n') + '\n');
  if (!batchSafe) await run('ip', ['link', 'set', 'dev', name, 'alias', alias]);
}

/** A stable, locally administered MAC for a bridge, derived from its name. */
export function bridgeMac(name: string): string {
  const h = crypto.createHash('sha256').update(name).digest();
  return ['02', ...[...h.subarray(0, 5)].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

/** Delete a link (a bridge, a tap); absent is fine. */
export async function deleteLink(name: string): Promise<void> {
  try {
    await run('ip', ['link', 'del', 'dev', name]);
  } catch (err) {
    if (!/Cannot find device|does not exist/.test((err as Error).message)) throw err;
  }
}

/** Create a tap owned by the daemon of `dataRoot` (for the VM layer and for tests). */
export async function createTap(name: string, dataRoot: string): Promise<void> {
  await run('ip', ['tuntap', 'add', 'dev', name, 'mode', 'tap']);
  await run('ip', ['link', 'set', 'dev', name, 'alias', ownerAlias(dataRoot)]);
}

/**
 * Put an existing tap (or veth) on `bridge` with the bridge's MTU, and bring it up: one
 * netlink request through the link helper (./link-helper.ts), as this is on the path of every
 * container start; when the helper fails, `ip` does it (and words the error).
 */
export async function attachToBridge(link: string, bridge: string, mtu: number): Promise<void> {
  try {
    await sharedLinkHelper().set(link, { mtu, master: bridge, up: true });
  } catch {
    await run('ip', ['link', 'set', 'dev', link, 'mtu', String(mtu), 'master', bridge, 'up']);
  }
}

/** Take a link off its bridge (it stays; its owner removes it); a link that is gone is fine. */
export async function detachFromBridge(link: string): Promise<void> {
  try {
    await sharedLinkHelper().set(link, { master: null });
    return;
  } catch {
    // ip says it again, in its words (a missing link included)
  }
  try {
    await run('ip', ['link', 'set', 'dev', link, 'nomaster']);
  } catch (err) {
    if (!/Cannot find device|does not exist/.test((err as Error).message)) throw err;
  }
}

/** IPv4 subnets the host already routes or has addresses in (other than our own bridges). */
export async function hostSubnets(exceptLinks: Set<string> = new Set()): Promise<string[]> {
  const routes = JSON.parse(await run('ip', ['-j', '-4', 'route', 'show', 'table', 'all'])) as Array<{
    dst?: string;
    dev?: string;
    type?: string;
  }>;
  const out: string[] = [];
  for (const r of routes) {
    if (!r.dst || r.dst === 'default' || (r.dev && exceptLinks.has(r.dev))) continue;
    if (r.type && r.type !== 'unicast') continue;
    out.push(r.dst.includes('/') ? r.dst : `${r.dst}/32`);
  }
  return out;
}
