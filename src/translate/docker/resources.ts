/**
 * Docker resource limits -> the size of the pod's VM.
 *
 * A container's limits become the hardware of its VM, and the container's cgroup in the guest
 * holds it to the exact numbers (cgroupLimitsFor, below):
 *  - memory: `HostConfig.Memory` bytes rounded up to whole MiB, plus GUEST_OVERHEAD_MIB for
 *    the guest kernel and agent, and never below MIN_VM_MEMORY_MIB (a smaller guest does not
 *    boot). 0 (unlimited) gives the daemon's default (--vm-memory).
 *  - vCPUs: ceil(NanoCpus / 1e9); else ceil(CpuQuota / CpuPeriod) when both are set; else
 *    CpuCount; else the default (--vm-cpus); and at least as many as CpusetCpus names (CPU n
 *    needs n + 1 vCPUs: the list names the VM's vCPUs by number, checked against the host's
 *    CPUs as dockerd checks it). Never more than the host's CPUs.
 *  - PidsLimit becomes pids.max of the container's cgroup in its VM (0 or less: none).
 *  - CpusetCpus and CpusetMems become cpuset.cpus and cpuset.mems of the container's cgroup
 *    in its VM (which has one memory node, 0).
 *  - CpuShares is a relative weight between containers: it does not size a VM. It becomes the
 *    cpu.weight of the container's cgroup in its VM (as runc converts it on cgroup v2), a
 *    weight against the other containers of that VM (the pod's), since each pod has its own
 *    vCPUs. MemoryReservation becomes memory.low there.
 * A VM of the default size comes from the warm pool; any other size is booted on demand.
 */
import type { PodContainerSpec, PodVmSize } from '../../pod/types';
import type { DockerHostConfig } from './docker-types';
import { cpusetMax } from '../../util/cpuset';
import type { DiskThrottle } from '../../pod/types';

/**
 * The VM size a pod asks for, as the pod layer takes it (PodSpec.vm: guest MiB and vCPUs).
 * Front ends name it through this type, never through the VM layer's own types.
 */
export type { PodVmSize } from '../../pod/types';

/** Limits of a container's cgroup in its VM, as the pod layer takes them. */
export type ContainerLimits = NonNullable<PodContainerSpec['limits']>;

/** MiB added to a memory limit for the guest kernel, initramfs and agent. */
export const GUEST_OVERHEAD_MIB = 64;
/** Smallest guest that boots reliably. */
export const MIN_VM_MEMORY_MIB = 128;

const MIB = 1024 * 1024;

/**
 * A container's resources in no front's words (bytes, microseconds, CPU lists); a field left
 * out, or 0, is no limit. The neutral request's resources are these (../request/request-pod.ts);
 * Docker's HostConfig fields map one to one (vmSizeFor, cgroupLimitsFor: container update).
 */
export interface ResourceAmounts {
  memoryBytes?: number;
  /** CPUs in billionths (Docker's NanoCpus). */
  nanoCpus?: number;
  cpuQuota?: number;
  cpuPeriod?: number;
  cpuCount?: number;
  /** CPU shares, a relative weight (cpu.weight in the VM). */
  cpuShares?: number;
  /** memory.low in bytes. */
  memoryReservation?: number;
  /** CPUs and memory nodes it may use ("0-2,4"). */
  cpuset?: string;
  cpusetMems?: string;
  pidsLimit?: number | null;
}

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

/** A HostConfig's resources as ResourceAmounts. */
export function amountsOf(
  hc: Partial<
    Pick<
      DockerHostConfig,
      | 'Memory'
      | 'NanoCpus'
      | 'CpuQuota'
      | 'CpuPeriod'
      | 'CpuCount'
      | 'CpuShares'
      | 'MemoryReservation'
      | 'CpusetCpus'
      | 'CpusetMems'
      | 'PidsLimit'
    >
  >,
): ResourceAmounts {
  return {
    memoryBytes: hc.Memory,
    nanoCpus: hc.NanoCpus,
    cpuQuota: hc.CpuQuota,
    cpuPeriod: hc.CpuPeriod,
    cpuCount: hc.CpuCount,
    cpuShares: hc.CpuShares,
    memoryReservation: hc.MemoryReservation,
    cpuset: hc.CpusetCpus,
    cpusetMems: hc.CpusetMems,
    pidsLimit: hc.PidsLimit,
  };
}

