/**
 * The network plan of a container request (../request/container-request.ts: its network, its
 * settings on each network it joins, its ports, MAC address and links), with dockerd's checks
 * and messages, into the typed plan the pod layer follows (src/net/container-config.ts);
 * planOnHost plans on the host's networks, or on none.
 */
import { InvalidArgumentError, NotFoundError, NotImplementedError } from '../../errors';
import { DEFAULT_NETWORK } from '../../net/manager';
import {
  checkStaticAddresses,
  type ContainerNetworkPlan,
  type NetworkAttachment,
  type NetworkLookup,
} from '../../net/container-config';
import { checkLinkLocalIps } from '../../net/link-local';
import { checkEndpointSettings } from '../../net/endpoint-settings';
import type { PortRequest } from '../../net/types';
import { parseLinks } from './links';
import type { EndpointRequest } from '../request/container-request';

/** Why a container cannot have the host's network. */
const HOST_MODE_REFUSED =
  '--network host is not supported: every container runs in its own VM, with its own kernel and network stack; publish ports with -p instead';

/**
 * What the plan of a container on its networks takes, in the neutral request's words
 * (../request/container-request.ts): the network its ports are on, its settings on each
 * network it joins, the ports published and exposed, its MAC address and links.
 */
export interface NetworksInput {
  /** `default` (the default bridge), `host` (refused) or a network by name or id. */
  network: string;
  /**
   * Its settings per network: the entry of `network` (or the only entry) is that network's;
   * with several, the others are joined besides it (the front decides whether several may be).
   */
  endpoints?: readonly EndpointRequest[];
  /** Published ports, checked (./port-requests.ts). */
  ports: PortRequest[];
  /** Exposed ports, `80/tcp`. */
  exposed: string[];
  /** Its MAC address where an endpoint names none. */
  macAddress?: string;
  /** Other containers it reaches by another name, `name[:alias]`. */
  links?: readonly string[];
  /** Every problem of an endpoint's settings at once, as dockerd 26 checks them (else the first). */
  everyProblem?: boolean;
}

/** The plan of a container on its networks (see NetworksInput), with dockerd's checks and messages. */
export function planNetworks(input: NetworksInput, lookup: NetworkLookup): ContainerNetworkPlan {
  const mode = input.network === 'default' ? DEFAULT_NETWORK : input.network;
  if (mode === 'host') throw new NotImplementedError(HOST_MODE_REFUSED);
  const eps = input.endpoints ?? [];
  const hostLinks = parseLinks(input.links);
  // The network of `network` first (it carries the published ports), then the others named,
  // each with its own endpoint settings.
  const mainEp = eps.find((e) => e.network === mode) ?? (eps.length === 1 ? eps[0] : undefined) ?? { network: mode };
  const main = attachment(mode, mainEp, input, lookup);
  const others = eps.length > 1 ? eps.filter((e) => e.network !== mode) : [];
  const own = { everyProblem: input.everyProblem };
  const networks = [main.attachment, ...others.map((e) => attachment(e.network, e, own, lookup).attachment)];
  return {
    mode: 'networks',
    networks,
    ports: input.ports,
    ...(!main.user && hostLinks.length ? { links: hostLinks } : {}),
    ...(input.exposed.length ? { exposed: input.exposed } : {}),
  };
}

/** A MAC address as Go's net.ParseMAC reads an Ethernet one (colons, hyphens or dotted groups). */
const MAC_FORMS = [
  /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i,
  /^[0-9a-f]{2}(-[0-9a-f]{2}){5}$/i,
  /^[0-9a-f]{4}(\.[0-9a-f]{4}){2}$/i,
];

/**
 * dockerd 26's checks of an endpoint at create: its own MAC address first, then every problem
 * of its settings at once, named with its network.
 */
