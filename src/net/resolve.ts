/**
 * Name resolution inside user networks, as dockerd's embedded DNS scopes it: a container
 * sees the names (container name, 12-digit short id, --network-alias) of the endpoints on the
 * user networks it is on itself, and nothing of networks it is not on; and the aliases of its
 * own --link on a network, which name the linked container's address there for it alone.
 * The default `bridge` network has no name resolution. A name gives the endpoint's IPv4
 * address, and its IPv6 one too on a network with IPv6.
 */
import type { NetworkRecord } from './types';

/** The addresses (IPv4, then IPv6 ones) `name` has for the container at `askerIp`; undefined when no endpoint matches. */
export function resolveScoped(nets: Iterable<NetworkRecord>, askerIp: string, name: string): string[] | undefined {
  const all = [...nets].filter((n) => !n.isDefault);
  const askers = new Set<string>();
  for (const n of all) for (const ep of Object.values(n.endpoints)) if (ep.ip === askerIp) askers.add(ep.containerId);
  if (askers.size === 0) return undefined;
  const q = name.toLowerCase();
  const out: string[] = [];
  for (const n of all) {
    const eps = Object.values(n.endpoints);
    const mine = eps.find((ep) => askers.has(ep.containerId));
    if (!mine) continue;
    for (const l of mine.links ?? []) {
      if (l.alias.toLowerCase() !== q) continue;
      const target = eps.find((ep) => ep.name === l.name || (l.name.length >= 12 && ep.containerId.startsWith(l.name)));
      if (target) add(out, target);
    }
    for (const ep of eps) {
      const hit =
        ep.name.toLowerCase() === q ||
        (q.length === 12 && ep.containerId.startsWith(q)) ||
        ep.aliases.some((a) => a.toLowerCase() === q);
      if (hit) add(out, ep);
    }
  }
  return out.length > 0 ? out : undefined;
}

/** Add an endpoint's addresses to `out`, each once. */
function add(out: string[], ep: { ip: string; ip6?: string }): void {
  for (const a of [ep.ip, ep.ip6]) if (a && !out.includes(a)) out.push(a);
}