/** The VM size for a container's HostConfig. */
export function vmSizeFor(
  hc: Pick<DockerHostConfig, 'Memory' | 'NanoCpus' | 'CpuQuota' | 'CpuPeriod' | 'CpuCount'> &
    Partial<Pick<DockerHostConfig, 'CpusetCpus'>>,
  defaults: PodVmSize,
  hostCpus: number,
): PodVmSize {
  return vmSizeOf(amountsOf(hc), defaults, hostCpus);
}

/** cgroup v2's default cpu.max period, microseconds. */
export const CPU_PERIOD_US = 100000;

/**
 * cgroup v2's cpu.weight for Docker's CPU shares, as runc converts them on a cgroup v2 host:
 * 1 + (shares - 2) * 9999 / 262142, shares clamped to the kernel's 2..262144 (1024 -> 39).
 */
export function cpuWeightOf(shares: number): number {
  const s = Math.min(262144, Math.max(2, shares));
  return 1 + Math.floor(((s - 2) * 9999) / 262142);
}

/**
 * The limits of the container's cgroup inside its VM: the VM is sized with some room
 * (GUEST_OVERHEAD_MIB) for the guest kernel and agent, and the cgroup holds the container to
 * exactly what was asked, so stats, the OOM killer and `docker update` see the user's numbers.
 * A CPU period alone is cpu.max's period with no quota ("max 50000"), as runc writes it.
 * undefined: no limit.
 */
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

/** cgroupLimitsOf a container's HostConfig. */
export function cgroupLimitsFor(
  hc: Pick<DockerHostConfig, 'Memory' | 'NanoCpus' | 'CpuQuota' | 'CpuPeriod' | 'CpuShares' | 'MemoryReservation'> &
    Partial<Pick<DockerHostConfig, 'CpusetCpus' | 'CpusetMems' | 'PidsLimit'>>,
): ContainerLimits | undefined {
  return cgroupLimitsOf(amountsOf(hc));
}

/**
 * The rates of the container's own disk (the VM's upper disk, throttled by QEMU) from
 * HostConfig.BlkioDevice{Read,Write}{Bps,IOps} (`[{Path, Rate}]`). The path is not looked up:
 * the container's disk is the only one its VM has, so every entry is about it (the lowest
 * rate of a kind wins). undefined: none asked.
 */
export function diskThrottleFor(
  hc: Partial<
    Pick<
      DockerHostConfig,
      'BlkioDeviceReadBps' | 'BlkioDeviceWriteBps' | 'BlkioDeviceReadIOps' | 'BlkioDeviceWriteIOps'
    >
  >,
): DiskThrottle | undefined {
  const rate = (list: unknown[] | null | undefined): number | undefined => {
    const rates = (list ?? [])
      .map((d) => (d as { Rate?: unknown } | null)?.Rate)
      .filter((r): r is number => typeof r === 'number' && r > 0);
    return rates.length ? Math.min(...rates) : undefined;
  };
  const t: DiskThrottle = {};
  const set = (k: keyof DiskThrottle, v: number | undefined) => {
    if (v !== undefined) t[k] = v;
  };
  set('readBps', rate(hc.BlkioDeviceReadBps));
  set('writeBps', rate(hc.BlkioDeviceWriteBps));
  set('readIops', rate(hc.BlkioDeviceReadIOps));
  set('writeIops', rate(hc.BlkioDeviceWriteIOps));
  return Object.keys(t).length ? t : undefined;
}
