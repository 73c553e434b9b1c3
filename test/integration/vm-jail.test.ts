/**
 * Every VM's QEMU in a jail of its own (src/vm/qemu/confinement/jail.ts, host/jail), in real VMs (TCG
 * here): a booted VM's, a template clone's, a restored checkpoint's and a checkpoint fork's.
 * Read from /proc of each QEMU: its mount, IPC and PID namespaces are not the daemon's (it is pid
 * 1 of its own, its parent the jail's supervisor, which holds no capability), its root
 * holds its own VM directory but not the host's /etc, /root or another VM's directory, its
 * bounding set lacks CAP_DAC_READ_SEARCH, and it runs in its own cgroup under podvisor's with
 * its memory and task limits. A mount the host makes in a clone's share after it started
 * reaches its guest (mount propagation into the jail), and templates, clones and checkpoints
 * still work. A booted VM's virtiofsd is jailed the same way (its own namespaces, a root of its
 * VM directory, the VM's cgroup, a cut bounding set), and so is a clone's lock holder. Prints
 * each VM cgroup's memory peak above its guest's RAM (the measured
 * overhead behind VM_MEMORY_OVERHEAD_MIB). Nothing may be left: no process, mount or cgroup.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AgentClient } from '../../src/vm/agent/client';
import { defaultGuestImages } from '../../src/vm/guest-images';
import { QemuHypervisor } from '../../src/vm/qemu/hypervisor';
import { activeJail } from '../../src/vm/qemu/confinement/jail';
import { vmPaths } from '../../src/vm/qemu/runtime-dir';
import { readVmRecord } from '../../src/vm/qemu/vm-record';
import {
  cgroupLayout,
  cgroupName,
  vmCgroupDirs,
  vmMemoryLimit,
  VM_PIDS_MAX,
  PODVISOR_CGROUP,
} from '../../src/vm/qemu/confinement/vm-cgroup';
import { MS_BIND, sharedMounter } from '../../src/util/mounter';
import type { Vm } from '../../src/vm/types';
import { listVmProcesses, mountsUnder } from '../helpers/leaks';
import { liveProcesses } from '../../src/vm/qemu/processes/vm-processes';
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
const CAP_SYS_ADMIN = 21;

/** A field of /proc/<pid>/status. */
function statusField(pid: number, field: string): string {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(status)![1].trim();
}

/** The capability bounding set of `pid`. */
function boundingSet(pid: number): bigint {
  return BigInt(`0x${statusField(pid, 'CapBnd')}`);
}

/** The parent pid of `pid`. */
function parentOf(pid: number): number {
  return Number(statusField(pid, 'PPid'));
}

const ns = (pid: number | 'self', which: string): string => fs.readlinkSync(`/proc/${pid}/ns/${which}`);

/**
 * What /proc says of jailed program `pid`: its namespaces against the test's (the daemon's
 * here: the hypervisor runs in this process), its pid inside its namespace, and its parent's
 * (the supervisor's) namespace, argv and capabilities.
 */
function jailFacts(pid: number) {
  const sup = parentOf(pid);
  return {
    mnt: ns(pid, 'mnt') === ns('self', 'mnt'),
    ipc: ns(pid, 'ipc') === ns('self', 'ipc'),
    pidNs: ns(pid, 'pid') === ns('self', 'pid'),
    pidInNs: statusField(pid, 'NSpid').split(/\s+/).slice(1),
    supervisor: path.basename(fs.readFileSync(`/proc/${sup}/cmdline`, 'utf8').split('\0')[0]),
    supervisorPidNs: ns(sup, 'pid') === ns('self', 'pid'),
    supervisorCaps: statusField(sup, 'CapEff') + '/' + statusField(sup, 'CapBnd'),
  };
}

/** What a jailed program shows: namespaces of its own, pid 1 there, under a capability-less jail. */
const JAILED = {
  mnt: false,
  ipc: false,
  pidNs: false,
  pidInNs: ['1'],
  supervisor: 'podvisor-jail',
  supervisorPidNs: true,
  supervisorCaps: '0000000000000000/0000000000000000',
};

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

/**
 * What a process whose root is `root` (`/proc/<pid>/root`) can do to VM directory `dir`, tried
 * as the host's root through that root (its mounts' flags apply, as to the process itself):
 * whether it sees the daemon's records, can plant a name where the daemon binds disks, can
 * swap a share root, and can write its own run/ (which it must: its sockets and logs).
 */
function whatItCanChange(root: string, dir: string): Record<string, boolean | string> {
  const inJail = (...p: string[]) => path.join(root, dir, ...p);
  const attempt = (f: () => void): string => {
    try {
      f();
      return 'done';
    } catch (e) {
      return (e as NodeJS.ErrnoException).code ?? 'failed';
    }
  };
  const planted = inJail('run', 'planted-by-test');
  const wroteRun = attempt(() => fs.writeFileSync(planted, ''));
  fs.rmSync(planted, { force: true });
  return {
    seesRecord: fs.existsSync(inJail('vm.json')),
    seesVolumesKey: fs.existsSync(inJail('volumes.key')),
    plantsInDisks: attempt(() => fs.symlinkSync('/etc/shadow', inJail('disks', 'qmp-file'))) === 'done',
    swapsShare: attempt(() => fs.renameSync(inJail('share'), inJail('run', 'share-moved'))) === 'done',
    plantsBesideRun: attempt(() => fs.mkdirSync(inJail('volumes-new'))) === 'done',
    writesRun: wroteRun,
  };
}

