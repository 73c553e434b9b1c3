/**
 * Every VM's QEMU in a jail of its own (src/vm/qemu/jail.ts, host/jail), in real VMs (TCG
 * here): a booted VM's, a template clone's, a restored checkpoint's and a checkpoint fork's.
 * Read from /proc of each QEMU: its mount and IPC namespaces are not the daemon's, its root
 * holds its own VM directory but not the host's /etc, /root or another VM's directory, its
 * bounding set lacks CAP_DAC_READ_SEARCH, and it runs in its own cgroup under podvisor's with
 * its memory and task limits. A mount the host makes in a clone's share after it started
 * reaches its guest (mount propagation into the jail), and templates, clones and checkpoints
 * still work. Prints each VM cgroup's memory peak above its guest's RAM (the measured
 * overhead behind VM_MEMORY_OVERHEAD_MIB). Nothing may be left: no process, mount or cgroup.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AgentClient } from '../../src/vm/agent/client';
import { defaultGuestImages } from '../../src/vm/guest-images';
import { QemuHypervisor } from '../../src/vm/qemu/hypervisor';
import { activeJail } from '../../src/vm/qemu/jail';
import { readVmRecord, vmPaths } from '../../src/vm/qemu/runtime-dir';
import {
  cgroupLayout,
  cgroupName,
  vmCgroupDirs,
  vmMemoryLimit,
  VM_PIDS_MAX,
  PODVISOR_CGROUP,
} from '../../src/vm/qemu/vm-cgroup';
import { MS_BIND, sharedMounter } from '../../src/util/mounter';
import type { Vm } from '../../src/vm/types';
import { listVmProcesses, mountsUnder } from '../helpers/leaks';
import { makeBusyboxRootfs, run } from '../helpers/agent-fixtures';

jest.setTimeout(300_000);

const guest = defaultGuestImages();
const size = { memoryMiB: 256, cpus: 1 };
let execRoot: string;
const hvs: QemuHypervisor[] = [];
const vms: Record<string, Vm> = {};
const dirs: string[] = [];

/** Capability numbers (linux/capability.h). */
const CAP_DAC_READ_SEARCH = 2;
const CAP_NET_ADMIN = 12;

function hypervisor(templates: boolean): QemuHypervisor {
  const hv = new QemuHypervisor({
    execRoot: path.join(execRoot, templates ? 'cloning' : 'booting'),
    ...guest,
    accel: 'tcg',
    bootTimeoutMs: 60_000,
    templates,
    connectAgent: (e) => AgentClient.connect(e),
  });
  hvs.push(hv);
  return hv;
}

/** The VM directory and QEMU pid of `vm` (started by `hv`). */
function qemuOf(hv: QemuHypervisor, vm: Vm): { dir: string; pid: number } {
  const paths = vmPaths(hv.opts.execRoot, vm.id);
  const r = readVmRecord(paths);
  if (!r) throw new Error(`VM ${vm.id} has no vm.json`);
  dirs.push(paths.dir);
  return { dir: paths.dir, pid: r.qemuPid };
}

/** A cgroup file of VM directory `dir`, in the hierarchy of `controller`. */
function cgroupFile(dir: string, controller: 'memory' | 'pids', v2: string, v1: string): string {
  const layout = cgroupLayout()!;
  return path.join(layout.parents[controller], cgroupName(dir), layout.kind === 'unified' ? v2 : v1);
}

beforeAll(async () => {
  execRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-jail-'));
  const cloning = hypervisor(true);
  const booting = hypervisor(false);
  // With a NIC each: its tap made by the jail, QEMU without CAP_NET_ADMIN.
  vms.booted = await booting.createVm({ size, devices: { nics: 1 } });
  vms.clone = await cloning.createVm({ size, devices: { nics: 1 } });
  const checkpoint = path.join(execRoot, 'checkpoint');
  fs.mkdirSync(checkpoint, { mode: 0o700 });
  await cloning.saveVm(vms.clone, checkpoint, { leaveRunning: true });
  vms.restored = await cloning.restoreVm(checkpoint);
  vms.fork = await cloning.restoreVm(checkpoint, undefined, { fork: true });
});

afterAll(async () => {
  for (const vm of Object.values(vms)) await vm.destroy().catch(() => undefined);
  for (const hv of hvs) await hv.close();
  const ours = listVmProcesses().filter((p) => p.cmdline.includes(execRoot));
  const mounts = mountsUnder(execRoot);
  const cgroups = dirs.flatMap(vmCgroupDirs).filter((d) => fs.existsSync(d));
  fs.rmSync(execRoot, { recursive: true, force: true });
  expect(ours).toEqual([]);
  expect(mounts).toEqual([]);
  expect(cgroups).toEqual([]);
});

