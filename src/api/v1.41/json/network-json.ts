/**
 * A container's networking as dockerd's inspect and ps show it (NetworkSettings, Networks,
 * Ports), from the endpoints the network manager made and the plan a created container keeps.
 */
import type { EndpointConfig } from '../../../net/manager';
import type { ContainerNetworkPlan, NetworkAttachment } from '../../../net/container-config';
import type { PortBinding } from '../../../net/types';
import { endpointLinks } from '../../../translate/network/links';

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
    out[n.ref] = unjoinedEndpointJson({
      IPAMConfig: askedIpamConfig(n),
      Links: n.links?.length ? endpointLinks(n.links) : null,
      Aliases: n.aliases.length ? [...n.aliases] : null,
    });
  }
  return out;
}

/**
 * `Networks` of a container of `--network none` (HostConfig.NetworkMode "none"): dockerd lists
 * the `none` network, with no address; a container with Config.NetworkDisabled has none.
 * podvisor has no record of a `none` network, so its ids are empty.
 */
export function noneNetworksJson(): Record<string, unknown> {
  return { none: unjoinedEndpointJson({ IPAMConfig: null, Links: null, Aliases: null }) };
}

/** An endpoint of inspect with no address or ids (one not joined): `first` then the empty rest. */
function unjoinedEndpointJson(first: Record<string, unknown>): Record<string, unknown> {
  return {
    ...first,
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
