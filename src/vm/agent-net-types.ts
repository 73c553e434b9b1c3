/**
 * The guest agent's view of the VM's network (part of its contract, ./agent-types.ts, which
 * re-exports these): interface settings, routes and the interfaces it reports.
 */

/**
 * Settings of one network interface of the VM (the pod's network namespace: every container of
 * a VM shares it). Absent fields leave that setting as it is.
 */
export interface InterfaceConfig {
  /** Guest interface name (eth0 for the VM's first NIC; NicDevice.guestName). */
  name: string;
  /** Expected hardware address (aa:bb:cc:dd:ee:ff): the agent refuses an interface with another. */
  mac?: string;
  /** Hardware address to give the interface (unicast), after the check of `mac` (--mac-address). */
  setMac?: string;
  /** IPv4 address with its prefix length (both or neither); it replaces every IPv4 address the interface had. */
  address?: string;
  prefix?: number;
  /** More IPv4 addresses (docker's --link-local-ip), only with a non-zero `address`; at most 8. */
  secondary?: Array<{ address: string; prefix: number }>;
  /**
   * Global IPv6 address with its prefix length (1..128; both or neither); it replaces every
   * global IPv6 address the interface had, and `::` with prefix 0 removes them. Usable at once
   * (no duplicate address detection). An interface brought down loses its IPv6 addresses.
   */
  address6?: string;
  prefix6?: number;
  /** 68..65535. */
  mtu?: number;
  /** Bring the link up (true) or down (false). */
  up?: boolean;
}

/**
 * A route in the VM, IPv4 or IPv6 by the family of `destination` (the gateway's must match);
 * destination 0.0.0.0 (or ::) with prefix 0 is the default route.
 */
export interface RouteSpec {
  destination: string;
  prefix: number;
  /** Next hop; a route without one is on-link through `device`. */
  gateway?: string;
  /** Guest interface name. */
  device?: string;
}

/** One network interface of the VM as the agent reports it. */
export interface InterfaceInfo {
  name: string;
  /** Lower-case aa:bb:cc:dd:ee:ff (all zeros for lo). */
  mac: string;
  mtu: number;
  up: boolean;
  /** IPv4 address and prefix length, when it has one. */
  address?: string;
  prefix?: number;
  /** Its secondary IPv4 addresses, when it has any. */
  secondary?: Array<{ address: string; prefix: number }>;
  /** Its first global IPv6 address and prefix length, when it has one. */
  address6?: string;
  prefix6?: number;
}