test('each QEMU (booted, cloned, restored, forked) is in its own mount and IPC namespaces, with a root of its own files, no CAP_DAC_READ_SEARCH or CAP_NET_ADMIN (its taps made by its jail), and its own cgroup', () => {
  expect(activeJail()).toBeDefined();
  const hvOf = (name: string) => (name === 'booted' ? hvs[1] : hvs[0]);
  const all = Object.entries(vms).map(([name, vm]) => ({ name, ...qemuOf(hvOf(name), vm) }));
  const ns = (pid: number | 'self', which: string) => fs.readlinkSync(`/proc/${pid}/ns/${which}`);
  for (const { name, dir, pid } of all) {
    const root = `/proc/${pid}/root`;
    expect({ name, mnt: ns(pid, 'mnt') === ns('self', 'mnt') }).toEqual({ name, mnt: false });
    expect({ name, ipc: ns(pid, 'ipc') === ns('self', 'ipc') }).toEqual({ name, ipc: false });
    // Its own directory and sockets are there, at the same path; the host's secrets are not.
    expect({ name, qmp: fs.existsSync(path.join(root, dir, 'qmp.sock')) }).toEqual({ name, qmp: true });
    for (const absent of ['/etc/shadow', '/etc', '/root', '/home', '/proc/1', '/proc/sys', '/sys', '/var/lib'])
      expect({ name, absent, there: fs.existsSync(path.join(root, absent)) }).toEqual({ name, absent, there: false });
    // No other VM's directory.
    for (const other of all.filter((o) => o.dir !== dir))
      expect({ name, other: other.name, there: fs.existsSync(path.join(root, other.dir)) }).toEqual({
        name,
        other: other.name,
        there: false,
      });
    // Beside the system's own tops, only those that lead to the guest's kernel and initramfs
    // (wherever the checkout lies: /work here, elsewhere in CI) and to the VM directories.
    const imageTops = [guest.kernel, guest.initrd, execRoot].map((p) => p.split('/')[1]);
    const top = fs.readdirSync(root).sort();
    expect({
      name,
      top: top.filter((e) => !['dev', 'lib', 'lib64', 'proc', 'tmp', 'usr', ...imageTops].includes(e)),
    }).toEqual({ name, top: [] });
    expect(fs.readdirSync(path.join(root, 'proc'))).toEqual(['self']);
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const bnd = BigInt(`0x${status.match(/^CapBnd:\s*(\S+)/m)![1]}`);
    expect({ name, dacReadSearch: (bnd & (1n << BigInt(CAP_DAC_READ_SEARCH))) !== 0n }).toEqual({
      name,
      dacReadSearch: false,
    });
    expect({ name, netAdmin: (bnd & (1n << BigInt(CAP_NET_ADMIN))) !== 0n }).toEqual({ name, netAdmin: false });
    // Its taps were made by its jail and are there while it runs.
    const vm = vms[name];
    for (const nic of vm.devices.nics) expect(fs.existsSync(`/sys/class/net/${nic.tap}`)).toBe(true);
    // Its cgroup is the VM's own, with its limits.
    const cgroups = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    expect(cgroups).toContain(`/${PODVISOR_CGROUP}/${cgroupName(dir)}`);
    expect(Number(fs.readFileSync(cgroupFile(dir, 'memory', 'memory.max', 'memory.limit_in_bytes'), 'utf8'))).toBe(
      vmMemoryLimit(size),
    );
    expect(Number(fs.readFileSync(cgroupFile(dir, 'pids', 'pids.max', 'pids.max'), 'utf8'))).toBe(VM_PIDS_MAX);
  }
});

test("a mount the host makes in a clone's share after it started reaches its guest over 9p", async () => {
  // A clone of its own: the saved one let go of its share for the save.
  const clone = await hvs[0].createVm({ size, devices: {} });
  vms.late = clone;
  const rootfs = path.join(clone.shareDir, 'containers', 'late', 'rootfs');
  makeBusyboxRootfs(rootfs);
  fs.mkdirSync(path.join(rootfs, 'data'));
  await clone.agent.createContainer({ id: 'late', rootfs: 'containers/late/rootfs' });
  const volume = path.join(execRoot, 'volume');
  fs.mkdirSync(volume);
  fs.writeFileSync(path.join(volume, 'hello'), 'from the host\n');
  await sharedMounter().mount({ source: volume, target: path.join(rootfs, 'data'), flags: MS_BIND });
  const r = await run(clone.agent, 'late', ['cat', '/data/hello']);
  expect(r.stdout).toBe('from the host\n');
  // A restored VM and a fork run too (their agents answer).
  await vms.restored.agent.ping();
  await vms.fork.agent.ping();
});

test("each VM cgroup's memory peak stays under its limit (printed: QEMU's overhead above the guest's RAM)", () => {
  const lines: string[] = [];
  for (const dir of dirs) {
    const peak = Number(
      fs.readFileSync(cgroupFile(dir, 'memory', 'memory.peak', 'memory.max_usage_in_bytes'), 'utf8').trim(),
    );
    lines.push(`${path.basename(dir)}: peak ${(peak / 1048576).toFixed(1)} MiB (${size.memoryMiB} MiB guest)`);
    expect(peak).toBeLessThan(vmMemoryLimit(size));
  }
  console.log(`VM cgroups' memory peaks:\n${lines.join('\n')}`);
});