function checkAsDockerd26(ref: string, ep: EndpointRequest, lookup: NetworkLookup): void {
  const prefix = `invalid config for network ${ref}: `;
  if (ep.macAddress && !MAC_FORMS.some((re) => re.test(ep.macAddress!)))
    throw new InvalidArgumentError(`${prefix}invalid MAC address ${ep.macAddress}`);
  const user = ref !== DEFAULT_NETWORK && lookup.isUserNetwork(ref);
  const facts = {
    user,
    userSubnet: { 4: lookup.hasUserSubnet(ref, 4), 6: lookup.hasUserSubnet(ref, 6) },
    userRanges: lookup.userRanges?.(ref) ?? { 4: [], 6: [] },
  };
  const settings = {
    Aliases: ep.aliases,
    IPAMConfig: { IPv4Address: ep.ipv4Address, IPv6Address: ep.ipv6Address, LinkLocalIPs: ep.linkLocalAddresses },
  };
  checkEndpointSettings(settings, facts, prefix);
}

/**
 * One network's attachment from its endpoint settings, with dockerd's checks; `input` gives
 * the container-wide MAC address and links of the main network (none for others).
 */
function attachment(
  ref: string,
  ep: EndpointRequest,
  input: Pick<NetworksInput, 'macAddress' | 'links' | 'everyProblem'>,
  lookup: NetworkLookup,
): { attachment: NetworkAttachment; user: boolean } {
  if (input.everyProblem) checkAsDockerd26(ref, ep, lookup);
  const aliases = ep.aliases ?? [];
  const ip = ep.ipv4Address || undefined;
  const ip6 = ep.ipv6Address || undefined;
  const linkLocalIps = checkLinkLocalIps(ep.linkLocalAddresses ?? []);
  const user = ref !== DEFAULT_NETWORK && lookup.isUserNetwork(ref);
  checkStaticAddresses(ref, user, ip, ip6, lookup);
  if (!user && aliases.length > 0)
    throw new InvalidArgumentError('network-scoped alias is supported only for containers in user defined networks');
  const mac = ep.macAddress || input.macAddress || undefined;
  // The docker CLI sends --link of a user network in the endpoint's settings, other clients
  // the container's links: on a user network both are names for this container alone.
  const hostLinks = parseLinks(input.links);
  const links = user
    ? [...parseLinks(ep.links), ...hostLinks].filter((l, i, all) => all.findIndex((o) => o.alias === l.alias) === i)
    : [];
  return {
    user,
    attachment: {
      ref,
      aliases,
      ...(ip ? { ip } : {}),
      ...(ip6 ? { ip6 } : {}),
      ...(linkLocalIps.length ? { linkLocalIps } : {}),
      ...(mac ? { mac } : {}),
      ...(links.length ? { links } : {}),
    },
  };
}

/**
 * `nets`, taking a network that is not there for a user network without subnets: dockerd
 * creates the container and fails its start with 404 `network X not found` (a 404 at create
 * would have the docker CLI pull the image, as for a missing one, and try again).
 */
function unknownNetworksLater(nets: NetworkLookup): NetworkLookup {
  const orElse = <T>(f: () => T, missing: T): T => {
    try {
      return f();
    } catch (err) {
      if (err instanceof NotFoundError) return missing;
      throw err;
    }
  };
  return {
    isUserNetwork: (ref) => orElse(() => nets.isUserNetwork(ref), true),
    hasUserSubnet: (ref, family) => orElse(() => nets.hasUserSubnet(ref, family), false),
    userRanges: (ref) => orElse(() => nets.userRanges?.(ref) ?? { 4: [], 6: [] }, { 4: [], 6: [] }),
  };
}

/**
 * `plan` made on the host's networks `nets`, where a network that is not there is taken as a
 * user network without subnets (its start fails, as dockerd's); with no networks on this host
 * (`nets` undefined): loopback only, and anything more cannot be given.
 */
export function planOnHost(
  nets: NetworkLookup | undefined,
  plan: (lookup: NetworkLookup) => ContainerNetworkPlan,
): ContainerNetworkPlan {
  if (nets) return plan(unknownNetworksLater(nets));
  const planned = plan({
    isUserNetwork: () => {
      throw new NotImplementedError('this host has no container networks (bridges or iptables unavailable)');
    },
    hasUserSubnet: () => false,
  });
  if (planned.ports.length > 0)
    throw new NotImplementedError(
      'this host has no container networks (bridges or iptables unavailable): ports cannot be published',
    );
  return { mode: 'none', networks: [], ports: [] };
}
