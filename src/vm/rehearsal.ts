/**
 * Container rehearsal: a warming step for VMs the pool boots in the background, so the VM a
 * user's `docker run` gets has already run a container once.
 *
 * Why: under TCG every guest kernel path runs slowly the first time, while QEMU translates it
 * (namespaces, mounts, virtio-fs lookups, fork and exec, ptys). Measured on one fresh VM: the
 * first container's createContainer ~135 ms and `true` ~95 ms, the next containers' 8-30 ms
 * and ~45 ms. A rehearsal pays the first-time cost while the VM is idle in the pool.
 *
 * What one rehearsal does, mirroring the pod start path (src/pod/lifecycle/runtime.ts) and exec:
 *   1. a throwaway rootfs (static busybox, /etc/passwd, /etc/group) is created on the host as
 *      `containers/rehearsal-<n>/rootfs` under the VM's share directory (a plain directory, no
 *      mount);
 *   2. createContainer with a hostname (mount + UTS namespaces), /etc/hostname, /etc/hosts,
 *      /etc/resolv.conf written and /etc/passwd, /etc/group read, all at once as the pod
 *      layer does; the default seccomp filter set (RehearsalOptions.seccomp: the agent keeps
 *      the compiled program for the next container asking for the same);
 *   3. an init `ls -la /` with stdin closed and /tmp as its working directory, to its exit: the
 *      first thing many containers do is list or stat files of their rootfs from a WORKDIR
 *      and write to stdout, and this warms those kernel paths (9p readdir, getattr and
 *      readlink, a pipe write, the agent's read of the init's pipe into a stream frame), which
 *      an init `true` never ran. Measured: the first cold `ls -a` in a rehearsed
 *      VM translated ~2,560 blocks of code with `true` here and ~2,100 with `ls`, against
 *      ~1,760 for the same binary once the kernel paths are warm;
 *   4. an init `cat` with stdin open, an exec `true` into it without and with a terminal, then
 *      the init's stdin closed, to its exit;
 *   5. destroyContainer (the agent kills and reaps everything of the container and drops its
 *      namespaces), then the throwaway directory is removed on the host.
 * A VM with an upper disk (block mode) rehearses on one (RehearsalDisks): a fresh empty disk
 * is put behind the device before step 2 and the container's writable layer is on it, as a
 * block-mode container's; after step 5 the placeholder goes back and the file is removed.
 *
 * Afterwards the guest holds no container, process, mount namespace or file of the rehearsal
 * (its namespaces lived only through the agent's fds and its processes); the user's container
 * later gets its own namespaces on its own rootfs, so it could not see them anyway. What stays
 * is what we want: QEMU's translated code for those kernel paths and the guest's warm slab and
 * dentry caches.
 *
 * A failed rehearsal rejects; the pool then discards that VM (see CachedFactory's `warm`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AgentProcess, ProcessSpec, SeccompFilter, Vm } from './types';
import { UnavailableError } from '../errors';
import { logger } from '../util/log';

const log = logger('rehearsal');

/** Applets the rehearsal runs (symlinks to busybox in the throwaway rootfs). */
const APPLETS = ['true', 'cat', 'sh', 'ls'];
/** Files a rehearsal writes, as the pod layer does for every container. */
const HOST_FILES: Array<[string, string]> = [
  ['/etc/hostname', 'rehearsal\n'],
  ['/etc/hosts', '127.0.0.1\tlocalhost\n127.0.1.1\trehearsal\n'],
  ['/etc/resolv.conf', ''],
];
const ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOSTNAME=rehearsal', 'HOME=/root'];

