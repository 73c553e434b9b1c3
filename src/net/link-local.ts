/**
 * `--link-local-ip` (an endpoint's IPAMConfig.LinkLocalIPs): more addresses of the container's
 * interface on that network, outside the network's IPAM, as dockerd's bridge driver adds them
 * (each with the /16 of 169.254.0.0/16). The guest agent sets them as secondary addresses of
 * the interface. Only IPv4 ones: IPv6 link-local addresses are not supported (501).
 */
import * as net from 'node:net';
import { InvalidArgumentError, NotImplementedError } from '../errors';

/** The prefix length each link-local address gets (dockerd's 169.254.0.0/16). */
export const LINK_LOCAL_PREFIX = 16;

/** At most this many (the agent's PV_MAX_SECONDARY). */
export const MAX_LINK_LOCAL_IPS = 8;

/**
 * Check a request's link-local addresses with dockerd's words: all must parse ("Invalid
 * link-local IP address: [a b]"), each IPv4 one must be in 169.254.0.0/16 ("invalid link local
 * IP address: X"). IPv6 ones are refused (501). Returns them as given.
 */
export function checkLinkLocalIps(ips: readonly string[]): string[] {
  if (ips.some((ip) => net.isIP(ip) === 0))
    throw new InvalidArgumentError(`Invalid link-local IP address: [${ips.join(' ')}]`);
  for (const ip of ips) {
    if (net.isIPv6(ip)) throw new NotImplementedError(`IPv6 link-local IPs (--link-local-ip) are not supported: ${ip}`);
    if (!ip.startsWith('169.254.')) throw new InvalidArgumentError(`invalid link local IP address: ${ip}`);
  }
  if (ips.length > MAX_LINK_LOCAL_IPS)
    throw new InvalidArgumentError(`at most ${MAX_LINK_LOCAL_IPS} link-local IP addresses per network`);
  return [...ips];
}
