/**
 * Linux capabilities by name, as the container runtimes name them (`CAP_CHOWN`), with the rules
 * the front ends share: the default set dockerd and containerd give a container, "all" (the
 * capabilities dockerd 20.10 knows: up to CAP_AUDIT_READ, 37; dockerd refuses newer names as
 * unknown, and a privileged container gets these), and a set as the bit mask the guest agent
 * takes (bit n = capability n).
 */

/** Every capability dockerd 20.10 knows, in kernel order (index = capability number). */
export const ALL_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
];

/** The set dockerd (oci/caps DefaultCapabilities) and containerd give a container that asks for nothing else. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** A capability name in the runtimes' form: upper case, with the `CAP_` prefix. */
export function capabilityName(name: string): string {
  const up = name.toUpperCase();
  return up.startsWith('CAP_') ? up : `CAP_${up}`;
}

/** Whether `name` (in capabilityName's form) is one of ALL_CAPABILITIES. */
export function isCapability(name: string): boolean {
  return ALL_CAPABILITIES.includes(name);
}

/** The bit mask of a set of names (unknown names are left out); below 2^38, so exact as a number. */
export function capabilityMask(names: readonly string[]): number {
  const bits = new Set(names.map((n) => ALL_CAPABILITIES.indexOf(n)).filter((i) => i >= 0));
  let mask = 0;
  for (const i of bits) mask += 2 ** i;
  return mask;
}