const ONLY_RUN_AND_SHARES = {
  seesRecord: false,
  seesVolumesKey: false,
  plantsInDisks: false,
  swapsShare: false,
  plantsBesideRun: false,
  writesRun: 'done',
};

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
  const ours = listVmProcesses({ jails: true }).filter((p) => p.cmdline.includes(execRoot));
  const holders = liveProcesses().filter((p) => p.argv.join(' ').includes(execRoot));
  const mounts = mountsUnder(execRoot);
  const cgroups = dirs.flatMap(vmCgroupDirs).filter((d) => fs.existsSync(d));
  fs.rmSync(execRoot, { recursive: true, force: true });
  expect(ours).toEqual([]);
  expect(holders).toEqual([]);
  expect(mounts).toEqual([]);
  expect(cgroups).toEqual([]);
});

test('each QEMU (booted, cloned, restored, forked) is in its own mount, IPC and PID namespaces (pid 1 there, under a capability-less jail), with a root of its own files, no CAP_DAC_READ_SEARCH or CAP_NET_ADMIN (its taps made by its jail), and its own cgroup', () => {
  expect(activeJail()).toBeDefined();
  const hvOf = (name: string) => (name === 'booted' ? hvs[1] : hvs[0]);
  const all = Object.entries(vms).map(([name, vm]) => ({ name, ...qemuOf(hvOf(name), vm) }));
  for (const { name, dir, pid } of all) {
    const root = `/proc/${pid}/root`;
    expect({ name, ...jailFacts(pid) }).toEqual({ name, ...JAILED });
    // Its Vm.pid is its host pid (what the daemon kills and reads /proc of).
    expect({ name, vmPid: vms[name].pid }).toEqual({ name, vmPid: pid });
    // Its own sockets are there, at the same path; the host's secrets are not.
    expect({ name, qmp: fs.existsSync(path.join(root, dir, 'run', 'qmp.sock')) }).toEqual({ name, qmp: true });
    expect({ name, ...whatItCanChange(root, dir) }).toEqual({ name, ...ONLY_RUN_AND_SHARES });
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
    // Its /proc/self is its own namespace's: pid 1 there.
    expect({ name, self: fs.readlinkSync(path.join(root, 'proc', 'self', 'ns', 'pid')) }).toEqual({
      name,
      self: ns(pid, 'pid'),
    });
    const bnd = boundingSet(pid);
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

test("a booted VM's virtiofsd and a clone's lock holder are jailed as QEMU is: own namespaces, a root of their VM's run/ and shares, a cut bounding set; virtiofsd in the VM's cgroup", () => {
  const booted = qemuOf(hvs[1], vms.booted);
  const rec = readVmRecord(vmPaths(hvs[1].opts.execRoot, vms.booted.id))!;
  const vfs = rec.virtiofsdPid!;
  expect(fs.readFileSync(`/proc/${vfs}/cmdline`, 'utf8')).toContain(booted.dir);
  expect(jailFacts(vfs)).toEqual(JAILED);
  // virtiofsd chroots into the directory it serves once its guest is connected: its jail's
  // root is seen through its supervisor (the same mount namespace, not chrooted).
  const root = `/proc/${parentOf(vfs)}/root`;
  expect(ns(parentOf(vfs), 'mnt')).toBe(ns(vfs, 'mnt'));
  expect(fs.existsSync(path.join(root, booted.dir, 'run', 'virtiofsd.sock'))).toBe(true);
  expect(whatItCanChange(root, booted.dir)).toEqual(ONLY_RUN_AND_SHARES);
  for (const absent of ['/etc', '/root', '/home', '/sys', '/var/lib', '/proc/1'])
    expect({ absent, there: fs.existsSync(path.join(root, absent)) }).toEqual({ absent, there: false });
  for (const other of [vms.clone, vms.restored].map((vm) => qemuOf(hvs[0], vm).dir))
    expect({ other, there: fs.existsSync(path.join(root, other)) }).toEqual({ other, there: false });
  const imageTops = [execRoot].map((p) => p.split('/')[1]);
  expect(
    fs.readdirSync(root).filter((e) => !['dev', 'lib', 'lib64', 'proc', 'tmp', 'usr', 'var', ...imageTops].includes(e)),
  ).toEqual([]);
  // Of /var: only the tmpfs its socket's lock file goes to.
  expect(fs.readdirSync(path.join(root, 'var'))).toEqual(['run']);
  expect(fs.readdirSync(path.join(root, 'var', 'run'))).toEqual(['virtiofsd']);
  // Of /proc: its own /proc/self, and the one setting it reads (read-only).
  expect(fs.readdirSync(path.join(root, 'proc')).sort()).toEqual(['self', 'sys']);
  expect(fs.readdirSync(path.join(root, 'proc', 'sys'))).toEqual(['fs']);
  expect(fs.readdirSync(path.join(root, 'proc', 'sys', 'fs'))).toEqual(['file-max']);
  const bnd = boundingSet(vfs);
  for (const [cap, bit] of [
    ['dac_read_search', CAP_DAC_READ_SEARCH],
    ['net_admin', CAP_NET_ADMIN],
    ['sys_admin', CAP_SYS_ADMIN],
  ] as const)
    expect({ cap, kept: (bnd & (1n << BigInt(bit))) !== 0n }).toEqual({ cap, kept: false });
  expect(fs.readFileSync(`/proc/${vfs}/cgroup`, 'utf8')).toContain(`/${PODVISOR_CGROUP}/${cgroupName(booted.dir)}`);
  // The lock holders of the clones (cloned, restored, forked): each in a jail with a PID
  // namespace of its own.
  const holders = liveProcesses().filter(
    (p) => path.basename(p.argv[0] ?? '') === 'podvisor-lock-holder' && p.argv.some((a) => a.startsWith(execRoot)),
  );
  expect(holders.length).toBeGreaterThan(0);
  for (const h of holders) expect(jailFacts(h.pid)).toEqual(JAILED);
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
