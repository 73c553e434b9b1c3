/**
 * What a pod's legacy links on the default bridge (`docker run --link`, src/net/legacy-links.ts)
 * give it at a start: a hosts line and environment variables per linked container, from that
 * container as it runs now (its address on the default bridge, hostname, env and exposed
 * ports). dockerd's errors when a linked container does not run or is not on the default
 * bridge. Links on user networks are names only (src/net/resolve.ts) and need nothing here.
 */
import { linkEnv, linkHostsLine, type LegacyLink } from '../../net/legacy-links';
import type { PodContext } from '../context';
import type { PodNetworks } from './network';
import { mainContainer, type PodRecord } from '../types';
import { LinkFailedError } from '../errors';

/** The hosts lines and variables of a pod's links. */
export interface LinkFacts {
  hosts: string[];
  env: string[];
}

/** Resolve `links` of pod `r` against the running pods now; throws dockerd's errors. */
export function resolveLinks(
  ctx: PodContext,
  r: PodRecord,
  links: readonly LegacyLink[],
  nets: PodNetworks | undefined,
): LinkFacts {
  const out: LinkFacts = { hosts: [], env: [] };
  for (const l of links) {
    let target;
    try {
      target = ctx.registry.lookup(l.name);
    } catch {
      throw new LinkFailedError('no-such-pod', l.name, r.name, l.alias);
    }
    const t = target.record;
    const main = mainContainer(t);
    if (!target.run || main.state.status !== 'running')
      throw new LinkFailedError('not-running', t.name, r.name, l.alias);
    const ep = nets?.endpointsOf(t.id).find((e) => nets.get(e.networkId).isDefault);
    if (!ep) throw new LinkFailedError('not-on-default-network', t.name, r.name, l.alias);
    const link = { name: t.name, alias: l.alias };
    out.hosts.push(linkHostsLine(link, t.sandbox.spec.hostname, ep.ip));
    out.env.push(...linkEnv(link, r.name, ep.ip, t.sandbox.spec.network?.exposed ?? [], main.spec.env));
  }
  return out;
}
