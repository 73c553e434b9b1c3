/**
 * A Docker HostConfig's resource fields -> the neutral policy's amounts
 * (src/translate/request/policy: the VM's size in vm-size.ts, the limits of the container's
 * cgroup in its VM in cgroup-limits.ts), field for field: Memory, NanoCpus, CpuQuota,
 * CpuPeriod, CpuCount, CpuShares, MemoryReservation, CpusetCpus, CpusetMems, PidsLimit.
 * `docker update` sizes and limits a running pod through these; and the rates of the
 * container's own disk from HostConfig.Blkio*.
 */
import type { DiskThrottle, PodVmSize } from '../../../pod/types';
import type { DockerHostConfig } from './docker-types';
import { cgroupLimitsOf, type ContainerLimits } from '../../../translate/request/policy/cgroup-limits';
import type { ResourceAmounts } from '../../../translate/request/policy/resource-amounts';
import { vmSizeOf } from '../../../translate/request/policy/vm-size';

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
