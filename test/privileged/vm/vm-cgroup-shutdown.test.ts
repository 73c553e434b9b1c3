/**
 * A daemon's shutdown and its VM cgroups (src/vm/qemu/confinement/vm-cgroup.ts), on this
 * host's real cgroups: the shutdown waits for a removal still in its first second, and then
 * sweeps the roots swept at the daemon's start once more, so that a VM cgroup emptied after
 * its removal gave up (or one no teardown got to) goes with the daemon, while one a process
 * still runs in (a running container's VM, left for the next daemon) stays.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import {
  cgroupLayout,
  makeVmCgroup,
  removeVmCgroup,
  settleVmCgroupRemovals,
  sweepVmCgroups,
  vmCgroupDirs,
} from '../../../src/vm/qemu/confinement/vm-cgroup';

const layout = cgroupLayout();
const size = { cpus: 1, memoryMiB: 64 };
let tmp: string;
const sleepers: ChildProcess[] = [];

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-cgroup-shutdown-'));
});

afterEach(async () => {
  await Promise.all(
    sleepers.splice(0).map((s) => {
      const gone = new Promise((r) => (s.exitCode !== null || s.signalCode !== null ? r(null) : s.once('exit', r)));
      s.kill('SIGKILL');
      return gone;
    }),
  );
  for (const vm of ['a', 'b', 'c']) await removeVmCgroup(path.join(tmp, 'vms', vm));
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A process placed in the VM cgroup of `dir` (as a QEMU places itself), and its exit. */
async function runIn(dir: string): Promise<{ child: ChildProcess; gone: Promise<unknown> }> {
  const procs = makeVmCgroup(dir, size)!;
  const child = spawn('sleep', ['1000'], { stdio: 'ignore' });
  sleepers.push(child);
  const gone = new Promise((r) => child.once('exit', r));
  await new Promise((r) => child.once('spawn', r));
  for (const p of procs) fs.writeFileSync(p, String(child.pid));
  return { child, gone };
}

const exists = (dir: string) => vmCgroupDirs(dir).filter((d) => fs.existsSync(d));

test("the shutdown waits for a removal under way, sweeps an emptied VM cgroup, and keeps a running VM's", async () => {
  // Debian 12 as root has both controllers (unified or v1): a host without is not one to run on.
  expect(layout).not.toBeNull();
  const vms = path.join(tmp, 'vms');
  fs.mkdirSync(vms);
  sweepVmCgroups([vms]); // the daemon's start
  const [a, b, c] = ['a', 'b', 'c'].map((n) => path.join(vms, n));
  // a: its process ends half a second into its removal's first second.
  const inA = await runIn(a);
  // b: a cgroup no removal ever got to, its process gone (a teardown the daemon never ran).
  const inB = await runIn(b);
  // c: a running container's VM, left for the next daemon.
  await runIn(c);
  expect(exists(a)).toHaveLength(vmCgroupDirs(a).length);
  const removingA = removeVmCgroup(a);
  setTimeout(() => inA.child.kill('SIGKILL'), 500);
  inB.child.kill('SIGKILL');
  await inB.gone;
  // The shutdown starts while a's removal is in its first second.
  await settleVmCgroupRemovals(3000);
  expect(exists(a)).toEqual([]);
  expect(exists(b)).toEqual([]);
  expect(exists(c)).toHaveLength(vmCgroupDirs(c).length);
  await removingA;
});
