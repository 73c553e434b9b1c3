/**
 * A container's networking as the pod layer follows it at create and start: the plan (which
 * networks, aliases, static addresses, published ports, name-service settings, links), typed
 * and neutral, and the checks of a static address against the networks. A front end builds
 * the plan from its own request (the Docker API's HostConfig and NetworkingConfig:
 * src/translate/network/network-plan.ts) and shows the endpoints in its own shape
 * (src/api/v1.41/json/network-json.ts).
 */
import { InvalidArgumentError } from '../errors';
import type { PortRequest } from './types';
import type { EtcOptions } from './etc-config';
import type { LegacyLink } from './legacy-links';
import { checkIpv6Address, hasIpv6Pool, type IpamPoolConfig } from './ip-family';
import { userRangesOf } from './endpoint-settings';

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
  /** Write /etc/resolv.conf with dockerd 26's comments and order (./resolv-comments.ts); absent: as dockerd 20.10. */
  resolvComments?: true;
}

/** What planning needs to know of the networks a container names. */
export interface NetworkLookup {
  /** Whether a name is a user network (throws NotFound for an unknown one). */
  isUserNetwork(ref: string): boolean;
  /** Whether it was made with a subnet of that family (--subnet; 4 when not said). */
  hasUserSubnet(ref: string, family?: 4 | 6): boolean;
  /** The subnets or ip-ranges its user configured, per family (./endpoint-settings.ts). */
  userRanges?(ref: string): { 4: string[]; 6: string[] };
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

/** The lookup planNetworks needs, over a network manager (dockerd's 404 for an unknown network). */
export function lookupOver(
  get: (ref: string) => { isDefault: boolean; userSubnet: boolean; ipamConfig: IpamPoolConfig[] },
): NetworkLookup {
  return {
    isUserNetwork: (ref) => !get(ref).isDefault,
    hasUserSubnet: (ref, family = 4) => (family === 6 ? hasIpv6Pool(get(ref).ipamConfig) : get(ref).userSubnet),
    userRanges: (ref) => userRangesOf(get(ref).ipamConfig, get(ref).userSubnet),
  };
}
