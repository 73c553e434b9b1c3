/**
 * Docker's /etc/hosts of a container without an address of its own: the fixed lines every
 * /etc/hosts starts with (./network.ts adds a networked container's address after them).
 */

/** The lines Docker's /etc/hosts always starts with (loopback and the IPv6 names). */
export const FIXED_HOSTS_LINES: readonly string[] = [
  '127.0.0.1\tlocalhost',
  '::1\tlocalhost ip6-localhost ip6-loopback',
  'fe00::0\tip6-localnet',
  'ff00::0\tip6-mcastprefix',
  'ff02::1\tip6-allnodes',
  'ff02::2\tip6-allrouters',
];

/** Docker's /etc/hosts for a container without a network. */
export function hostsFile(hostname: string): string {
  return [...FIXED_HOSTS_LINES, `127.0.1.1\t${hostname}`, ''].join('\n');
}
