/**
 * dockerd's checks of a container's cpusets, shared by the Docker create and the neutral
 * request: a list it parses, of CPUs the host has (a VM has at most the host's CPUs, numbered
 * as its vCPUs) and of memory nodes a VM has (one, node 0).
 */
import { InvalidArgumentError } from '../errors';
import { parseCpusetList } from '../util/cpuset';

/** Check `cpus` and `mems` ('' for none) against a host of `hostCpus` CPUs, with dockerd's words. */
export function checkCpusets(cpus: string, mems: string, hostCpus: number): void {
  const cpuList = parseCpusetList(cpus);
  if (!cpuList) throw new InvalidArgumentError(`Invalid value ${cpus} for cpuset cpus: invalid format: ${cpus}`);
  if (cpuList.some((n) => n >= hostCpus)) {
    const available = hostCpus > 1 ? `0-${hostCpus - 1}` : '0';
    throw new InvalidArgumentError(`Requested CPUs are not available - requested ${cpus}, available: ${available}`);
  }
  const memList = parseCpusetList(mems);
  if (!memList) throw new InvalidArgumentError(`Invalid value ${mems} for cpuset mems: invalid format: ${mems}`);
  if (memList.some((n) => n > 0))
    throw new InvalidArgumentError(`Requested memory nodes are not available - requested ${mems}, available: 0`);
}
