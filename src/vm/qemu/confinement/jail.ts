/**
 * The jail each VM's QEMU starts in (host/jail, docs/architecture.md "QEMU confinement"): its
 * own mount and IPC namespaces, a root that holds only what this VM needs, each path bound at
 * the same absolute path as on the host (so QEMU's command line, its sockets and the daemon's
 * view of them are unchanged), its own cgroup (./vm-cgroup.ts) and a cut capability bounding
 * set. What a VM's root holds:
 * - of its runtime directory, never the directory itself (../runtime-dir.ts, jailedDirs):
 *   `run/` read-write (sockets, logs, a checkpoint's state socket, its own RAM file), its
 *   shares read-write with the mounts below them (a clone's QEMU serves them over 9p), and
 *   `disks/` read-only (where the files it opens by QMP are bound: ./jail-mounts.ts); each is
 *   a mount root in the jail, which it can neither rename nor replace; the host's later mounts
 *   there reach it through mount propagation (each VM directory is a shared mount of itself
 *   before anything is mounted in it: ./jail-mounts.ts);
 * - read-only: the guest kernel and initramfs, a template's RAM file (a clone maps it
 *   copy-on-write), the QEMU binary, the libraries it and its accelerator modules link
 *   (found with ldd once per binary), its firmware and module directories;
 * - what else the caller names (a fork template's RAM file, written);
 * - device nodes: /dev/null, /dev/zero, /dev/urandom, /dev/random, and /dev/kvm under KVM;
 * - its taps, made by the jail and left open for it (`-netdev tap,fd=`), so that QEMU needs no
 *   CAP_NET_ADMIN (QEMU_JAILED_CAPABILITIES).
 * - its own /proc/self (its 9p server changes modes through /proc/self/fd), and no other
 *   process's.
 * No /sys, /etc, no other VM's directory: /proc/<qemu>/root shows these paths only.
 * QEMU and the lock holder run as the VM's own host user (vmUid), not root: they keep their
 * few capabilities as ambient ones (QEMU_JAILED_CAPABILITIES or QEMU_UNSHARING_CAPABILITIES,
 * LOCK_HOLDER_CAPABILITIES), and lose what being uid 0 gives beyond them (root's keyrings,
 * the filesystems' blocks reserved for root, whatever else the kernel grants to uid 0 rather
 * than to a capability). virtiofsd still runs as root: it takes each guest request's uid with
 * setresuid (CAP_SETUID), guest root's 0 included, so a uid of its own would not bound it
 * (docs/security.md).
 * PODVISOR_JAIL=0 turns the jail off (QEMU then runs under setpriv as before it: for measuring
 * what the jail costs, bench/jail.ts); it is on by default, and a VM whose jail this host
 * cannot give (no jail binary, a daemon not run as root) does not start unless podvisord was
 * started with --unconfined-vms (./policy.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { VmSize } from '../../types';
import { PACKAGE_ROOT } from '../../../util/package-info';
import { confinementMissing } from './policy';
import type { QemuProgram } from '../binaries';
import { TAP_FD_BASE } from '../../devices/nic';
import { jailedDirs, type VmPaths } from '../runtime-dir';

/** What the jail of one VM's QEMU holds beyond the QEMU itself. */
export interface JailSpec {
  /** The VM's runtime directory: its jail holds the parts jailedDirs names. */
  paths: VmPaths;
  /** Files QEMU only reads: the guest kernel and initramfs, a template's RAM file. */
  readOnly: string[];
  /** Files outside the VM's directory that it writes (a template's or fork template's RAM file; it must exist). */
  readWrite?: string[];
  /** The VM's size (its cgroup's memory limit). */
  size: VmSize;
  /** The accelerator: KVM needs /dev/kvm. */
  accel: 'kvm' | 'tcg';
  /** The VM's taps, in NIC order: the jail makes them, at fds TAP_FD_BASE, TAP_FD_BASE + 1... */
  taps: string[];
  /**
   * Whether this QEMU serves 9p shares (a template's, a clone's): its 9p server acts on files
   * of any owner (QEMU_JAILED_CAPABILITIES); without, it keeps QEMU_UNSHARING_CAPABILITIES.
   */
  ninep: boolean;
}

