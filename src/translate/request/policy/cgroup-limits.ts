/**
 * A container's resources -> the limits of its cgroup inside its VM. The VM is sized with some
 * room (./vm-size.ts GUEST_OVERHEAD_MIB) for the guest kernel and agent, and the cgroup holds
 * the container to exactly what was asked, so stats, the OOM killer and `docker update` see
 * the user's numbers:
 *  - memory -> memory.max; the memory reservation -> memory.low;
 *  - CPUs (nanoCpus, or a quota and period) -> cpu.max; a period alone is cpu.max's period with
 *    no quota ("max 50000"), as runc writes it;
 *  - CPU shares -> cpu.weight (as runc converts them on cgroup v2), a weight against the other
 *    containers of the same VM (the pod's), since each pod has its own vCPUs;
 *  - the cpuset's CPUs and memory nodes -> cpuset.cpus and cpuset.mems (the VM has one memory
 *    node, 0); the pids limit -> pids.max (0 or less: none).
 */
import type { PodContainerSpec } from '../../../pod/types';
import type { ResourceAmounts } from './resource-amounts';

/** Limits of a container's cgroup in its VM, as the pod layer takes them. */
export type ContainerLimits = NonNullable<PodContainerSpec['limits']>;

/** cgroup v2's default cpu.max period, microseconds. */
export const CPU_PERIOD_US = 100000;

/**
 * cgroup v2's cpu.weight for CPU shares, as runc converts them on a cgroup v2 host:
 * 1 + (shares - 2) * 9999 / 262142, shares clamped to the kernel's 2..262144 (1024 -> 39).
 */
export function cpuWeightOf(shares: number): number {
  const s = Math.min(262144, Math.max(2, shares));
  return 1 + Math.floor(((s - 2) * 9999) / 262142);
}

/** The limits of the container's cgroup inside its VM (see the module comment); undefined: no limit. */
export function cgroupLimitsOf(r: ResourceAmounts): ContainerLimits | undefined {
  const memory = r.memoryBytes ?? 0;
  const nano = r.nanoCpus ?? 0;
  const quota = r.cpuQuota ?? 0;
  const period = r.cpuPeriod ?? 0;
  const l: ContainerLimits = {};
  if (memory > 0) l.memoryMax = memory;
  if ((r.cpuShares ?? 0) > 0) l.cpuWeight = cpuWeightOf(r.cpuShares!);
  if ((r.memoryReservation ?? 0) > 0) l.memoryLow = r.memoryReservation;
  if (nano > 0) {
    l.cpuQuota = Math.max(1000, Math.round((nano * CPU_PERIOD_US) / 1e9));
    l.cpuPeriod = CPU_PERIOD_US;
  } else if (quota > 0) {
    l.cpuPeriod = period > 0 ? period : CPU_PERIOD_US;
    l.cpuQuota = Math.max(1000, quota);
  } else if (period > 0) {
    l.cpuQuota = 0;
    l.cpuPeriod = period;
  }
  if (r.cpuset) l.cpusetCpus = r.cpuset;
  if (r.cpusetMems) l.cpusetMems = r.cpusetMems;
  if ((r.pidsLimit ?? 0) > 0) l.pidsMax = r.pidsLimit!;
  return Object.keys(l).length ? l : undefined;
}
