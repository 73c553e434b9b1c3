/**
 * /etc files of a container rootfs read and written from the host, through the rootfs mount
 * under the VM's share directory, before the guest has looked at them.
 *
 * Why: the hosts files (/etc/hostname, /etc/hosts, /etc/resolv.conf) and the user lookup
 * (/etc/passwd, /etc/group) are on the path of every `docker run`. Through the agent each
 * costs several virtio-fs round trips of guest work, slow under TCG; on the host it is a few
 * system calls. The agent stays the fallback for anything unusual.
 *
 * Safety: the rootfs is untrusted (image layers, and a writable layer a container wrote in
 * earlier runs), and so is the share directory it is mounted in: a guest root (another
 * container of the VM, which a new container joins) may rename or replace anything there, with
 * symlinks too, while the host writes. So nothing is opened by a path string: the root is
 * reached from the share directory one component at a time, none a symlink
 * (src/util/beneath.ts), then `etc` in the root so held and the file in `etc` so held, each
 * opened with O_NOFOLLOW and checked with fstat. Only the plain case is served here: `<root>/etc`
 * a real directory and the file absent or a regular file. Anything else (a symlinked
 * /etc/resolv.conf, as some images have, a FIFO, a missing root) answers FALLBACK, and the
 * caller asks the agent, which resolves symlinks inside the container's root.
 */
import * as fs from 'node:fs';
import { at, O_PATH, openBeneath, openChild, type BeneathPath } from '../../util/beneath';

/**
 * The files written into a container's /etc at each start (dockerd bind-mounts them from
 * outside the root filesystem instead, so `docker diff` never shows them).
 */
export const ETC_FILES_AT_START: readonly string[] = ['/etc/hostname', '/etc/hosts', '/etc/resolv.conf'];

/** "Ask the agent instead." */
export const FALLBACK = Symbol('fallback');

const { O_WRONLY, O_RDONLY, O_CREAT, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY, O_DIRECTORY } = fs.constants;

/** Whether an error says the entry is not there. */
const missing = (e: unknown) => (e as NodeJS.ErrnoException).code === 'ENOENT';

/**
 * The container's `/etc`, held open, when it is a real directory; FALLBACK otherwise (or for a
 * missing root); undefined when it does not exist (and `create` is not asked). With `create`,
 * a missing /etc is made (mode 0755): images built FROM scratch have none, and dockerd gives
 * every container one.
 */
async function openEtc(
  root: BeneathPath,
  create: boolean,
): Promise<fs.promises.FileHandle | undefined | typeof FALLBACK> {
  let r: fs.promises.FileHandle;
  try {
    r = await openBeneath(root);
  } catch {
    return FALLBACK;
  }
  try {
    try {
      return await openChild(r, 'etc', 'dir', O_PATH | O_DIRECTORY);
    } catch (e) {
      if (!missing(e)) return FALLBACK;
    }
    if (!create) return undefined;
    await fs.promises.mkdir(at(r, 'etc'), { mode: 0o755 }).catch(() => undefined);
    return await openChild(r, 'etc', 'dir', O_PATH | O_DIRECTORY).catch(() => FALLBACK);
  } finally {
    await r.close();
  }
}

/** lstat of `name` in the directory held as `dir`, or undefined when it does not exist. */
async function lstatIn(dir: fs.promises.FileHandle, name: string): Promise<fs.Stats | undefined> {
  try {
    return await fs.promises.lstat(at(dir, name));
  } catch (e) {
    if (missing(e)) return undefined;
    throw e;
  }
}

function checkName(name: string): void {
  if (!/^[A-Za-z0-9._-]+$/.test(name) || name === '.' || name === '..')
    throw new Error(`not a plain file name: ${name}`);
}

/**
 * Write `/etc/<name>` of the rootfs mounted at `root` (a path below the VM's share directory;
 * created or truncated, then `mode`). Resolves true when done, FALLBACK when the agent must do it.
 */
export async function writeEtcFile(
  root: BeneathPath,
  name: string,
  data: Buffer,
  mode: number,
): Promise<true | typeof FALLBACK> {
  checkName(name);
  try {
    const etc = await openEtc(root, true);
    if (etc === FALLBACK || etc === undefined) return FALLBACK;
    try {
      const st = await lstatIn(etc, name);
      if (st && !st.isFile()) return FALLBACK;
      const fh = await fs.promises.open(at(etc, name), O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, mode);
      try {
        if (!(await fh.stat()).isFile()) return FALLBACK;
        await fh.truncate(0);
        await fh.chmod(mode);
        await fh.writeFile(data);
      } finally {
        await fh.close();
      }
    } finally {
      await etc.close();
    }
    return true;
  } catch {
    return FALLBACK;
  }
}

/**
 * Read `/etc/<name>` of the rootfs mounted at `root` (a path below the VM's share directory):
 * its text, undefined when it does not exist (or /etc does not), FALLBACK when the agent must
 * read it. Larger than `maxBytes`: FALLBACK too (the agent then answers its own error).
 */
export async function readEtcFile(
  root: BeneathPath,
  name: string,
  maxBytes: number,
): Promise<string | undefined | typeof FALLBACK> {
  checkName(name);
  try {
    const etc = await openEtc(root, false);
    if (etc === FALLBACK || etc === undefined) return etc;
    try {
      const st = await lstatIn(etc, name);
      if (!st) return undefined;
      if (!st.isFile()) return FALLBACK;
      const fh = await fs.promises.open(at(etc, name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
      try {
        const fst = await fh.stat();
        if (!fst.isFile() || fst.size > maxBytes) return FALLBACK;
        const buf = Buffer.alloc(fst.size);
        const { bytesRead } = await fh.read(buf, 0, fst.size, 0);
        return buf.subarray(0, bytesRead).toString('utf8');
      } finally {
        await fh.close();
      }
    } finally {
      await etc.close();
    }
  } catch {
    return FALLBACK;
  }
}
