/**
 * The daemon's firewall rules, as iptables rules in chains of its own. The whole rule set is
 * a function of the network records (render), written in one `iptables-restore --noflush`
 * (apply): declaring our chains flushes and refills them atomically, so a restart, a crash
 * or a change of any network converges on the same rules. The built-in chains only get one
 * jump each into ours, marked with a comment naming the owner. Nothing assumes the FORWARD
 * policy is ACCEPT (dockerd sets it to DROP): traffic we allow is accepted in our chain.
 */
import * as crypto from 'node:crypto';
import { run } from './run';
import type { NetworkRecord } from './types';

/** Chain names and the owner mark of one daemon (one data root). */
export interface FirewallOwner {
  /** "podvisor <data root>" (comment on our jumps). */
  comment: string;
  forward: string;
  input: string;
  prerouting: string;
  postrouting: string;
}

/** Our chains: PV-<8 hex of the data root's hash>-FWD and so on (several daemons coexist). */
export function firewallOwner(dataRoot: string): FirewallOwner {
  const id = crypto.createHash('sha256').update(dataRoot).digest('hex').slice(0, 8).toUpperCase();
  const safe = /^[\w./-]{1,200}$/.test(dataRoot) ? dataRoot : id;
  return {
    comment: `podvisor ${safe}`,
    forward: `PV-${id}-FWD`,
    input: `PV-${id}-IN`,
    prerouting: `PV-${id}-PRE`,
    postrouting: `PV-${id}-POST`,
  };
}

/** The jumps from built-in chains into ours: [table, built-in chain, our chain, match]. */
function jumps(o: FirewallOwner): Array<[string, string, string, string[]]> {
  return [
    ['filter', 'FORWARD', o.forward, []],
    ['filter', 'INPUT', o.input, []],
    ['nat', 'PREROUTING', o.prerouting, ['-m', 'addrtype', '--dst-type', 'LOCAL']],
    ['nat', 'POSTROUTING', o.postrouting, []],
  ];
}

/** The rule lines of our chains for these networks (pure: unit-tested). */
export function renderRules(o: FirewallOwner, nets: NetworkRecord[]): { filter: string[]; nat: string[] } {
  const filter: string[] = [];
  const nat: string[] = [];
  for (const n of nets) {
    const b = n.bridge;
    const s = n.ipam.subnet;
    filter.push(`-A ${o.forward} -i ${b} -o ${b} -j ACCEPT`);
    filter.push(`-A ${o.forward} -o ${b} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);
    if (n.internal) {
      filter.push(`-A ${o.forward} -i ${b} -j DROP`);
      filter.push(`-A ${o.forward} -o ${b} -j DROP`);
    } else {
      // Published ports: DNAT'd connections into the network.
      filter.push(`-A ${o.forward} -o ${b} -m conntrack --ctstate DNAT -j ACCEPT`);
      // Never to another of our networks (any podvisor bridge); anywhere else is allowed.
      filter.push(`-A ${o.forward} -i ${b} -o pv-+ -j DROP`);
      filter.push(`-A ${o.forward} -i ${b} -j ACCEPT`);
      nat.push(`-A ${o.postrouting} -s ${s} ! -o ${b} -j MASQUERADE`);
      // Hairpin: a container reaching a published port of its own network through a host address.
      nat.push(`-A ${o.postrouting} -s ${s} -o ${b} -m conntrack --ctstate DNAT -j MASQUERADE`);
    }
    // The network's DNS server on the gateway address.
    if (!n.isDefault) {
      filter.push(`-A ${o.input} -i ${b} -p udp --dport 53 -j ACCEPT`);
      filter.push(`-A ${o.input} -i ${b} -p tcp --dport 53 -j ACCEPT`);
    }
    if (n.internal) continue;
    for (const ep of Object.values(n.endpoints)) {
      for (const p of ep.ports) {
        // Loopback binds are served by the userland proxy alone (DNAT to 127/8 needs route_localnet).
        if (p.hostIp.startsWith('127.')) continue;
        // IPv6 binds are served by the userland proxy alone (these rules are iptables', IPv4).
        if (p.hostIp.includes(':')) continue;
        const dst = p.hostIp === '0.0.0.0' ? '' : ` -d ${p.hostIp}/32`;
        nat.push(
          `-A ${o.prerouting}${dst} -p ${p.proto} -m ${p.proto} --dport ${p.hostPort} -j DNAT --to-destination ${ep.ip}:${p.containerPort}`,
        );
      }
    }
  }
  return { filter, nat };
}

/** The iptables-restore input that replaces our chains' content with `rules`. */
export function restoreInput(o: FirewallOwner, rules: { filter: string[]; nat: string[] }): string {
  return [
    '*filter',
    `:${o.forward} - [0:0]`,
    `:${o.input} - [0:0]`,
    ...rules.filter,
    'COMMIT',
    '*nat',
    `:${o.prerouting} - [0:0]`,
    `:${o.postrouting} - [0:0]`,
    ...rules.nat,
    'COMMIT',
    '',
  ].join('\n');
}

/** iptables' arguments for `op` (check, insert, delete) on one of our jumps, which carry our comment. */
function jumpArgs(table: string, op: string[], target: string, match: string[], o: FirewallOwner): string[] {
  return ['-w', '-t', table, ...op, ...match, '-m', 'comment', '--comment', o.comment, '-j', target];
}

async function hasJump(
  table: string,
  chain: string,
  target: string,
  match: string[],
  o: FirewallOwner,
): Promise<boolean> {
  try {
    await run('iptables', jumpArgs(table, ['-C', chain], target, match, o));
    return true;
  } catch {
    return false;
  }
}

/**
 * Write our chains for `nets` in one transaction, and (unless `jumpsKnown`: this process
 * already made sure since it last removed them) make sure each jump into them exists once.
 */
export async function applyFirewall(o: FirewallOwner, nets: NetworkRecord[], jumpsKnown = false): Promise<void> {
  await run('iptables-restore', ['-w', '--noflush'], restoreInput(o, renderRules(o, nets)));
  if (jumpsKnown) return;
  for (const [table, chain, target, match] of jumps(o)) {
    if (await hasJump(table, chain, target, match, o)) continue;
    await run('iptables', jumpArgs(table, ['-I', chain, '1'], target, match, o));
  }
}

/** Remove every jump and chain of ours (nothing left for this owner). */
export async function removeFirewall(o: FirewallOwner): Promise<void> {
  for (const [table, chain, target, match] of jumps(o)) {
    while (await hasJump(table, chain, target, match, o)) {
      await run('iptables', jumpArgs(table, ['-D', chain], target, match, o));
    }
    for (const op of ['-F', '-X']) {
      try {
        await run('iptables', ['-w', '-t', table, op, target]);
      } catch {
        // chain absent
      }
    }
  }
}

/** Lines of `iptables-save` (both tables) that belong to any podvisor daemon. */
export async function listPodvisorRules(): Promise<string[]> {
  const out: string[] = [];
  for (const table of ['filter', 'nat']) {
    const text = await run('iptables-save', ['-t', table]);
    for (const line of text.split('\n')) if (/PV-[0-9A-F]{8}-|podvisor /.test(line)) out.push(`${table}: ${line}`);
  }
  return out;
}