/**
 * The jail binary scripts/bootstrap.sh builds (host/jail; PODVISOR_JAIL_BINARY in the
 * daemon's environment names another, e.g. a packaged one), or undefined when it is not there.
 */
export function jailBinary(root: string = PACKAGE_ROOT): string | undefined {
  const bin = process.env.PODVISOR_JAIL_BINARY || path.join(root, 'host', 'out', 'podvisor-jail');
  try {
    fs.accessSync(bin, fs.constants.X_OK);
    return bin;
  } catch {
    return undefined;
  }
}

/**
 * The host user and group ids VM processes run as: VM_UID_COUNT ids from VM_UID_BASE
 * (0x70000000), a range no distribution or systemd allocates (systemd's container range ends at
 * 0x6fffffff), which no account of the host may use.
 */
export const VM_UID_BASE = 0x70000000;
/** How many host ids VM_UID_BASE starts (2^24). */
export const VM_UID_COUNT = 0x1000000;

/**
 * The host user (and group) id of the jailed processes of VM directory `dir`: one of the
 * reserved range, from a hash of the directory, so that two VMs seldom share one (two that do
 * share only what is bound to a uid, their jails keep the rest apart: mount, PID, IPC and
 * network namespaces of their own).
 */
export function vmUid(dir: string): number {
  const h = createHash('sha256').update(path.resolve(dir)).digest();
  return VM_UID_BASE + (h.readUInt32BE(0) % VM_UID_COUNT);
}

/**
 * The jail binary when VMs are jailed; undefined when they are not: PODVISOR_JAIL=0 (a choice
 * made for measuring, bench/jail.ts), or, with --unconfined-vms, a jail this host cannot give
 * (./policy.ts). Without that flag a missing jail binary or a daemon not run as root fails the
 * VM's start here, in words that name it and the fix.
 */
export function activeJail(): string | undefined {
  if (process.env.PODVISOR_JAIL === '0') return undefined;
  const givenUp = 'their jail (their own mount namespace and root, cgroup and capability bound)';
  if (process.getuid?.() !== 0) {
    confinementMissing('podvisord is not running as root', "a VM's jail needs root: run podvisord as root", givenUp);
    return undefined;
  }
  const bin = jailBinary();
  if (!bin)
    confinementMissing(
      `the jail binary ${process.env.PODVISOR_JAIL_BINARY || 'host/out/podvisor-jail'} is missing`,
      'build it with scripts/bootstrap.sh',
      givenUp,
    );
  return bin;
}

/** The host's QEMU firmware directories (microvm's bios is seabios's), read by every QEMU. */
const FIRMWARE_DIRS = ['/usr/share/qemu', '/usr/share/seabios'];
/** The host QEMU's module directory (its TCG accelerator is a module on Debian). */
const HOST_MODULE_DIR = '/usr/lib/x86_64-linux-gnu/qemu';
/** Device nodes every QEMU may open. */
const BASE_DEVICES = ['/dev/null', '/dev/zero', '/dev/urandom', '/dev/random'];

const programCache = new Map<string, string[]>();

/**
 * The files `program` needs, read-only: its binary, its data (`-L`) and module directories,
 * the firmware directories, and every library that it and its accelerator modules link (ldd,
 * once per binary and modification time).
 */
export function programFiles(program: QemuProgram): string[] {
  const st = fs.statSync(program.bin);
  const key = `${program.bin}@${st.mtimeMs}`;
  const cached = programCache.get(key);
  if (cached) return cached;
  const dataDirs = program.args.flatMap((a, i) => (program.args[i - 1] === '-L' ? [a] : []));
  const moduleDir = program.env?.QEMU_MODULE_DIR ?? HOST_MODULE_DIR;
  const modules = listDir(moduleDir)
    .filter((f) => /^accel-.*\.so$/.test(f))
    .map((f) => path.join(moduleDir, f));
  const libs = linkedLibraries([program.bin, ...modules]);
  const files = [program.bin, ...dataDirs, ...FIRMWARE_DIRS, moduleDir, ...libs].filter((p) => fs.existsSync(p));
  programCache.set(key, files);
  return files;
}

