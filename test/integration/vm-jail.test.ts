/**
 * Every VM's QEMU in a jail of its own (src/vm/qemu/confinement/jail.ts, host/jail), in real VMs (TCG
 * here): a booted VM's, a template clone's, a restored checkpoint's and a checkpoint fork's.
 * Read from /proc of each QEMU: its mount, IPC, PID and network namespaces are not the daemon's
 * (it is pid 1 of its own, its parent the jail's supervisor, which holds no capability), it
 * runs as its VM's own user (not root: a uid of the reserved range, its capabilities ambient,
 * still in the host's user namespace), no process of it reaches the host's loopback or abstract
 * unix sockets, its root holds its own VM directory but not the host's /etc, /root or another VM's directory, its
 * bounding set lacks CAP_DAC_READ_SEARCH, and it runs in its own cgroup under podvisor's with
 * its memory and task limits. A mount the host makes in a clone's share after it started
 * reaches its guest (mount propagation into the jail), and templates, clones and checkpoints
 * still work. A booted VM's virtiofsd is jailed the same way (its own namespaces, a root of its
 * VM directory, the VM's cgroup, a cut bounding set), and so is a clone's lock holder (as its
 * VM's user). Prints
 * each VM cgroup's memory peak above its guest's RAM (the measured
 * overhead behind VM_MEMORY_OVERHEAD_MIB). Nothing may be left: no process, mount or cgroup.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as net from 'node:net';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { AgentClient } from '../../src/vm/agent/client';
import { defaultGuestImages } from '../../src/vm/guest-images';
import { QemuHypervisor } from '../../src/vm/qemu/hypervisor';
import { activeJail, vmUid, VM_UID_BASE, VM_UID_COUNT } from '../../src/vm/qemu/confinement/jail';
import { QEMU_JAILED_CAPABILITIES, QEMU_UNSHARING_CAPABILITIES } from '../../src/vm/qemu/confinement/confinement';
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
import { isRunning, waitGone } from '../../src/vm/qemu/processes/processes';
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
  return new RegExp(`^${field}:[ \\t]*(.*)$`, 'm').exec(status)![1].trim();
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

/** Capability numbers of the names the jail knows (linux/capability.h). */
const CAP_NUMBERS: Record<string, number> = { chown: 0, dac_override: 1, fowner: 3, fsetid: 4 };

/** The capability mask of `names`, as /proc/<pid>/status writes it. */
function capMask(names: string[]): string {
  return names
    .reduce((m, n) => m | (1n << BigInt(CAP_NUMBERS[n])), 0n)
    .toString(16)
    .padStart(16, '0');
}

/**
 * Who `pid` runs as (/proc/<pid>/status): its user and group ids (real, effective, saved,
 * filesystem), its supplementary groups, its effective and ambient capabilities, and whether
 * its user namespace is the host's.
 */
function identity(pid: number) {
  return {
    uid: statusField(pid, 'Uid').split(/\s+/).map(Number),
    gid: statusField(pid, 'Gid').split(/\s+/).map(Number),
    groups: statusField(pid, 'Groups'),
    capEff: statusField(pid, 'CapEff'),
    capAmb: statusField(pid, 'CapAmb'),
    hostUserNs: ns(pid, 'user') === ns('self', 'user'),
  };
}

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
    net: ns(pid, 'net') === ns('self', 'net'),
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
  net: false,
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

