/**
 * Container rehearsal: a warming step for VMs the pool boots in the background, so the VM a
 * user's `docker run` gets has already run a container once.
 *
 * Why: under TCG every guest kernel path runs slowly the first time, while QEMU translates it
 * (namespaces, mounts, virtio-fs lookups, fork and exec, ptys). Measured on one fresh VM: the
 * first container's createContainer ~135 ms and `true` ~95 ms, the next containers' 8-30 ms
 * and ~45 ms. A rehearsal pays the first-time cost while the VM is idle in the pool.
 *
 * What one rehearsal does, mirroring the pod start path (src/pod/runtime.ts) and exec:
 *   1. a throwaway rootfs (static busybox, /etc/passwd, /etc/group) is created on the host as
 *      `containers/rehearsal-<n>/rootfs` under the VM's share directory (a plain directory, no
 *      mount);
 *   2. createContainer with a hostname (mount + UTS namespaces), /etc/hostname, /etc/hosts,
 *      /etc/resolv.conf written and /etc/passwd, /etc/group read, all at once as the pod
 *      layer does;
 *   3. an init `ls -la /` with stdin closed and /tmp as its working directory, to its exit: the
 *      first thing many containers do is list or stat files of their rootfs from a WORKDIR
 *      and write to stdout, and this warms those kernel paths (9p readdir, getattr and
 *      readlink, a pipe write, the agent's read of the init's pipe into a stream frame), which
 *      an init `true` never ran. Measured (issue 27): the first cold `ls -a` in a rehearsed
 *      VM translated ~2,560 blocks of code with `true` here and ~2,100 with `ls`, against
 *      ~1,760 for the same binary once the kernel paths are warm;
 *   4. an init `cat` with stdin open, an exec `true` into it without and with a terminal, then
 *      the init's stdin closed, to its exit;
 *   5. destroyContainer (the agent kills and reaps everything of the container and drops its
 *      namespaces), then the throwaway directory is removed on the host.
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
import type { AgentProcess, ProcessSpec, Vm } from './types';
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

/** Where the rehearsal gets its busybox. */
export interface RehearsalOptions {
  /** A statically linked busybox on the host (default /bin/busybox, Debian's busybox-static). */
  busybox?: string;
}

/** Rehearses a container in idle VMs (see the module comment). */
export class Rehearsal {
  private seq = 0;

  private constructor(private readonly busybox: string) {}

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
    return new Rehearsal(busybox);
  }

  /** Run one rehearsal in `vm` (idle, no container) and leave it idle and clean. */
  async rehearse(vm: Vm): Promise<void> {
    const t0 = Date.now();
    const id = `rehearsal-${++this.seq}`;
    const rel = `containers/${id}/rootfs`;
    const dir = path.join(vm.shareDir, 'containers', id);
    let created = false;
    try {
      await this.buildRootfs(path.join(dir, 'rootfs'));
      const agent = vm.agent;
      await agent.createContainer({ id, rootfs: rel, hostname: 'rehearsal' });
      created = true;
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
      await fs.promises.rm(dir, { recursive: true, force: true });
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
 * rehearsal when there is a Rehearsal (no static busybox: none), then the idle VM's memory
 * trim (Vm.trimIdleMemory), last so that it also gives back what the rehearsal left zeroed.
 * The trim never rejects, so only a failed rehearsal fails the step.
 */
export function poolWarmStep(rehearsal: Rehearsal | undefined): (vm: Vm) => Promise<void> {
  return async (vm) => {
    if (rehearsal) await rehearsal.rehearse(vm);
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
