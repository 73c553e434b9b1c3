/**
 * A VM's host cgroup under a parent of the caller's (src/vm/qemu/confinement/vm-cgroup-parent.ts): where
 * an absolute and a relative parent lead in each layout, what is refused, and a move on
 * temporary directories standing in for a cgroup v1 host (the record of where the cgroup is,
 * its limits, its process written into the new cgroup).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parentDirs, placeVmCgroup } from '../../../src/vm/qemu/confinement/vm-cgroup-parent';
import { cgroupName, vmMemoryLimit, VM_PIDS_MAX, type CgroupLayout } from '../../../src/vm/qemu/confinement/vm-cgroup';
import { placedDirs } from '../../../src/vm/qemu/confinement/vm-cgroup-record';
import { InvalidArgumentError } from '../../../src/errors';

/** /proc/self/cgroup of a daemon in a v1 hybrid host whose memory cgroup is not the root. */
const SELF_V1 = '9:name=systemd:/\n8:pids:/svc/pv\n4:memory:/box/7\n1:cpu,cpuacct:/\n0::/\n';
const SELF_V2 = '0::/system.slice/podvisor.service\n';

const V1: CgroupLayout = {
  kind: 'v1',
  parents: { memory: '/sys/fs/cgroup/memory/podvisor', pids: '/sys/fs/cgroup/pids/podvisor' },
};
const V2: CgroupLayout = {
  kind: 'unified',
  parents: { memory: '/sys/fs/cgroup/podvisor', pids: '/sys/fs/cgroup/podvisor' },
};

test('an absolute parent is from the root of each hierarchy', () => {
  expect(parentDirs(V1, '/kubepods/pod1', SELF_V1)).toEqual({
    memory: '/sys/fs/cgroup/memory/kubepods/pod1',
    pids: '/sys/fs/cgroup/pids/kubepods/pod1',
  });
  expect(parentDirs(V2, '/kubepods/pod1', SELF_V2)).toEqual({
    memory: '/sys/fs/cgroup/kubepods/pod1',
    pids: '/sys/fs/cgroup/kubepods/pod1',
  });
  expect(parentDirs(V1, '/', SELF_V1)).toEqual({ memory: '/sys/fs/cgroup/memory', pids: '/sys/fs/cgroup/pids' });
});

test("a relative parent is from the daemon's own cgroup, in each hierarchy (as runc's cgroupfs driver)", () => {
  expect(parentDirs(V1, 'batch', SELF_V1)).toEqual({
    memory: '/sys/fs/cgroup/memory/box/7/batch',
    pids: '/sys/fs/cgroup/pids/svc/pv/batch',
  });
  expect(parentDirs(V2, 'batch', SELF_V2)).toEqual({
    memory: '/sys/fs/cgroup/system.slice/podvisor.service/batch',
    pids: '/sys/fs/cgroup/system.slice/podvisor.service/batch',
  });
  expect(parentDirs(V1, '.', SELF_V1).pids).toBe('/sys/fs/cgroup/pids/svc/pv');
});

test("podvisor's own cgroup, and anything under it, is refused; so is a path with ..", () => {
  for (const p of ['/podvisor', '/podvisor/x'])
    expect(() => parentDirs(V1, p, SELF_V1)).toThrow(`cgroup parent "${p}" is inside podvisor's own cgroup`);
  expect(() => parentDirs(V2, '/podvisor', SELF_V2)).toThrow(InvalidArgumentError);
  expect(parentDirs(V1, '/podvisor2', SELF_V1).memory).toBe('/sys/fs/cgroup/memory/podvisor2');
  expect(() => parentDirs(V1, '/a/../b', SELF_V1)).toThrow(InvalidArgumentError);
});

describe('a move on a stand-in v1 tree', () => {
  let tmp: string;
  let layout: CgroupLayout;
  let vmDir: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-cgparent-unit-'));
    layout = {
      kind: 'v1',
      parents: { memory: path.join(tmp, 'memory', 'podvisor'), pids: path.join(tmp, 'pids', 'podvisor') },
    };
    vmDir = path.join(tmp, 'exec', 'vms', '0123456789ab');
    fs.mkdirSync(vmDir, { recursive: true });
    for (const c of ['memory', 'pids'] as const) {
      const own = path.join(layout.parents[c], cgroupName(vmDir));
      fs.mkdirSync(own, { recursive: true });
      fs.writeFileSync(path.join(own, 'cgroup.procs'), '4242\n');
    }
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('the cgroup is made under the parent with its limits, its process written in, and recorded', async () => {
    const size = { memoryMiB: 256, cpus: 1 };
    const p = { dir: vmDir, size, pid: 4242, layout, selfCgroup: SELF_V1 };
    await placeVmCgroup(p, '/pv-batch');
    const mem = path.join(tmp, 'memory', 'pv-batch', cgroupName(vmDir));
    const pids = path.join(tmp, 'pids', 'pv-batch', cgroupName(vmDir));
    expect(fs.readFileSync(path.join(mem, 'memory.limit_in_bytes'), 'utf8')).toBe(String(vmMemoryLimit(size)));
    expect(fs.readFileSync(path.join(pids, 'pids.max'), 'utf8')).toBe(String(VM_PIDS_MAX));
    expect(fs.readFileSync(path.join(mem, 'cgroup.procs'), 'utf8')).toBe('4242');
    expect(fs.readFileSync(path.join(pids, 'cgroup.procs'), 'utf8')).toBe('4242');
    expect(placedDirs(vmDir, cgroupName(vmDir)).sort()).toEqual([mem, pids].sort());
    // The record is beside the VM directories, not in one (a VM's QEMU writes its own).
    expect(fs.readdirSync(path.join(tmp, 'exec', 'vm-cgroups'))).toEqual([cgroupName(vmDir)]);
    // Back under podvisor's own: the record goes.
    await placeVmCgroup(p, undefined);
    expect(placedDirs(vmDir, cgroupName(vmDir))).toEqual([]);
    expect(fs.readdirSync(path.join(tmp, 'exec', 'vm-cgroups'))).toEqual([]);
  });

  test('a VM already where it is asked to be is left as it is', async () => {
    await placeVmCgroup({ dir: vmDir, size: { memoryMiB: 256, cpus: 1 }, pid: 4242, layout }, undefined);
    expect(fs.existsSync(path.join(tmp, 'exec', 'vm-cgroups'))).toBe(false);
    expect(fs.readdirSync(path.join(layout.parents.memory, cgroupName(vmDir)))).toEqual(['cgroup.procs']);
  });

  test('a host without usable cgroups cannot take a parent, and has nothing to put back', async () => {
    const p = { dir: vmDir, size: { memoryMiB: 256, cpus: 1 }, pid: 4242, layout: null };
    await expect(placeVmCgroup(p, '/pv-batch')).rejects.toThrow('this host has no cgroup hierarchy');
    await expect(placeVmCgroup(p, undefined)).resolves.toBeUndefined();
  });
});
