/**
 * The device cgroup of a container in its VM, computed in this one place from its settings
 * (PodContainerSpec.security): the rules of the eBPF device program the agent attaches to its
 * cgroup (guest/agent/devcg.c), and the device nodes it makes in its /dev. As runc's: mknod of
 * any node, and read, write and mknod of the few harmless devices every container has; a node
 * given with `--device` and the rules of `--device-cgroup-rule` after them. A privileged
 * container gets no program (every device of its VM), as under runc.
 */
import type { GuestDeviceNode, GuestDeviceRule } from '../../vm/types';
import type { ContainerSecurity } from '../types';

/**
 * runc's default allow-list (libcontainer/specconv's AllowedDevices), without /dev/net/tun and
 * without c 5:1. Under runc, /dev/console is the container's own terminal (its pty, c 136:N,
 * bound there with -t; absent without) and 5:1 names the host's console, which a container's
 * mount namespace never shows; in a VM, 5:1 is the VM's console, where the agent and the guest
 * kernel write: a default container that made the node could write lines there. A container's
 * /dev has no /dev/console (docs/limitations.md), and a node made by hand does not open.
 */
export const DEFAULT_DEVICE_RULES: readonly GuestDeviceRule[] = [
  { type: 'c', access: 'm' },
  { type: 'b', access: 'm' },
  { type: 'c', major: 1, minor: 3, access: 'rwm' }, // null
  { type: 'c', major: 1, minor: 5, access: 'rwm' }, // zero
  { type: 'c', major: 1, minor: 7, access: 'rwm' }, // full
  { type: 'c', major: 1, minor: 8, access: 'rwm' }, // random
  { type: 'c', major: 1, minor: 9, access: 'rwm' }, // urandom
  { type: 'c', major: 5, minor: 0, access: 'rwm' }, // tty
  { type: 'c', major: 5, minor: 2, access: 'rwm' }, // ptmx
  { type: 'c', major: 136, access: 'rwm' }, // pts/*
];

/**
 * The rules of the container's device program, in order: runc's defaults, each `--device`
 * node with its permissions, then `--device-cgroup-rule`. Undefined for a privileged
 * container, and for one recorded before security settings existed: no program.
 */
export function deviceRules(sec: ContainerSecurity | undefined): GuestDeviceRule[] | undefined {
  if (!sec || sec.privileged) return undefined;
  return [
    ...DEFAULT_DEVICE_RULES.map((r) => ({ ...r })),
    ...(sec.devices ?? []).map((d) => ({ type: d.type, major: d.major, minor: d.minor, access: d.access })),
    ...(sec.deviceCgroupRules ?? []).map((r) => ({ ...r })),
  ];
}

/** The device nodes the agent makes in the container's /dev (`--device`). */
export function deviceNodes(sec: ContainerSecurity | undefined): GuestDeviceNode[] {
  return (sec?.devices ?? []).map((d) => ({
    path: d.path,
    type: d.type,
    major: d.major,
    minor: d.minor,
    mode: d.mode,
  }));
}
