/**
 * Create and update fields that podvisor cannot honour, refused by name (the run-flag
 * audit, test/audit/run-flags.ts): a flag that dockerd + runc honours and podvisor would store and
 * ignore is a defect, so these answer 400 at create (and at update) with the flag's name and
 * why, the way dockerd refuses what it cannot do. Each row names the flag as the docker CLI
 * spells it; a value that means "nothing asked" (0, "", an empty list, the private modes)
 * passes.
 */
import { InvalidArgumentError } from '../../../errors';
import type { DockerHostConfig } from './docker-types';

/** One refusal: the flag, the field it sets, when a value asks for something, and why not. */
interface Refusal {
  flag: string;
  field: keyof DockerHostConfig;
  asks: (v: unknown) => boolean;
  why: string;
}

const OWN_KERNEL = 'every container runs in its own VM, with its own kernel';
const isHost = (v: unknown) => v === 'host';
const nonEmpty = (v: unknown) => Array.isArray(v) && v.length > 0;

const positive = (v: unknown) => typeof v === 'number' && v > 0;
// Reached only where the host's cgroups can weigh block I/O: elsewhere the weights are
// discarded with dockerd's warning first, as dockerd discards them (./blkio-weight.ts).
const BLOCK_IO =
  "podvisor does not weigh a VM's disk I/O in the host's cgroup yet (--device-read-bps and the like are honoured)";
const REALTIME = "a container's VM does not give its cgroup real-time CPU time";
const KERNEL_MEMORY = "kernel memory limits are gone from cgroup v2, which a container's VM has";

/** What podvisor refuses, in the CLI's order (API-only fields after the flag they go with). */
export const REFUSALS: readonly Refusal[] = [
  { flag: '--blkio-weight', field: 'BlkioWeight', asks: positive, why: BLOCK_IO },
  { flag: '--blkio-weight-device', field: 'BlkioWeightDevice', asks: nonEmpty, why: BLOCK_IO },
  {
    flag: '--cgroupns host',
    field: 'CgroupnsMode',
    asks: isHost,
    why: `${OWN_KERNEL}: the host's cgroup namespace is not there to share`,
  },
  {
    flag: 'HostConfig.Cgroup',
    field: 'Cgroup',
    asks: (v) => typeof v === 'string' && v !== '',
    why: "a container's cgroup is in its own VM, where no other container's is",
  },
  { flag: '--cpu-rt-period', field: 'CpuRealtimePeriod', asks: positive, why: REALTIME },
  { flag: '--cpu-rt-runtime', field: 'CpuRealtimeRuntime', asks: positive, why: REALTIME },
  {
    flag: '--gpus',
    field: 'DeviceRequests',
    asks: nonEmpty,
    why: `${OWN_KERNEL}: the host's GPUs are not in it`,
  },
  {
    flag: '--ipc host',
    field: 'IpcMode',
    asks: isHost,
    why: `${OWN_KERNEL}: the host's IPC namespace is not there to share`,
  },
  {
    flag: '--ipc none',
    field: 'IpcMode',
    asks: (v) => v === 'none',
    why: "a container's VM mounts its /dev/shm",
  },
  { flag: '--kernel-memory', field: 'KernelMemory', asks: positive, why: KERNEL_MEMORY },
  { flag: 'HostConfig.KernelMemoryTCP', field: 'KernelMemoryTCP', asks: positive, why: KERNEL_MEMORY },
  {
    flag: '--oom-kill-disable',
    field: 'OomKillDisable',
    asks: (v) => v === true,
    why: "cgroup v2, which a container's VM has, cannot turn its OOM killer off",
  },

  {
    flag: '--pid host',
    field: 'PidMode',
    asks: isHost,
    why: `${OWN_KERNEL}: the host's processes are not there to share`,
  },

  {
    flag: '--uts host',
    field: 'UTSMode',
    asks: isHost,
    why: `${OWN_KERNEL}: the host's hostname is not there to share`,
  },
];

/** Throw the 400 of the first field of `hc` that asks for what podvisor cannot do. */
export function refuseUnhonoured(hc: Partial<DockerHostConfig>): void {
  for (const r of REFUSALS) {
    if (r.asks(hc[r.field])) throw new InvalidArgumentError(`${r.flag} is not supported: ${r.why}`);
  }
}
