/**
 * The runtime directory of one VM, `<execRoot>/vms/<id>/` (its record `vm.json`: ./vm-record.ts).
 *
 * It is split by who may write there (docs/architecture.md, "QEMU confinement"). The directory
 * itself and what sits directly in it are the daemon's alone; no jailed process has it bound
 * (its jails hold `run/`, the shares and `disks/` only, each a mount root there, so none can be
 * renamed or swapped from inside a jail):
 *   vm.json         pids, size, devices and boot configuration, so a restarted daemon can adopt the VM
 *   volumes.key     the secret naming bind copies in `volumes/` (src/pod/mounts/mounts.ts)
 *   share/          the directory virtiofsd serves (read-write in its jail and a clone's QEMU's);
 *                   the guest sees it at /run/podvisor/share
 *   volumes/        the volume share, when the VM has one (src/vm/devices/volume-share.ts)
 *   disks/          where a file QEMU opens by QMP is bound for the moment of the open
 *                   (read-only in QEMU's jail: ./confinement/jail-mounts.ts)
 *   run/            what QEMU and its helpers write (read-write in their jails), so what the
 *                   daemon reads there only through ../../util/jailed-files.ts:
 *     ctl.sock        agent control channel (QEMU listens; virtio-serial port org.podvisor.ctl)
 *     io.sock         agent stream channel (org.podvisor.io)
 *     qmp.sock        QEMU's QMP monitor (pause, resume, quit)
 *     locks.sock, locks.log   9p locks the guest takes on the host (org.podvisor.locks; a
 *                     clone's lock holder connects: src/vm/qemu/processes/lock-holder.ts)
 *     virtiofsd.sock  vhost-user socket between QEMU and this VM's virtiofsd
 *     volumes.sock, volumes-virtiofsd.log   the volume share's virtiofsd
 *     console.log     the guest's serial console (kernel messages, agent's `podvisor-agent:` lines)
 *     qemu.log        QEMU's own stdout/stderr
 *     virtiofsd.log   virtiofsd's stdout/stderr
 *     ram, state.sock a restored VM's own RAM file, a checkpoint's migration socket
 * A VM started by a podvisor before this split (no `run/`: layout 'flat') has all of these
 * directly in its directory, which its QEMU can write: it is still adopted, with the record's
 * every field checked against what the daemon derives itself (./adopt.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Paths inside one VM's runtime directory. */
export interface VmPaths {
  /** 'split' (this build's VMs), or 'flat' (a VM an earlier build started, adopted). */
  layout: VmLayout;
  dir: string;
  /** What QEMU and its helpers write (read-write in their jails); `dir` itself in a flat one. */
  runDir: string;
  /** Mount points of the files QEMU opens by QMP (read-only in its jail); `dir` in a flat one. */
  disksDir: string;
  ctlSock: string;
  ioSock: string;
  qmpSock: string;
  locksSock: string;
  locksLog: string;
  virtiofsdSock: string;
  shareDir: string;
  consoleLog: string;
  qemuLog: string;
  virtiofsdLog: string;
  volumesSock: string;
  volumesDir: string;
  volumesLog: string;
  /** A restored VM's own RAM file. */
  ramFile: string;
  /** Where a checkpoint's state is sent (the daemon listens, QEMU connects). */
  stateSock: string;
  volumesKey: string;
  record: string;
}

/** How a VM's runtime directory is laid out (see the module comment). */
export type VmLayout = 'split' | 'flat';

/** Directory holding every VM's runtime directory. */
export function vmsRoot(execRoot: string): string {
  return path.join(execRoot, 'vms');
}

/** The layout of VM `id`'s runtime directory. */
export function vmPaths(execRoot: string, id: string): VmPaths {
  return vmPathsAt(path.join(vmsRoot(execRoot), id));
}

/** The same layout in directory `dir` (a template's, under templates.ts's root); `flat` for an earlier build's VM. */
export function vmPathsAt(dir: string, layout: VmLayout = 'split'): VmPaths {
  const run = layout === 'split' ? path.join(dir, 'run') : dir;
  return {
    layout,
    dir,
    runDir: run,
    disksDir: layout === 'split' ? path.join(dir, 'disks') : dir,
    ctlSock: path.join(run, 'ctl.sock'),
    ioSock: path.join(run, 'io.sock'),
    qmpSock: path.join(run, 'qmp.sock'),
    locksSock: path.join(run, 'locks.sock'),
    locksLog: path.join(run, 'locks.log'),
    virtiofsdSock: path.join(run, 'virtiofsd.sock'),
    shareDir: path.join(dir, 'share'),
    consoleLog: path.join(run, 'console.log'),
    qemuLog: path.join(run, 'qemu.log'),
    virtiofsdLog: path.join(run, 'virtiofsd.log'),
    volumesSock: path.join(run, 'volumes.sock'),
    volumesDir: path.join(dir, 'volumes'),
    volumesLog: path.join(run, 'volumes-virtiofsd.log'),
    ramFile: path.join(run, 'ram'),
    stateSock: path.join(run, 'state.sock'),
    volumesKey: path.join(dir, 'volumes.key'),
    record: path.join(dir, 'vm.json'),
  };
}

/**
 * Make the daemon's part of a new VM's directory: `dir` itself, `run/` and `disks/` (0700,
 * before any process of the VM runs), `share/` (and `volumes/` when `volumes`).
 */
export function makeRuntimeDir(paths: VmPaths, volumes: boolean): void {
  fs.mkdirSync(paths.dir, { mode: 0o700 });
  fs.mkdirSync(paths.runDir, { mode: 0o700 });
  fs.mkdirSync(paths.disksDir, { mode: 0o700 });
  fs.mkdirSync(paths.shareDir, { mode: 0o755 });
  if (volumes) fs.mkdirSync(paths.volumesDir, { mode: 0o755 });
}

/**
 * The layout of an existing VM directory: 'split' when it has a `run/` directory (not a
 * symlink), else 'flat' (an earlier build's, or none at all).
 */
export function layoutOf(dir: string): VmLayout {
  try {
    return fs.lstatSync(path.join(dir, 'run')).isDirectory() ? 'split' : 'flat';
  } catch {
    return 'flat';
  }
}

/**
 * The directories of a VM that its jailed processes get, read-write (`run/`, its shares that
 * exist) and read-only (`disks/`), each bound on its own: the VM directory holding them is
 * never in a jail.
 */
export function jailedDirs(paths: VmPaths): { rw: string[]; ro: string[] } {
  if (paths.layout === 'flat') return { rw: [paths.dir], ro: [] };
  const shares = [paths.shareDir, paths.volumesDir].filter((d) => fs.existsSync(d));
  return { rw: [paths.runDir, ...shares], ro: [paths.disksDir] };
}

/** Ids are what we generate (hex) so they are safe as path components and short for sockets. */
export function isValidVmId(id: string): boolean {
  return /^[0-9a-f]{8,64}$/.test(id);
}