/** True when `file` is an ELF executable without a program interpreter (statically linked). */
export function isStaticElf(file: string): boolean {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const hdr = Buffer.alloc(64);
    if (fs.readSync(fd, hdr, 0, 64, 0) < 64) return false;
    if (hdr.readUInt32BE(0) !== 0x7f454c46 || hdr[4] !== 2 /* 64-bit */ || hdr[5] !== 1 /* little endian */)
      return false;
    const phoff = Number(hdr.readBigUInt64LE(0x20));
    const phentsize = hdr.readUInt16LE(0x36);
    const phnum = hdr.readUInt16LE(0x38);
    if (phentsize < 4 || phnum === 0 || phnum > 256) return false;
    const ph = Buffer.alloc(phentsize * phnum);
    if (fs.readSync(fd, ph, 0, ph.length, phoff) < ph.length) return false;
    for (let i = 0; i < phnum; i++) if (ph.readUInt32LE(i * phentsize) === 3 /* PT_INTERP */) return false;
    return true;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * Upper disks for rehearsals (block mode: docs/design/storage.md). A VM with an upper disk
 * rehearses on one of its own, so that the ext4 mount, its journal and the overlay on it
 * (paths a block-mode container's start and stop take) are translated before a user's
 * container needs them. Each rehearsal gets a fresh file: two guests never share one.
 */
export interface RehearsalDisks {
  /** Make an empty upper disk (the device's size) named after `name`; its host path. */
  make(name: string): Promise<string>;
  /** Remove a disk `make` made (nothing if it is gone). */
  remove(file: string): Promise<void>;
}

/** Where the rehearsal gets its busybox. */
export interface RehearsalOptions {
  /** A statically linked busybox on the host (default /bin/busybox, Debian's busybox-static). */
  busybox?: string;
  /**
   * The seccomp filter most containers start with (the default profile with the default
   * capabilities): the rehearsal's container gets it, and the agent keeps the compiled program
   * for the user's container that asks for the same (compiling it costs ~0.2 s under TCG).
   */
  seccomp?: SeccompFilter;
  /** Upper disks for VMs that have the device (block mode); without: those rehearse without one. */
  disks?: RehearsalDisks;
}

/** Rehearses a container in idle VMs (see the module comment). */
export class Rehearsal {
  private seq = 0;

  private constructor(
    private readonly busybox: string,
    private readonly seccomp: SeccompFilter | undefined,
    private readonly disks: RehearsalDisks | undefined,
  ) {}

  /**
   * A Rehearsal, or undefined (with a warning saying why) when no static busybox is there to
   * build its throwaway rootfs from: the pool then hands out VMs unrehearsed.
   */
  static create(opts: RehearsalOptions = {}): Rehearsal | undefined {
    const busybox = opts.busybox ?? '/bin/busybox';
    if (!isStaticElf(busybox)) {
      log.warn(
        `no statically linked busybox at ${busybox} (apt-get install busybox-static): pool VMs are not rehearsed, first containers start slower`,
      );
      return undefined;
    }
    return new Rehearsal(busybox, opts.seccomp, opts.disks);
  }

  /** Run one rehearsal in `vm` (idle, no container) and leave it idle and clean. */
  async rehearse(vm: Vm): Promise<void> {
    const t0 = Date.now();
    const id = `rehearsal-${++this.seq}`;
    const rel = `containers/${id}/rootfs`;
    const dir = path.join(vm.shareDir, 'containers', id);
    let created = false;
    let disk: string | undefined;
    try {
      await this.buildRootfs(path.join(dir, 'rootfs'));
      const agent = vm.agent;
      const upper = vm.devices.upperDisk;
      if (upper && this.disks && vm.attachUpperDisk) {
        disk = await this.disks.make(`${vm.id}-${id}`);
        await vm.attachUpperDisk(disk);
      }
      await agent.createContainer({
        id,
        rootfs: rel,
        hostname: 'rehearsal',
        ...(disk ? { upperDisk: upper?.guestName } : {}),
      });
      created = true;
      // The filter most containers get: the agent compiles it now and keeps it for them.
      if (this.seccomp) await agent.setSeccomp(id, this.seccomp, { ifSupported: true });
      await Promise.all([
        agent.readFile(id, '/etc/passwd', 1 << 20),
        agent.readFile(id, '/etc/group', 1 << 20),
        ...HOST_FILES.map(([p, content]) => agent.writeFile(id, p, Buffer.from(content), 0o644)),
      ]);
      const ls = spec(id, `${id}-a`, ['ls', '-la', '/'], false, false);
      await finish(await agent.startProcess({ ...ls, cwd: '/tmp' }), 'init ls');
      const init = await agent.startProcess(spec(id, `${id}-b`, ['cat'], false, true));
      init.stdout.resume();
      init.stderr?.resume();
      await finish(await agent.startProcess(spec(id, `${id}-c`, ['true'], false, false)), 'exec true');
      await finish(await agent.startProcess(spec(id, `${id}-d`, ['true'], true, false)), 'exec true with a terminal');
      init.stdin?.end();
      await finish(init, 'init cat');
      created = false;
      await agent.destroyContainer(id);
      log.debug(`VM ${vm.id} rehearsed a container in ${Date.now() - t0} ms`);
    } finally {
      if (created) await vm.agent.destroyContainer(id).catch(() => undefined);
      try {
        // The VM goes back to the pool with the placeholder behind its disk, as after a pod.
        if (disk) await vm.detachUpperDisk?.();
      } finally {
        if (disk) await this.disks?.remove(disk);
        await fs.promises.rm(dir, { recursive: true, force: true });
      }
    }
  }

  /** bin/busybox with a few applet links, /etc/passwd and /etc/group, /tmp. */
  private async buildRootfs(root: string): Promise<void> {
    await fs.promises.mkdir(path.join(root, 'bin'), { recursive: true });
    await fs.promises.mkdir(path.join(root, 'etc'));
    await fs.promises.mkdir(path.join(root, 'tmp'), { mode: 0o1777 });
    await fs.promises.copyFile(this.busybox, path.join(root, 'bin', 'busybox'), fs.constants.COPYFILE_FICLONE);
    await fs.promises.chmod(path.join(root, 'bin', 'busybox'), 0o755);
    await Promise.all(APPLETS.map((a) => fs.promises.symlink('busybox', path.join(root, 'bin', a))));
    await fs.promises.writeFile(path.join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    await fs.promises.writeFile(path.join(root, 'etc', 'group'), 'root:x:0:\n');
  }
}

/**
 * The pool's warming step (CachedFactory's `warm`, as the daemon and bench:vm use it): one
 * rehearsal when there is a Rehearsal (no static busybox: none), then `ready` (block mode: a
 * fresh disk mounted ahead, src/daemon/ready-disks.ts), then the idle VM's memory trim
 * (Vm.trimIdleMemory), last so that it also gives back what the rehearsal left zeroed. The
 * trim never rejects, and `ready` must not either, so only a failed rehearsal fails the step.
 */
export function poolWarmStep(
  rehearsal: Rehearsal | undefined,
  ready?: (vm: Vm) => Promise<void>,
): (vm: Vm) => Promise<void> {
  return async (vm) => {
    if (rehearsal) await rehearsal.rehearse(vm);
    await ready?.(vm);
    await vm.trimIdleMemory();
  };
}

function spec(containerId: string, processId: string, args: string[], terminal: boolean, stdin: boolean): ProcessSpec {
  return {
    containerId,
    processId,
    args,
    env: terminal ? [...ENV, 'TERM=xterm'] : ENV,
    cwd: '/',
    user: { uid: 0, gid: 0, additionalGids: [] },
    terminal,
    stdin,
    ...(terminal ? { rows: 24, cols: 80 } : {}),
  };
}

/** Drain a process's output and wait for its exit; a non-zero exit is a failed rehearsal. */
async function finish(p: AgentProcess, what: string): Promise<void> {
  p.stdout.resume();
  p.stderr?.resume();
  const st = await p.exited;
  if (st.exitCode !== 0) throw new UnavailableError(`rehearsal ${what} exited with ${st.exitCode}`);
}
