/**
 * The network plan of a Docker create body (HostConfig.NetworkMode, PortBindings,
 * PublishAllPorts, Links, MacAddress and NetworkingConfig.EndpointsConfig), or of the neutral
 * request's one network and ports (planOneNetwork), with dockerd's checks and messages, into
 * the typed plan the pod layer follows (src/net/container-config.ts); planOnHost plans either
 * on the host's networks, or on none.
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
import { fromApi } from './port-requests';
import { parseLinks } from './links';

/** Why a container cannot have the host's network. */
const HOST_MODE_REFUSED =
  '--network host is not supported: every container runs in its own VM, with its own kernel and network stack; publish ports with -p instead';

/** The parts of a create body that concern networking. */
export interface NetworkingInput {
  NetworkMode?: string;
  PortBindings?: Record<string, unknown>;
  PublishAllPorts?: boolean;
  ExposedPorts?: Record<string, unknown>;
  MacAddress?: string;
  /** Whether EndpointsConfig may name several networks (API 1.44 and later). */
  MultipleEndpoints?: boolean;
  /**
   * Whether each endpoint's settings are checked as dockerd 26 checks them, every problem at
   * once (../../net/endpoint-settings.ts; API 1.42 and later), rather than dockerd 20.10's first.
   */
  AllEndpointProblems?: boolean;
  /** HostConfig.Links. */
  Links?: string[] | null;
  EndpointsConfig?: Record<
    string,
    {
      Aliases?: string[] | null;
      IPAMConfig?: { IPv4Address?: string; IPv6Address?: string; LinkLocalIPs?: string[] | null } | null;
      MacAddress?: string;
      Links?: string[] | null;
    } | null
  >;
}

/** The plan for a create body. */
export function planNetworks(input: NetworkingInput, lookup: NetworkLookup): ContainerNetworkPlan {
  const mode = !input.NetworkMode || input.NetworkMode === 'default' ? DEFAULT_NETWORK : input.NetworkMode;
  const ports = fromApi(
    input.PortBindings as Parameters<typeof fromApi>[0],
    !!input.PublishAllPorts,
    input.ExposedPorts,
  );
  if (mode === 'host') {
    throw new NotImplementedError(HOST_MODE_REFUSED);
  }
  if (mode.startsWith('container:')) {
    if (ports.length > 0)
      throw new InvalidArgumentError('conflicting options: port publishing and the container type network mode');
    // It runs in the other container's VM (src/translate/network/join.ts): no network of its own.
    return { mode: 'none', networks: [], ports: [] };
  }
  if (mode === 'none') return { mode: 'none', networks: [], ports: [] };
  const eps = input.EndpointsConfig ?? {};
  const names = Object.keys(eps);
  if (names.length > 1 && !input.MultipleEndpoints)
    throw new InvalidArgumentError(`Container cannot be connected to network endpoints: ${names.join(', ')}`);
  const hostLinks = parseLinks(input.Links);
  // The network of NetworkMode first (it carries the published ports), then the others the
  // body names (API 1.44 and later), each with its own endpoint settings.
  const main = attachment(mode, eps[mode] ?? (names.length === 1 ? eps[names[0]] : undefined) ?? {}, input, lookup);
  const others = names.length > 1 ? names.filter((n) => n !== mode) : [];
  const own = { AllEndpointProblems: input.AllEndpointProblems };
  const networks = [main.attachment, ...others.map((n) => attachment(n, eps[n] ?? {}, own, lookup).attachment)];
  const exposed = Object.keys(input.ExposedPorts ?? {}).map((k) => (k.includes('/') ? k : `${k}/tcp`));
  return {
    mode: 'networks',
    networks,
    ports,
    ...(!main.user && hostLinks.length ? { links: hostLinks } : {}),
    ...(exposed.length ? { exposed } : {}),
  };
}

type EndpointInput = NonNullable<NonNullable<NetworkingInput['EndpointsConfig']>[string]>;

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
function checkAsDockerd26(ref: string, ep: EndpointInput, lookup: NetworkLookup): void {
  const prefix = `invalid config for network ${ref}: `;
  if (ep.MacAddress && !MAC_FORMS.some((re) => re.test(ep.MacAddress!)))
    throw new InvalidArgumentError(`${prefix}invalid MAC address ${ep.MacAddress}`);
  const user = ref !== DEFAULT_NETWORK && lookup.isUserNetwork(ref);
  const facts = {
    user,
    userSubnet: { 4: lookup.hasUserSubnet(ref, 4), 6: lookup.hasUserSubnet(ref, 6) },
    userRanges: lookup.userRanges?.(ref) ?? { 4: [], 6: [] },
  };
  checkEndpointSettings(ep, facts, prefix);
}

/**
 * One network's attachment from its endpoint settings, with dockerd's checks; `input` gives
 * the container-wide MacAddress and HostConfig.Links of the main network (empty for others).
 */
function attachment(
  ref: string,
  ep: EndpointInput,
  input: Pick<NetworkingInput, 'MacAddress' | 'Links' | 'AllEndpointProblems'>,
  lookup: NetworkLookup,
): { attachment: NetworkAttachment; user: boolean } {
  if (input.AllEndpointProblems) checkAsDockerd26(ref, ep, lookup);
  const aliases = ep.Aliases ?? [];
  const ip = ep.IPAMConfig?.IPv4Address || undefined;
  const ip6 = ep.IPAMConfig?.IPv6Address || undefined;
  const linkLocalIps = checkLinkLocalIps(ep.IPAMConfig?.LinkLocalIPs ?? []);
  const user = ref !== DEFAULT_NETWORK && lookup.isUserNetwork(ref);
  checkStaticAddresses(ref, user, ip, ip6, lookup);
  if (!user && aliases.length > 0)
    throw new InvalidArgumentError('network-scoped alias is supported only for containers in user defined networks');
  const mac = ep.MacAddress || input.MacAddress || undefined;
  // The docker CLI sends --link of a user network in the endpoint's config, other clients may
  // send HostConfig.Links: on a user network both are names for this container alone.
  const hostLinks = parseLinks(input.Links);
  const links = user
    ? [...parseLinks(ep.Links), ...hostLinks].filter((l, i, all) => all.findIndex((o) => o.alias === l.alias) === i)
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

/**
 * The plan of a container on one network, `ref` (`default` for the default bridge), with
 * `ports` published and `exposed` (`80/tcp`) exposed, and no endpoint settings: the neutral
 * request's. `host` is refused as Docker's host mode is.
 */
export function planOneNetwork(
  ref: string,
  ports: PortRequest[],
  exposed: string[],
  lookup: NetworkLookup,
): ContainerNetworkPlan {
  const mode = ref === 'default' ? DEFAULT_NETWORK : ref;
  if (mode === 'host') throw new NotImplementedError(HOST_MODE_REFUSED);
  const main = attachment(mode, {}, {}, lookup);
  return { mode: 'networks', networks: [main.attachment], ports, ...(exposed.length ? { exposed } : {}) };
}
