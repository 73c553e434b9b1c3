/**
 * Jest global teardown: stops this run's fixture registries, then fails the run
 * when something a test or a daemon started during it is still there: a QEMU or virtiofsd
 * process, a perl mount helper, a mount under the tests' temp roots, a VM runtime directory
 * (`<exec root>/vms/<id>`) or an empty VM cgroup made during the run, or a bridge, tap or
 * firewall rule of a daemon whose data root is gone (network leaks). First it removes the CNI plugins' shared
 * chains if they hold nothing (test/privileged/net/helpers/cni-net.ts). Every project that
 * touches the host names it; the first call, after all projects' tests, does the work for the
 * whole run.
 */
import {
  emptyVmCgroups,
  orphanNetworkObjects,
  listMountHelpers,
  listVmProcesses,
  testRootMounts,
  testRootVmDirs,
  type ProcInfo,
} from './leaks';
import { stopOwnRegistries } from '../fixtures/registry';
import { removeIdleCniChains } from '../privileged/net/helpers/cni-net';

/** Stop this run's fixture registries (test/fixtures/registry.ts), if it started them. */
async function stopRegistries(): Promise<void> {
  if (!process.env.PODVISOR_TEST_DAEMON_SETUP) return;
  await stopOwnRegistries();
}

function pidSet(v: string | undefined): Set<number> {
  return new Set((v ?? '').split(',').filter(Boolean).map(Number));
}

/** Everything this run left, as lines of a report (empty: nothing). */
function leftovers(): string[] {
  const vmBefore = pidSet(process.env.PODVISOR_PREEXISTING_VM_PIDS);
  const helpersBefore = pidSet(process.env.PODVISOR_PREEXISTING_MOUNT_HELPERS);
  const mountsBefore = new Set<string>(JSON.parse(process.env.PODVISOR_PREEXISTING_MOUNTS ?? '[]') as string[]);
  const networkBefore = new Set<string>(
    JSON.parse(process.env.PODVISOR_PREEXISTING_NETWORK_OBJECTS ?? '[]') as string[],
  );
  const cgroupsBefore = new Set<string>(JSON.parse(process.env.PODVISOR_PREEXISTING_VM_CGROUPS ?? '[]') as string[]);
  const start = Number(process.env.PODVISOR_TEST_RUN_START_MS ?? 0);
  const procs = (label: string, list: ProcInfo[], before: Set<number>) =>
    list.filter((p) => !before.has(p.pid)).map((p) => `${label} ${p.pid} ${p.cmdline.slice(0, 300)}`);
  return [
    ...procs('VM process', listVmProcesses({ jails: true }), vmBefore),
    ...procs('mount helper', listMountHelpers(), helpersBefore),
    ...testRootMounts()
      .filter((m) => !mountsBefore.has(m))
      .map((m) => `mount ${m}`),
    ...testRootVmDirs()
      .filter((d) => d.mtimeMs >= start)
      .map((d) => `VM runtime directory ${d.dir}`),
    ...orphanNetworkObjects().filter((o) => !networkBefore.has(o)),
    ...emptyVmCgroups(start)
      .filter((d) => !cgroupsBefore.has(d))
      .map((d) => `VM cgroup ${d}`),
  ];
}

export default async function globalTeardown(): Promise<void> {
  if (process.env.PODVISOR_TEST_TEARDOWN_DONE) return;
  process.env.PODVISOR_TEST_TEARDOWN_DONE = '1';
  await stopRegistries();
  removeIdleCniChains();
  // Give processes killed by the last test a moment to be reaped.
  for (let i = 0; i < 20; i++) {
    if (leftovers().length === 0) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  const left = leftovers();
  if (left.length === 0) return;
  throw new Error(
    `leaked VM processes, mount helpers, mounts, runtime directories, VM cgroups or network objects after the test run:\n${left.join('\n')}`,
  );
}
