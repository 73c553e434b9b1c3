/**
 * Jest global setup of the projects that touch the host (privileged, integration, compat):
 * remembers which QEMU and virtiofsd processes, mount helpers, mounts under the tests' temp
 * roots, orphaned network objects (a dead daemon's bridge or rule) and empty VM cgroups existed
 * before the run (a cgroup's mtime alone does not tell: a host restored from a snapshot gives
 * every cgroup a fresh one),
 * so the teardown (global-teardown.ts) can tell leaks of this run from what was already there. Each project that names this runs it; only the first call of a
 * run takes the snapshot (they all run before any test).
 */
import { emptyVmCgroups, listMountHelpers, listVmProcesses, orphanNetworkObjects, testRootMounts } from './leaks';

export default function globalSetup(): void {
  if (process.env.PODVISOR_TEST_RUN_START_MS) return;
  process.env.PODVISOR_PREEXISTING_VM_PIDS = listVmProcesses({ jails: true })
    .map((p) => p.pid)
    .join(',');
  process.env.PODVISOR_PREEXISTING_MOUNT_HELPERS = listMountHelpers()
    .map((p) => p.pid)
    .join(',');
  process.env.PODVISOR_PREEXISTING_MOUNTS = JSON.stringify(testRootMounts());
  process.env.PODVISOR_PREEXISTING_NETWORK_OBJECTS = JSON.stringify(orphanNetworkObjects());
  process.env.PODVISOR_PREEXISTING_VM_CGROUPS = JSON.stringify(emptyVmCgroups(0));
  process.env.PODVISOR_TEST_RUN_START_MS = String(Date.now());
}