test("each QEMU (booted, cloned, restored, forked) is in its own mount, IPC, PID and network namespaces (pid 1 there, under a capability-less jail), as its VM's own non-root user, with a root of its own files, no CAP_DAC_READ_SEARCH or CAP_NET_ADMIN (its taps made by its jail), and its own cgroup", () => {
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
    // Not root: its VM's own user and group from the reserved range, keeping its capabilities
    // as ambient ones; still in the host's user namespace (its 9p server acts on files of any
    // owner: docs/security.md).
    const uid = vmUid(dir);
    expect(uid).toBeGreaterThanOrEqual(VM_UID_BASE);
    expect(uid).toBeLessThan(VM_UID_BASE + VM_UID_COUNT);
    // A booted VM's QEMU serves no 9p share: dac_override alone.
    const caps = capMask(name === 'booted' ? QEMU_UNSHARING_CAPABILITIES : QEMU_JAILED_CAPABILITIES);
    expect({ name, ...identity(pid) }).toEqual({
      name,
      uid: [uid, uid, uid, uid],
      gid: [uid, uid, uid, uid],
      groups: '',
      capEff: caps,
      capAmb: caps,
      hostUserNs: true,
    });
    // Its supervisor too (it signals it), with no capability.
    expect({ name, supervisorUid: identity(parentOf(pid)).uid }).toEqual({ name, supervisorUid: [uid, uid, uid, uid] });
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

test("a booted VM's virtiofsd and a clone's lock holder (as its VM's user) are jailed as QEMU is: own namespaces, a root of their VM's run/ and shares, a cut bounding set; virtiofsd in the VM's cgroup", () => {
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
  for (const h of holders) {
    expect(jailFacts(h.pid)).toEqual(JAILED);
    // As its VM's user, as its QEMU: its socket (its first argument) is in its VM directory's run/.
    const uid = vmUid(path.dirname(path.dirname(h.argv[1])));
    expect(identity(h.pid)).toEqual({
      uid: [uid, uid, uid, uid],
      gid: [uid, uid, uid, uid],
      groups: '',
      capEff: capMask(['dac_override']),
      capAmb: capMask(['dac_override']),
      hostUserNs: true,
    });
  }
});

/**
 * What a process in the network namespace of `pid` (this test's own when undefined) reaches of
 * the host's network: a TCP listener on the host's loopback at `port`, the host's abstract unix
 * socket `name`. Each is 'connected' or the connect's error code. The probe is a node process
 * entered into that network namespace only (nsenter -n): as a taken-over QEMU would try it.
 */
async function reachable(pid: number | undefined, port: number, name: string): Promise<Record<string, string>> {
  const probe = `
    const net = require('node:net');
    const tryConnect = (opts) => new Promise((resolve) => {
      const s = net.connect(opts, () => { s.destroy(); resolve('connected'); });
      s.on('error', (e) => resolve(e.code));
      s.setTimeout(3000, () => { s.destroy(); resolve('timeout'); });
    });
    (async () => {
      const loopback = await tryConnect({ host: '127.0.0.1', port: ${port} });
      const abstract = await tryConnect({ path: '\\0${name}' });
      process.stdout.write(JSON.stringify({ loopback, abstract }));
    })();`;
  const [bin, args] =
    pid === undefined
      ? [process.execPath, ['-e', probe]]
      : ['nsenter', ['-t', String(pid), '-n', '--', process.execPath, '-e', probe]];
  const { stdout } = await promisify(execFile)(bin, args, { timeout: 20_000 });
  return JSON.parse(stdout) as Record<string, string>;
}

/** The network interfaces `pid` sees (its network namespace's: /proc/<pid>/net/dev). */
function interfaces(pid: number): string[] {
  const lines = fs.readFileSync(`/proc/${pid}/net/dev`, 'utf8').trim().split('\n').slice(2);
  return lines.map((l) => l.split(':')[0].trim()).sort();
}

test("no jailed process (QEMU of a booted, cloned, restored and forked VM, virtiofsd, the lock holders) reaches the host's network: no loopback listener, no abstract unix socket, no interface but its own loopback", async () => {
  const hvOf = (name: string) => (name === 'booted' ? hvs[1] : hvs[0]);
  const jailed = Object.entries(vms).map(([name, vm]) => ({ name, pid: qemuOf(hvOf(name), vm).pid }));
  const rec = readVmRecord(vmPaths(hvs[1].opts.execRoot, vms.booted.id))!;
  jailed.push({ name: 'virtiofsd', pid: rec.virtiofsdPid! });
  for (const h of liveProcesses().filter(
    (p) => path.basename(p.argv[0] ?? '') === 'podvisor-lock-holder' && p.argv.some((a) => a.startsWith(execRoot)),
  ))
    jailed.push({ name: `lock holder ${h.pid}`, pid: h.pid });
  expect(jailed.length).toBeGreaterThan(5);
  const name = `podvisor-test-${process.pid}`;
  const tcp = net.createServer((c) => c.destroy());
  const abstract = net.createServer((c) => c.destroy());
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => abstract.listen(`\0${name}`, r));
  try {
    const port = (tcp.address() as net.AddressInfo).port;
    // From the host's network namespace both are there: the probe can tell.
    expect(await reachable(undefined, port, name)).toEqual({ loopback: 'connected', abstract: 'connected' });
    for (const { name: who, pid } of jailed) {
      expect({ who, net: ns(pid, 'net') === ns('self', 'net') }).toEqual({ who, net: false });
      expect({ who, interfaces: interfaces(pid) }).toEqual({ who, interfaces: ['lo'] });
      // Its loopback is down: no route even to itself; no abstract socket of the host's.
      expect({ who, ...(await reachable(pid, port, name)) }).toEqual({
        who,
        loopback: 'ENETUNREACH',
        abstract: 'ECONNREFUSED',
      });
    }
  } finally {
    tcp.close();
    abstract.close();
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

test("a jailed QEMU, as its VM's user, still dies when its supervisor is killed (SIGKILL): its parent-death signal survives the change of uid", async () => {
  const vm = await hvs[0].createVm({ size, devices: {} });
  vms.orphaned = vm;
  const { dir, pid } = qemuOf(hvs[0], vm);
  expect(identity(pid).uid[0]).toBe(vmUid(dir));
  const supervisor = parentOf(pid);
  expect(isRunning(pid)).toBe(true);
  process.kill(supervisor, 'SIGKILL');
  expect(await waitGone(pid, 10_000)).toBe(true);
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
