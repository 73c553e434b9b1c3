/**
 * A container's resources -> the size of its pod's VM. A container's limits become the
 * hardware of its VM, and the container's cgroup in the guest holds it to the exact numbers
 * (./cgroup-limits.ts):
 *  - memory: the limit in bytes rounded up to whole MiB, plus GUEST_OVERHEAD_MIB for the guest
 *    kernel and agent, and never below MIN_VM_MEMORY_MIB (a smaller guest does not boot).
 *    0 (unlimited) gives the daemon's default (--vm-memory).
 *  - vCPUs: ceil(nanoCpus / 1e9); else ceil(cpuQuota / cpuPeriod) when both are set; else
 *    cpuCount; else the default (--vm-cpus); and at least as many as the cpuset names (CPU n
 *    needs n + 1 vCPUs: the list names the VM's vCPUs by number, checked against the host's
 *    CPUs as dockerd checks it). Never more than the host's CPUs.
 * CPU shares are a relative weight between containers: they do not size a VM. A pod of several
 * containers (../pod-request.ts) gets one VM for them all (podVmSizeOf).
 * A VM of the default size comes from the warm pool; any other size is booted on demand.
 */
import type { PodVmSize } from '../../../pod/types';
import { cpusetMax } from '../../../util/cpuset';
import type { ResourceAmounts } from './resource-amounts';

/**
 * The VM size a pod asks for, as the pod layer takes it (PodSpec.vm: guest MiB and vCPUs).
 * Front ends name it through this type, never through the VM layer's own types.
 */
export type { PodVmSize } from '../../../pod/types';

/** MiB added to a memory limit for the guest kernel, initramfs and agent. */
export const GUEST_OVERHEAD_MIB = 64;
/** Smallest guest that boots reliably. */
export const MIN_VM_MEMORY_MIB = 128;

const MIB = 1024 * 1024;

/** The VM size for a container's resources (see the module comment). */
export function vmSizeOf(r: ResourceAmounts, defaults: PodVmSize, hostCpus: number): PodVmSize {
  const memory = r.memoryBytes ?? 0;
  const nano = r.nanoCpus ?? 0;
  const quota = r.cpuQuota ?? 0;
  const period = r.cpuPeriod ?? 0;
  let memoryMiB = defaults.memoryMiB;
  if (memory > 0) memoryMiB = Math.max(MIN_VM_MEMORY_MIB, Math.ceil(memory / MIB) + GUEST_OVERHEAD_MIB);
  let cpus = defaults.cpus;
  if (nano > 0) cpus = Math.ceil(nano / 1e9);
  else if (quota > 0 && period > 0) cpus = Math.ceil(quota / period);
  else if ((r.cpuCount ?? 0) > 0) cpus = r.cpuCount!;
  cpus = Math.max(cpus, cpusetMax(r.cpuset ?? '') + 1);
  cpus = Math.max(1, Math.min(cpus, Math.max(1, hostCpus)));
  return { memoryMiB, cpus };
}

/** A container of a pod, as its pod's VM is sized for it: its limits, and what it asks where it sets none. */
export interface PodMemberAmounts {
  limits?: Pick<ResourceAmounts, 'memoryBytes' | 'nanoCpus'>;
  requests?: { memoryBytes?: number; nanoCpus?: number };
}

/**
 * The VM of a pod of several containers: the size the pod asks for itself where it gives one
 * (each field alone; memory never below MIN_VM_MEMORY_MIB); else, when any container has
 * limits or requests, the sum of the app containers' (or the largest init container's, if
 * larger: an init container runs alone), each counted by its limit where it has one and else
 * by its request, memory with the guest's overhead and never below MIN_VM_MEMORY_MIB; else the
 * daemon's default. A container with neither a memory limit nor a memory request may use the
 * default's worth: the VM keeps at least that. Never more vCPUs than the host has.
 */
export function podVmSizeOf(
  apps: PodMemberAmounts[],
  inits: PodMemberAmounts[],
  asked: { cpus?: number; memoryMiB?: number } | undefined,
  defaults: PodVmSize,
  hostCpus: number,
): PodVmSize {
  const mem = (c: PodMemberAmounts) => c.limits?.memoryBytes || c.requests?.memoryBytes || 0;
  const nano = (c: PodMemberAmounts) => c.limits?.nanoCpus || c.requests?.nanoCpus || 0;
  const sum = (cs: PodMemberAmounts[], f: (c: PodMemberAmounts) => number) => cs.reduce((n, c) => n + f(c), 0);
  const memBytes = Math.max(sum(apps, mem), ...inits.map(mem), 0);
  const nanoCpus = Math.max(sum(apps, nano), ...inits.map(nano), 0);
  let memoryMiB =
    memBytes > 0 ? Math.max(MIN_VM_MEMORY_MIB, Math.ceil(memBytes / MIB) + GUEST_OVERHEAD_MIB) : defaults.memoryMiB;
  if (apps.some((c) => !mem(c))) memoryMiB = Math.max(memoryMiB, defaults.memoryMiB);
  let cpus = nanoCpus > 0 ? Math.ceil(nanoCpus / 1e9) : defaults.cpus;
  if (asked?.memoryMiB) memoryMiB = Math.max(MIN_VM_MEMORY_MIB, asked.memoryMiB);
  if (asked?.cpus) cpus = asked.cpus;
  return { memoryMiB, cpus: Math.max(1, Math.min(cpus, Math.max(1, hostCpus))) };
}
