/**
 * Which containers can change their VM for the pods after them, so that the VM must not be
 * kept for another pod (`stop --keep-vm`, `replace`, a held VM given back after a failed
 * start: ./vm-reuse.ts).
 *
 * Cleaning a VM for reuse (src/vm/clean.ts) removes what a pod leaves in its own namespaces:
 * containers, processes, mounts, interfaces' addresses, emptyDirs. It cannot undo what root in
 * a container did to the guest itself: the guest kernel's settings (/proc/sys: a core_pattern
 * or modprobe helper runs as guest root in the next pod's time), its loaded modules, clock,
 * netfilter and BPF state, or the guest's own files reached around the container's mount
 * namespace. Assume root in every guest: whatever a container could do there, it did. A
 * container can do that when it is privileged, when its /proc/sys (or another kernel tunable
 * under /proc) is writable, when one of GUEST_ALTERING_CAPABILITIES is in its set, when it
 * sets sysctls (the VM's kernel is the pod's: dockerd's per-container values would outlive
 * the pod), or when one of its execs ran privileged (`docker exec --privileged`: every
 * capability). Such a VM is destroyed when its pod ends, never kept.
 */
import type { PodContainerSpec, PodSpec } from '../types';

/**
 * Capabilities whose holder acts on the guest beyond its container's namespaces: mounts,
 * cgroup release agents and most of the kernel (SYS_ADMIN), modules, raw I/O, the clock,
 * open_by_handle_at around the mount namespace (DAC_READ_SEARCH), the VM's netfilter and
 * routing (NET_ADMIN: a pod's network is its VM's), BPF programs, audit rules, LSM policy,
 * process accounting.
 */
export const GUEST_ALTERING_CAPABILITIES: readonly string[] = [
  'CAP_SYS_ADMIN',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_TIME',
  'CAP_DAC_READ_SEARCH',
  'CAP_NET_ADMIN',
  'CAP_BPF',
  'CAP_AUDIT_CONTROL',
  'CAP_MAC_ADMIN',
  'CAP_MAC_OVERRIDE',
  'CAP_SYS_PACCT',
];

/**
 * The sysctls every Docker container with a network namespace of its own gets, as dockerd
 * 20.10 sets them (src/translate/request/request-pod.ts, securityOf). They do not count as a
 * change of the VM: each pod after it is given the same values.
 */
export const DEFAULT_NETWORK_SYSCTLS: Readonly<Record<string, string>> = {
  'net.ipv4.ip_unprivileged_port_start': '0',
  'net.ipv4.ping_group_range': '0 2147483647',
};

/**
 * Whether sysctl `name` = `value` outlives its container in the VM: kernel.domainname is the
 * container's own UTS namespace, and the defaults above are every pod's; every other one is
 * written in the VM's network or IPC namespace, which the next pod would inherit.
 */
function outlivesContainer(name: string, value: string): boolean {
  if (name === 'kernel.domainname') return false;
  return DEFAULT_NETWORK_SYSCTLS[name] !== value;
}

/** The kernel's tunables under /proc: each must be read-only (or hidden) in the container. */
const KERNEL_TUNABLES = ['/proc/sys', '/proc/sysrq-trigger', '/proc/irq', '/proc/bus', '/proc/fs'];

/** Whether `p` is `list`'s or below one of its paths. */
function covered(p: string, list: readonly string[]): boolean {
  return list.some((l) => p === l || p.startsWith(`${l.replace(/\/+$/, '')}/`));
}

/**
 * Why container `c` can change its VM for the pods after it (see the module comment), in
 * words for the user; undefined when it cannot.
 */
export function guestAlteringReason(c: PodContainerSpec): string | undefined {
  const sec = c.security;
  const who = c.name ? `container ${c.name}` : 'its container';
  // Recorded before security settings existed: every capability, nothing read-only.
  if (!sec) return `${who} has every capability`;
  if (sec.privileged) return `${who} is privileged`;
  const cap = GUEST_ALTERING_CAPABILITIES.find((k) => sec.capabilities.includes(k));
  if (cap) return `${who} has ${cap}`;
  const open = KERNEL_TUNABLES.find((p) => !covered(p, sec.readonlyPaths) && !covered(p, sec.maskedPaths));
  if (open) return `${who} can write ${open}`;
  const sysctls = Object.entries(sec.sysctls)
    .filter(([k, v]) => outlivesContainer(k, v))
    .map(([k]) => k);
  if (sysctls.length > 0) return `${who} sets sysctls (${sysctls.join(', ')})`;
  return undefined;
}

/** The first reason any container of the pod gives (guestAlteringReason); undefined when none does. */
export function podGuestAlteringReason(spec: PodSpec): string | undefined {
  for (const c of spec.containers) {
    const why = guestAlteringReason(c);
    if (why) return why;
  }
  return undefined;
}