/** The shared libraries `files` (executables or libraries) link, with the dynamic loader (ldd). */
function linkedLibraries(files: string[]): string[] {
  const out = execFileSync('ldd', files, { encoding: 'utf8', timeout: 20_000 });
  return [...out.matchAll(/(\/[^\s:()]+)(?=\s|$)/g)].map((m) => m[1]).filter((p) => !p.endsWith(':'));
}

/**
 * The jail's arguments, before `--`, for one of a VM's helpers (its 9p lock holder, its
 * virtiofsd: ../processes/virtiofsd.ts): `dirs` read-write (its VM's `run/` and the shares it
 * serves), the binary `bin` and its libraries read-only, its own /proc/self and no other
 * process (it reopens its fds through /proc/self/fd), the VM's cgroup joined (when it has
 * one), `caps` kept; run as host user `uid` (the VM's: vmUid) when given, else as root.
 */
export function helperJailArgs(
  bin: string,
  dirs: string[],
  cgroupProcs: string[],
  caps: string[],
  uid?: number,
): string[] {
  const key = `${bin}@${fs.statSync(bin).mtimeMs}`;
  let files = programCache.get(key);
  if (!files) {
    files = [bin, ...linkedLibraries([bin])];
    programCache.set(key, files);
  }
  return [
    ...cgroupProcs.flatMap((f) => ['--cgroup', f]),
    ...dirs.flatMap((d) => ['--rw', d]),
    ...withoutNested(files, dirs).flatMap((p) => ['--ro', p]),
    '--dev',
    '/dev/null',
    '--proc',
    '--caps',
    caps.join(','),
    ...(uid === undefined ? [] : ['--uid', String(uid)]),
  ];
}

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * The jail's arguments for `program` in the jail of `spec`, before `--`: its paths, its
 * cgroup's cgroup.procs files (`cgroupProcs`), the capabilities it keeps, its VM's user.
 */
export function jailArgs(program: QemuProgram, spec: JailSpec, cgroupProcs: string[], caps: string[]): string[] {
  const devices = [...BASE_DEVICES, ...(spec.accel === 'kvm' ? ['/dev/kvm'] : [])].filter((d) => fs.existsSync(d));
  const vmDirs = jailedDirs(spec.paths);
  const rw = [...vmDirs.rw, ...(spec.readWrite ?? [])];
  const ro = [...vmDirs.ro, ...withoutNested([...programFiles(program), ...spec.readOnly], [...rw, ...vmDirs.ro])];
  return [
    ...cgroupProcs.flatMap((f) => ['--cgroup', f]),
    ...spec.taps.flatMap((t, i) => ['--tap', `${t}:${TAP_FD_BASE + i}`]),
    ...rw.flatMap((p) => ['--rw', p]),
    ...ro.flatMap((p) => ['--ro', p]),
    ...devices.flatMap((d) => ['--dev', d]),
    // Its 9p server sets modes through /proc/self/fd (fchmodat_nofollow on an O_PATH fd).
    '--proc',
    '--caps',
    caps.join(','),
    '--uid',
    String(vmUid(spec.paths.dir)),
  ];
}

/**
 * `paths` without duplicates and without those inside a directory of `paths` or of `also`
 * (bound already with it; a bind inside a read-only one could not be made).
 */
export function withoutNested(paths: string[], also: string[] = []): string[] {
  const unique = [...new Set(paths.map((p) => path.resolve(p)))];
  const dirs = [...unique, ...also.map((p) => path.resolve(p))].filter(isDirectory);
  return unique.filter((p) => !also.includes(p) && !dirs.some((d) => d !== p && p.startsWith(d + '/')));
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
