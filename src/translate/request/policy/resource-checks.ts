/**
 * dockerd's checks of a container's resources, with its messages and in its order, on the
 * neutral request's amounts (./resource-amounts.ts): the one place for them. Every create
 * runs them (../request-check.ts), and the Docker front runs them on a create's or an
 * update's HostConfig before anything else of its body (its `validateResources`), as dockerd
 * does. Fields left out are not checked.
 */
import { InvalidArgumentError } from '../../../errors';
import { checkCpusets } from '../../cpusets';
import type { ResourceAmounts } from './resource-amounts';

/** Smallest memory limit dockerd accepts. */
const MIN_MEMORY = 6 * 1024 * 1024;

/** The resources checked: the amounts, and the swap, OOM score, /dev/shm size a request may set. */
export interface CheckedResources extends ResourceAmounts {
  /** Memory plus swap in bytes (Docker's MemorySwap; -1: unlimited). */
  memorySwap?: number;
  /** The OOM score adjustment. */
  oomScoreAdj?: number;
  /** Size of /dev/shm in bytes. */
  shmBytes?: number;
}

/** Check `r` (see the module comment), `hostCpus` bounding the CPUs; throws InvalidArgumentError. */
export function checkResources(r: CheckedResources, hostCpus: number): void {
  const memory = r.memoryBytes ?? 0;
  const swap = r.memorySwap ?? 0;
  if (memory !== 0 && memory < MIN_MEMORY) throw new InvalidArgumentError('Minimum memory limit allowed is 6MB');
  if (swap > 0 && memory === 0)
    throw new InvalidArgumentError('You should always set the Memory limit when using Memoryswap limit, see usage');
  if (memory > 0 && swap > 0 && swap < memory)
    throw new InvalidArgumentError('Minimum memoryswap limit should be larger than memory limit, see usage');
  const reservation = r.memoryReservation ?? 0;
  if (memory > 0 && reservation > 0 && memory < reservation)
    throw new InvalidArgumentError('Minimum memory limit can not be less than memory reservation limit, see usage');
  const nano = r.nanoCpus ?? 0;
  if (nano !== 0 && (nano < 1e7 || nano > hostCpus * 1e9))
    throw new InvalidArgumentError(
      `Range of CPUs is from 0.01 to ${hostCpus}.00, as there are only ${hostCpus} CPUs available`,
    );
  if (nano > 0 && (r.cpuQuota ?? 0) > 0)
    throw new InvalidArgumentError('Conflicting options: Nano CPUs and CPU Quota cannot both be set');
  if (nano > 0 && (r.cpuPeriod ?? 0) > 0)
    throw new InvalidArgumentError('Conflicting options: Nano CPUs and CPU Period cannot both be set');
  const period = r.cpuPeriod ?? 0;
  if (period !== 0 && (period < 1000 || period > 1000000))
    throw new InvalidArgumentError(
      'CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)',
    );
  const quota = r.cpuQuota ?? 0;
  if (quota > 0 && quota < 1000) throw new InvalidArgumentError('CPU cfs quota can not be less than 1ms (i.e. 1000)');
  checkCpusets(r.cpuset ?? '', r.cpusetMems ?? '', hostCpus);
  const adj = r.oomScoreAdj ?? 0;
  if (adj < -1000 || adj > 1000)
    throw new InvalidArgumentError(`Invalid value ${adj}, range for oom score adj is [-1000, 1000]`);
  if ((r.shmBytes ?? 0) < 0) throw new InvalidArgumentError('SHM size can not be less than 0');
  if ((r.cpuCount ?? 0) < 0) throw new InvalidArgumentError('invalid CPU count: must not be negative');
}
