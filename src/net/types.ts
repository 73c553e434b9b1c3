/**
 * The persisted shape of a network and of a container's endpoint on it. One JSON file per
 * network under <data-root>/networks; the API layer turns these into dockerd's JSON.
 */
import type { IpamState } from './ipam';

/** One port to publish: a host port of 0 means "any free one", a range "the first free in it". */
export interface PortRequest {
  proto: 'tcp' | 'udp';
  containerPort: number;
  hostIp: string;
  hostPortMin: number;
  hostPortMax: number;
  /**
   * The request named no host address (HostIp ""), which dockerd 20.10 binds on every IPv4
   * address ("0.0.0.0", `hostIp` here) and on every IPv6 one ("::") with the same host port:
   * `docker port` lists both. On a host without IPv6 only the IPv4 one is bound.
   */
  alsoIpv6?: boolean;
}

/** A host port published to a container port (one line of `docker port`). */
export interface PortBinding {
  proto: 'tcp' | 'udp';
  containerPort: number;
  /** Host address bound: "0.0.0.0" (all IPv4), "::" (all IPv6) or a specific one such as "127.0.0.1". */
  hostIp: string;
  hostPort: number;
}

/** A container's attachment to a network. */
export interface EndpointRecord {
  /** 64 hex digits, as dockerd's EndpointID. */
  id: string;
  containerId: string;
  /** The container's name without the leading slash. */
  name: string;
  /** --network-alias values (compose's service names). */
  aliases: string[];
  /** IPv4 address without prefix. */
  ip: string;
  /** IPv6 address without prefix, on a network with IPv6 enabled. */
  ip6?: string;
  mac: string;
  /** The host tap carrying this endpoint's traffic, once attached. */
  tap?: string;
  /** Published ports (only the endpoint on the container's first network carries them). */
  ports: PortBinding[];
  /** --link on this user network: aliases that resolve for this container alone. */
  links?: Array<{ name: string; alias: string }>;
  /** --link-local-ip: more IPv4 addresses the guest interface gets (each a /16, as dockerd's). */
  linkLocalIps?: string[];
}

/** A network, as persisted. */
export interface NetworkRecord {
  id: string;
  name: string;
  /** RFC 3339 creation time. */
  created: string;
  driver: 'bridge';
  internal: boolean;
  attachable: boolean;
  labels: Record<string, string>;
  /** Driver options as given (com.docker.network.bridge.name, ...driver.mtu). */
  options: Record<string, string>;
  /** The Linux bridge on the host. */
  bridge: string;
  mtu: number;
  /** The subnet was given (--subnet): only then may a container ask for a static --ip. */
  userSubnet: boolean;
  /** True for the default `bridge` network (no name resolution, cannot be removed). */
  isDefault: boolean;
  ipam: IpamState;
  /** EnableIPv6: containers get an IPv6 address from `ipam6` too. */
  enableIPv6?: boolean;
  /** The IPv6 addresses of a network with IPv6 enabled (./ipam6.ts). */
  ipam6?: IpamState;
  /** IPAM as the user asked it (dockerd reports Config as given). */
  ipamConfig: Array<{
    Subnet?: string;
    Gateway?: string;
    IPRange?: string;
    AuxiliaryAddresses?: Record<string, string>;
  }>;
  /** IPAM driver options as given (inspect echoes them; null when none were sent). */
  ipamOptions?: Record<string, string> | null;
  endpoints: Record<string, EndpointRecord>;
}
