/**
 * Whether new cgroup limits fit a running container's VM (docker update of a running
 * container). The VM keeps its size while it runs, so a limit can be applied live up to what
 * the VM has: its memory less the guest's own share, and its vCPUs (a cpuset names them by
 * number).
 */
import { PodUpdateRefusedError } from '../errors';
import type { ResourceLimits } from '../../vm/types';
import type { PodVmSize } from '../types';
import { cpusetMax } from '../../util/cpuset';

/** MiB of a VM the guest kernel and agent keep (the VM was sized limit + this). */
export const GUEST_RESERVED_MIB = 64;

const MIB = 1024 * 1024;

/** Throws a 409 saying what does not fit, when `limits` ask more than `running` has. */
export function checkFitsVm(
  id: string,
  running: PodVmSize,
  wanted: PodVmSize,
  limits: ResourceLimits | undefined,
): void {
  const memRoom = Math.max(0, running.memoryMiB - GUEST_RESERVED_MIB) * MIB;
  const mem = limits?.memoryMax ?? 0;
  if (mem > memRoom || (mem === 0 && wanted.memoryMiB > running.memoryMiB)) {
    const asked = mem > 0 ? `a memory limit of ${Math.ceil(mem / MIB)} MiB` : 'no memory limit';
    throw new PodUpdateRefusedError(
      id,
      `${asked} does not fit its running VM (${running.memoryMiB} MiB, at most ${memRoom / MIB} MiB for the container); stop the container to resize its VM`,
    );
  }
  const quota = limits?.cpuQuota ?? 0;
  const cpus = quota > 0 ? quota / (limits?.cpuPeriod || 100000) : wanted.cpus;
  if (cpus > running.cpus) {
    throw new PodUpdateRefusedError(
      id,
      `${cpus} CPUs do not fit its running VM (${running.cpus} vCPUs); stop the container to resize its VM`,
    );
  }
  const top = cpusetMax(limits?.cpusetCpus ?? '');
  if (top >= running.cpus) {
    throw new PodUpdateRefusedError(
      id,
      `CPU ${top} is not in its running VM (${running.cpus} vCPUs, 0-${running.cpus - 1}); stop the container to resize its VM`,
    );
  }
}
