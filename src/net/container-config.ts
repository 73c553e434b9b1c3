/**
 * A container's networking as Docker describes it, in and out: the plan the pod layer follows
 * at create/start (which networks, aliases, static address, published ports, from HostConfig
 * and NetworkingConfig, with dockerd's checks and messages), and the JSON inspect and ps show
 * (NetworkSettings, Ports) from the endpoints the network manager made.
 */
import { InvalidArgumentError, NotImplementedError } from '../errors';
import { fromApi, type PortRequest } from './ports';
import { DEFAULT_NETWORK, type EndpointConfig } from './manager';
import type { PortBinding } from './types';
import type { EtcOptions } from './etc-config';
import { endpointLinks, parseLinks, type LegacyLink } from './legacy-links';
import { checkIpv6Address, hasIpv6Pool, type IpamPoolConfig } from './ip-family';
import { checkLinkLocalIps } from './link-local';

/** One network a container joins, as asked. */
export interface NetworkAttachment {
  /** Network name or id as given ("bridge" for the default). */
  ref: string;
  aliases: string[];
  ip?: string;
  /**
   * A static IPv6 address (--ip6): the interface's on a network with IPv6 enabled; elsewhere
   * only kept and shown in inspect's IPAMConfig, as dockerd keeps it (./ip-family.ts).
   */
  ip6?: string;
  /** --link-local-ip: more IPv4 addresses of the interface (./link-local.ts). */
  linkLocalIps?: string[];
  mac?: string;
  /** --link on a user network: names that resolve for this container alone (./legacy-links.ts). */
  links?: LegacyLink[];
}

/** What the pod layer does for a container's network. */
export interface ContainerNetworkPlan {
  /** 'none': loopback only; 'networks': the listed ones, the first carrying published ports. */
  mode: 'none' | 'networks';
  networks: NetworkAttachment[];
  ports: PortRequest[];
  /** --dns, --dns-search, --dns-option, --add-host (absent: none given). */
  etc?: EtcOptions;
  /** --link on the default bridge: hosts lines and variables at each start (./legacy-links.ts). */
  links?: LegacyLink[];
  /** The exposed ports ("80/tcp"), which a container linking to this one is told of. */
  exposed?: string[];
}

