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
 * earlier runs). Only the plain case is served here: `<root>/etc` a real directory and the
 * file absent or a regular file, none of them a symlink (checked with lstat, then opened with
 * O_NOFOLLOW and checked again with fstat). Anything else (a symlinked /etc/resolv.conf, as
 * some images have, a FIFO, a missing root) answers FALLBACK, and the caller asks the agent,
 * which resolves symlinks inside the container's root. Nothing else changes the rootfs
 * meanwhile: no process of the container runs yet.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The files written into a container's /etc at each start (dockerd bind-mounts them from
 * outside the root filesystem instead, so `docker diff` never shows them).
 */
export const ETC_FILES_AT_START: readonly string[] = ['/etc/hostname', '/etc/hosts', '/etc/resolv.conf'];

/** "Ask the agent instead." */
export const FALLBACK = Symbol('fallback');

const { O_WRONLY, O_RDONLY, O_CREAT, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY } = fs.constants;

/** lstat, or undefined when the path does not exist. */
async function lstatOrNone(p: string): Promise<fs.Stats | undefined> {
  try {
    return await fs.promises.lstat(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * `<root>/etc` when it is a real directory, FALLBACK otherwise (or for a missing root). With
 * `create`, a missing /etc is made (mode 0755): images built FROM scratch have none, and
 * dockerd gives every container one.
 */
async function etcDir(root: string, create = false): Promise<string | typeof FALLBACK> {
  const r = await lstatOrNone(root);
  if (!r?.isDirectory()) return FALLBACK;
  const etc = path.join(root, 'etc');
  let st = await lstatOrNone(etc);
  if (!st && create) {
    await fs.promises.mkdir(etc, { mode: 0o755 }).catch(() => undefined);
    st = await lstatOrNone(etc);
  }
  return st?.isDirectory() ? etc : FALLBACK;
}

function checkName(name: string): void {
  if (!/^[A-Za-z0-9._-]+$/.test(name) || name === '.' || name === '..')
    throw new Error(`not a plain file name: ${name}`);
}

/**
 * Write `/etc/<name>` of the rootfs mounted at `root` (created or truncated, then `mode`).
 * Resolves true when done, FALLBACK when the agent must do it.
 */
export async function writeEtcFile(
  root: string,
  name: string,
  data: Buffer,
  mode: number,
): Promise<true | typeof FALLBACK> {
  checkName(name);
  try {
    const etc = await etcDir(root, true);
    if (etc === FALLBACK) return FALLBACK;
    const file = path.join(etc, name);
    const st = await lstatOrNone(file);
    if (st && !st.isFile()) return FALLBACK;
    const fh = await fs.promises.open(file, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, mode);
    try {
      if (!(await fh.stat()).isFile()) return FALLBACK;
      await fh.truncate(0);
      await fh.chmod(mode);
      await fh.writeFile(data);
    } finally {
      await fh.close();
    }
    return true;
  } catch {
    return FALLBACK;
  }
}

/**
 * Read `/etc/<name>` of the rootfs mounted at `root`: its text, undefined when it does not
 * exist (or /etc does not), FALLBACK when the agent must read it. Larger than `maxBytes`:
 * FALLBACK too (the agent then answers its own error).
 */
export async function readEtcFile(
  root: string,
  name: string,
  maxBytes: number,
): Promise<string | undefined | typeof FALLBACK> {
  checkName(name);
  try {
    const r = await lstatOrNone(root);
    if (!r?.isDirectory()) return FALLBACK;
    const etcSt = await lstatOrNone(path.join(root, 'etc'));
    if (!etcSt) return undefined;
    if (!etcSt.isDirectory()) return FALLBACK;
    const file = path.join(root, 'etc', name);
    const st = await lstatOrNone(file);
    if (!st) return undefined;
    if (!st.isFile()) return FALLBACK;
    const fh = await fs.promises.open(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    try {
      const fst = await fh.stat();
      if (!fst.isFile() || fst.size > maxBytes) return FALLBACK;
      const buf = Buffer.alloc(fst.size);
      const { bytesRead } = await fh.read(buf, 0, fst.size, 0);
      return buf.subarray(0, bytesRead).toString('utf8');
    } finally {
      await fh.close();
    }
  } catch {
    return FALLBACK;
  }
}
