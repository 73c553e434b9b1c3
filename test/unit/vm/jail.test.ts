/**
 * The jail's arguments (src/vm/qemu/confinement/jail.ts) and the VM cgroups' layout and names
 * (src/vm/qemu/confinement/vm-cgroup.ts), on temporary directories standing in for the host's.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { withoutNested } from '../../../src/vm/qemu/confinement/jail';
import {
  cgroupLayout,
  cgroupName,
  vmMemoryLimit,
  VM_MEMORY_OVERHEAD_MIB,
} from '../../../src/vm/qemu/confinement/vm-cgroup';
import { jailedDirs, layoutOf, makeRuntimeDir, vmPathsAt } from '../../../src/vm/qemu/runtime-dir';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-jail-unit-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

test("a VM's jails hold its run/ and shares read-write and disks/ read-only, never its directory (vm.json, volumes.key)", () => {
  const paths = vmPathsAt(path.join(tmp, 'vms', 'abcdef012345'));
  fs.mkdirSync(path.dirname(paths.dir));
  makeRuntimeDir(paths, true);
  expect(layoutOf(paths.dir)).toBe('split');
  expect(jailedDirs(paths)).toEqual({ rw: [paths.runDir, paths.shareDir, paths.volumesDir], ro: [paths.disksDir] });
  expect([paths.consoleLog, paths.qmpSock, paths.ctlSock, paths.stateSock, paths.ramFile].map(path.dirname)).toEqual(
    Array(5).fill(paths.runDir),
  );
  expect([paths.record, paths.volumesKey].map(path.dirname)).toEqual([paths.dir, paths.dir]);
  // A directory of an earlier build (no run/, or a run/ that is a symlink) is flat.
  const old = path.join(tmp, 'vms', '0123456789ab');
  fs.mkdirSync(old);
  expect(layoutOf(old)).toBe('flat');
  fs.symlinkSync(tmp, path.join(old, 'run'));
  expect(layoutOf(old)).toBe('flat');
  expect(vmPathsAt(old, 'flat').qmpSock).toBe(path.join(old, 'qmp.sock'));
});

test('paths inside a directory already bound, and duplicates, are left out', () => {
  const dir = path.join(tmp, 'qemu');
  fs.mkdirSync(path.join(dir, 'lib'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'lib', 'x.so'), '');
  const vm = path.join(tmp, 'vm');
  fs.mkdirSync(vm);
  fs.writeFileSync(path.join(tmp, 'kernel'), '');
  const out = withoutNested(
    [dir, path.join(dir, 'lib', 'x.so'), path.join(tmp, 'kernel'), path.join(tmp, 'kernel'), path.join(vm, 'ram')],
    [vm],
  );
  expect(out).toEqual([dir, path.join(tmp, 'kernel')]);
});

test('a unified hierarchy with memory and pids is used as v2; else v1 memory and pids; else none', () => {
  fs.writeFileSync(path.join(tmp, 'cgroup.controllers'), 'cpu io memory pids\n');
  expect(cgroupLayout(tmp)).toEqual({
    kind: 'unified',
    parents: { memory: path.join(tmp, 'podvisor'), pids: path.join(tmp, 'podvisor') },
  });
  fs.writeFileSync(path.join(tmp, 'cgroup.controllers'), '');
  expect(cgroupLayout(tmp)).toBeNull();
  fs.mkdirSync(path.join(tmp, 'memory'));
  fs.mkdirSync(path.join(tmp, 'pids'));
  fs.writeFileSync(path.join(tmp, 'memory', 'memory.limit_in_bytes'), '');
  fs.writeFileSync(path.join(tmp, 'pids', 'cgroup.procs'), '');
  expect(cgroupLayout(tmp)).toEqual({
    kind: 'v1',
    parents: { memory: path.join(tmp, 'memory', 'podvisor'), pids: path.join(tmp, 'pids', 'podvisor') },
  });
});

test("a VM's cgroup is named after its directory: its parent's tag, then its own name", () => {
  const a = cgroupName('/run/pv-a/vms/0123456789ab');
  expect(a).toMatch(/^[0-9a-f]{10}-0123456789ab$/);
  expect(cgroupName('/run/pv-a/vms/ffffffffffff').split('-')[0]).toBe(a.split('-')[0]);
  expect(cgroupName('/run/pv-b/vms/0123456789ab')).not.toBe(a);
  expect(vmMemoryLimit({ memoryMiB: 256, cpus: 1 })).toBe((256 + VM_MEMORY_OVERHEAD_MIB) * 1048576);
});