/** The parts of a create body that concern networking. */
export interface NetworkingInput {
  NetworkMode?: string;
  PortBindings?: Record<string, unknown>;
  PublishAllPorts?: boolean;
  ExposedPorts?: Record<string, unknown>;
  MacAddress?: string;
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

/** What planning needs to know of the networks a container names. */
export interface NetworkLookup {
  /** Whether a name is a user network (throws NotFound for an unknown one). */
  isUserNetwork(ref: string): boolean;
  /** Whether it was made with a subnet of that family (--subnet; 4 when not said). */
  hasUserSubnet(ref: string, family?: 4 | 6): boolean;
}

/**
 * dockerd's checks of a static address asked for on network `ref` (`user`: a user network):
 * none on the default bridge, and only where the network was made with a subnet of its family.
 */
export function checkStaticAddresses(
  ref: string,
  user: boolean,
  ip: string | undefined,
  ip6: string | undefined,
  lookup: Pick<NetworkLookup, 'hasUserSubnet'>,
): void {
  if (ip6 !== undefined) checkIpv6Address(ip6);
  if (!user && (ip || ip6))
    throw new InvalidArgumentError('user specified IP address is supported on user defined networks only');
  if ((ip && !lookup.hasUserSubnet(ref, 4)) || (ip6 && !lookup.hasUserSubnet(ref, 6))) {
    throw new InvalidArgumentError(
      'user specified IP address is supported only when connecting to networks with user configured subnets',
    );
  }
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
    throw new NotImplementedError(
      '--network host is not supported: every container runs in its own VM, with its own kernel and network stack; publish ports with -p instead',
    );
  }
  if (mode.startsWith('container:')) {
    if (ports.length > 0)
      throw new InvalidArgumentError('conflicting options: port publishing and the container type network mode');
    // It runs in the other container's VM (src/translate/join.ts): no network of its own.
    return { mode: 'none', networks: [], ports: [] };
  }
  if (mode === 'none') return { mode: 'none', networks: [], ports: [] };
  const eps = input.EndpointsConfig ?? {};
  const names = Object.keys(eps);
  if (names.length > 1)
    throw new InvalidArgumentError(`Container cannot be connected to network endpoints: ${names.join(', ')}`);
  const ep = eps[mode] ?? (names.length === 1 ? eps[names[0]] : undefined) ?? {};
  const aliases = ep.Aliases ?? [];
  const ip = ep.IPAMConfig?.IPv4Address || undefined;
  const ip6 = ep.IPAMConfig?.IPv6Address || undefined;
  const linkLocalIps = checkLinkLocalIps(ep.IPAMConfig?.LinkLocalIPs ?? []);
  const user = mode !== DEFAULT_NETWORK && lookup.isUserNetwork(mode);
  checkStaticAddresses(mode, user, ip, ip6, lookup);
  if (!user && aliases.length > 0)
    throw new InvalidArgumentError('network-scoped alias is supported only for containers in user defined networks');
  const mac = ep.MacAddress || input.MacAddress || undefined;
  // The docker CLI sends --link of a user network in the endpoint's config, other clients may
  // send HostConfig.Links: on a user network both are names for this container alone.
  const hostLinks = parseLinks(input.Links);
  const links = user
    ? [...parseLinks(ep.Links), ...hostLinks].filter((l, i, all) => all.findIndex((o) => o.alias === l.alias) === i)
    : [];
  const exposed = Object.keys(input.ExposedPorts ?? {}).map((k) => (k.includes('/') ? k : `${k}/tcp`));
  return {
    mode: 'networks',
    networks: [
      {
        ref: mode,
        aliases,
        ...(ip ? { ip } : {}),
        ...(ip6 ? { ip6 } : {}),
        ...(linkLocalIps.length ? { linkLocalIps } : {}),
        ...(mac ? { mac } : {}),
        ...(links.length ? { links } : {}),
      },
    ],
    ports,
    ...(!user && hostLinks.length ? { links: hostLinks } : {}),
    ...(exposed.length ? { exposed } : {}),
  };
}

/** The lookup planNetworks needs, over a network manager (dockerd's 404 for an unknown network). */
export function lookupOver(
  get: (ref: string) => { isDefault: boolean; userSubnet: boolean; ipamConfig: IpamPoolConfig[] },
): NetworkLookup {
  return {
    isUserNetwork: (ref) => !get(ref).isDefault,
    hasUserSubnet: (ref, family = 4) => (family === 6 ? hasIpv6Pool(get(ref).ipamConfig) : get(ref).userSubnet),
  };
}

/** Inspect's IPAMConfig of an attachment: the addresses asked for (null: none). */
export function askedIpamConfig(
  a: Pick<NetworkAttachment, 'ip' | 'ip6' | 'linkLocalIps'>,
): { IPv4Address?: string; IPv6Address?: string; LinkLocalIPs?: string[] } | null {
  if (!a.ip && !a.ip6 && !a.linkLocalIps?.length) return null;
  return {
    ...(a.ip ? { IPv4Address: a.ip } : {}),
    ...(a.ip6 ? { IPv6Address: a.ip6 } : {}),
    ...(a.linkLocalIps?.length ? { LinkLocalIPs: [...a.linkLocalIps] } : {}),
  };
}

/** `NetworkSettings.Ports`: bindings by "port/proto", exposed-only ports as null. */
export function portsJson(
  bindings: PortBinding[],
  exposed: Record<string, unknown> | undefined,
): Record<string, Array<{ HostIp: string; HostPort: string }> | null> {
  const out: Record<string, Array<{ HostIp: string; HostPort: string }> | null> = {};
  for (const k of Object.keys(exposed ?? {})) out[k.includes('/') ? k : `${k}/tcp`] = null;
  for (const b of bindings) {
    const k = `${b.containerPort}/${b.proto}`;
    out[k] ??= [];
    out[k]!.push({ HostIp: b.hostIp, HostPort: String(b.hostPort) });
  }
  return out;
}

