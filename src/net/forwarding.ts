/**
 * The host's IPv4 forwarding. A network's traffic beyond its bridge (out through NAT, and in to
 * published ports from other hosts) is routed by the host, so it needs forwarding on; a fresh
 * Debian host has it off. dockerd turns it on at start, host-wide, and never off again; when it
 * is the one that turned it on, it also sets the FORWARD policy to DROP, so that the host does
 * not start routing between its other interfaces. podvisor does the same, at the moment its
 * firewall rules are first written: its own chains accept the traffic of its networks (see
 * ./firewall.ts), whatever the policy. Forwarding is shared by every daemon on the host, so it
 * is only ever turned on, never off (another daemon's networks may need it).
 */
import * as fs from 'node:fs';
import { logger } from '../util/log';
import { run } from './run';

const log = logger('net');

/** Where the kernel keeps the switch (of the daemon's network namespace). */
export const IPV4_FORWARD = '/proc/sys/net/ipv4/ip_forward';

/**
 * Turn IPv4 forwarding on when it is off, and then set the FORWARD policy to DROP (as dockerd
 * does). Returns whether it turned forwarding on; rejects with what could not be done.
 */
export async function ensureIpv4Forwarding(): Promise<boolean> {
  if (fs.readFileSync(IPV4_FORWARD, 'utf8').trim() === '1') return false;
  try {
    fs.writeFileSync(IPV4_FORWARD, '1\n');
  } catch (err) {
    throw new Error(
      `IPv4 forwarding is off and could not be turned on (${(err as Error).message}): containers reach only their own networks`,
    );
  }
  try {
    await run('iptables', ['-w', '-P', 'FORWARD', 'DROP']);
  } catch (err) {
    throw new Error(
      `turned IPv4 forwarding on, but could not set the FORWARD policy to DROP: ${(err as Error).message}`,
    );
  }
  log.info('IPv4 forwarding was off: turned it on, and the FORWARD policy to DROP (as dockerd does)');
  return true;
}
