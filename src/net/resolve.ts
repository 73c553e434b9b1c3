/**
 * Name resolution inside user networks, as dockerd's embedded DNS scopes it: a container
 * sees the names (container name, 12-digit short id, --network-alias) of the endpoints on the
 * user networks it is on itself, and nothing of networks it is not on; and the aliases of its
 * own --link on a network, which name the linked container's address there for it alone.
 * The default `bridge` network has no name resolution.
 */
import type { NetworkRecord } from './types';

/** The addresses `name` has for the container at `askerIp`; undefined when no endpoint matches. */
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
      if (target && !out.includes(target.ip)) out.push(target.ip);
    }
    for (const ep of eps) {
      const hit = ep.name.toLowerCase() === q || (q.length === 12 && ep.containerId.startsWith(q)) || ep.aliases.some((a) => a.toLowerCase() === q);
      if (hit && !out.includes(ep.ip)) out.push(ep.ip);
    }
  }
  return out.length > 0 ? out : undefined;
}