/** The `Ports` list of GET /containers/json (what `docker ps` formats). */
export function psPorts(
  bindings: PortBinding[],
  exposed: Record<string, unknown> | undefined,
): Array<{ IP?: string; PrivatePort: number; PublicPort?: number; Type: string }> {
  const out: Array<{ IP?: string; PrivatePort: number; PublicPort?: number; Type: string }> = bindings.map((b) => ({
    IP: b.hostIp,
    PrivatePort: b.containerPort,
    PublicPort: b.hostPort,
    Type: b.proto,
  }));
  for (const k of Object.keys(exposed ?? {})) {
    const [p, proto = 'tcp'] = k.split('/');
    if (!bindings.some((b) => String(b.containerPort) === p && b.proto === proto))
      out.push({ PrivatePort: Number(p), Type: proto });
  }
  return out;
}

/** One entry of `NetworkSettings.Networks` (API v1.41 fields); on user networks dockerd adds the short id to the aliases. */
export function endpointJson(ep: EndpointConfig, withAliases: boolean): Record<string, unknown> {
  return {
    IPAMConfig: null,
    Links: ep.links?.length ? endpointLinks(ep.links) : null,
    Aliases: withAliases ? [...ep.aliases, ep.containerId.slice(0, 12)] : null,
    NetworkID: ep.networkId,
    EndpointID: ep.id,
    Gateway: ep.gateway,
    IPAddress: ep.ip,
    IPPrefixLen: ep.prefixLen,
    IPv6Gateway: ep.gateway6 ?? '',
    GlobalIPv6Address: ep.ip6 ?? '',
    GlobalIPv6PrefixLen: ep.prefixLen6 ?? 0,
    MacAddress: ep.mac,
    DriverOpts: null,
  };
}

/**
 * Inspect's `Networks` of a container that is on no network now (created or stopped): the
 * networks it will join, as dockerd lists them from its config (aliases as asked, every
 * address and id empty). Compose reads this to decide whether to connect a created container.
 */
export function plannedNetworksJson(plan: ContainerNetworkPlan | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!plan || plan.mode !== 'networks') return out;
  for (const n of plan.networks) {
    out[n.ref] = {
      IPAMConfig: askedIpamConfig(n),
      Links: n.links?.length ? endpointLinks(n.links) : null,
      Aliases: n.aliases.length ? [...n.aliases] : null,
      NetworkID: '',
      EndpointID: '',
      Gateway: '',
      IPAddress: '',
      IPPrefixLen: 0,
      IPv6Gateway: '',
      GlobalIPv6Address: '',
      GlobalIPv6PrefixLen: 0,
      MacAddress: '',
      DriverOpts: null,
    };
  }
  return out;
}

/**
 * Inspect's `NetworkSettings` in dockerd's shape: the top-level address fields are those of the
 * default bridge network (empty when the container is not on it), `Networks` keyed by name.
 */
export function networkSettingsJson(
  eps: Array<EndpointConfig & { networkName: string; isDefault: boolean }>,
  bindings: PortBinding[],
  exposed: Record<string, unknown> | undefined,
): Record<string, unknown> {
  const def = eps.find((e) => e.isDefault);
  const networks: Record<string, unknown> = {};
  for (const e of eps) networks[e.networkName] = endpointJson(e, !e.isDefault);
  return {
    Bridge: '',
    SandboxID: '',
    HairpinMode: false,
    LinkLocalIPv6Address: '',
    LinkLocalIPv6PrefixLen: 0,
    Ports: portsJson(bindings, exposed),
    SandboxKey: '',
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: def?.id ?? '',
    Gateway: def?.gateway ?? '',
    GlobalIPv6Address: def?.ip6 ?? '',
    GlobalIPv6PrefixLen: def?.prefixLen6 ?? 0,
    IPAddress: def?.ip ?? '',
    IPPrefixLen: def?.prefixLen ?? 0,
    IPv6Gateway: def?.gateway6 ?? '',
    MacAddress: def?.mac ?? '',
    Networks: networks,
  };
}
