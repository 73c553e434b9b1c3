/**
 * Paths below a directory the host owns whose every component a guest may write (a VM's
 * share directories: a guest root can rename, remove and replace anything in them, with
 * symlinks too, at any moment), resolved without ever following a symlink.
 *
 * The host holds the root open and walks down one component at a time, each looked up through
 * `/proc/<pid>/fd/<fd>/<name>` of the directory it holds (the kernel follows the fd's magic
 * link to the very directory that was opened: an openat(2) in effect), opened with O_NOFOLLOW
 * and checked with fstat. A component that is a symlink, or of the wrong kind, fails the walk
 * (SharePathError); `..`, `.` and empty components are refused before. Missing directories
 * (and a missing last file) are made on the way when asked, with no-follow calls (mkdir, and
 * open with O_CREAT|O_EXCL). Mounts go onto what was opened: a mount(2) or move_mount(2)
 * given `/proc/<pid>/fd/<fd>` (fdPath) lands on the directory or file the fd holds, wherever
 * the guest moved it meanwhile; an unmount names the mount point by its held parent and its
 * last name with UMOUNT_NOFOLLOW (unmountBeneath).
 *
 * The paths work in child processes too (the mount helper): root may read another process's
 * fds through /proc.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Mounter } from './mounter';

/** open(2)'s O_PATH (the same value on x86_64 and arm64): a handle on the file, no I/O. */
export const O_PATH = 0o10000000;

const { O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY, O_CREAT, O_EXCL, O_WRONLY } = fs.constants;

/**
 * How a root is opened: by its name, but never through a symlink as its last component (a
 * share root of a VM an earlier build started is in a directory its QEMU writes:
 * src/vm/qemu/runtime-dir.ts).
 */
export const ROOT_FLAGS = fs.constants.O_RDONLY | O_DIRECTORY | O_NOFOLLOW;

/** A path `rel` below `root`: root is the host's own, every component of rel the guest's. */
export interface BeneathPath {
  /** A directory the host made and only the host names (a VM's share directory). */
  root: string;
  /** Relative path below root, `/`-separated, without `.`, `..` or empty components. */
  rel: string;
}

/** A component of a path below a share that cannot be used. */
export class SharePathError extends Error {
  constructor(
    readonly where: string,
    why: string,
    readonly code?: string,
  ) {
    super(`${where}: ${why}`);
  }
}

/** The path through which the kernel reaches `name` inside the directory open as `dir` (or `dir` itself). */
export function at(dir: fs.promises.FileHandle, name?: string): string {
  return name === undefined ? `/proc/${process.pid}/fd/${dir.fd}` : `/proc/${process.pid}/fd/${dir.fd}/${name}`;
}

/** What the fd of `fh` reaches, for a mount or an unmount (`/proc/<pid>/fd/<fd>`). */
export function fdPath(fh: fs.promises.FileHandle): string {
  return at(fh);
}

/** The path a BeneathPath stands for (for messages and for comparisons with mountinfo). */
export function joinBeneath(p: BeneathPath): string {
  return path.join(p.root, p.rel);
}

/** The components of `rel`; throws SharePathError for `.`, `..`, empty or NUL-bearing ones. */
export function relComponents(rel: string): string[] {
  const parts = rel.split('/');
  for (const c of parts)
    if (c === '' || c === '.' || c === '..' || c.includes('\0'))
      throw new SharePathError(rel, 'not a plain relative path', 'EINVAL');
  return parts;
}

/**
 * The kind a walk wants at the end ('any': a directory or a regular file; 'socket': a unix
 * socket, opened with O_PATH; 'node': anything but a symlink, for the caller to check).
 */
export type BeneathKind = 'dir' | 'file' | 'any' | 'socket' | 'node';

/** Options of openBeneath. */
export interface OpenBeneathOptions {
  /** What the last component must be (default 'dir'). */
  kind?: BeneathKind;
  /** Make missing directories on the way (and the last one: a directory, or an empty file). */
  create?: boolean;
  /** Mode of directories made on the way (default 0700). */
  dirMode?: number;
  /** Mode of the last component when made (default dirMode, or 0600 for a file). */
  mode?: number;
  /**
   * open(2) flags of the last component (default O_PATH). O_NOFOLLOW is always added, and
   * O_NONBLOCK|O_NOCTTY unless O_PATH (a FIFO the guest put there cannot block the host).
   */
  flags?: number;
}

function kindOf(st: fs.Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFile()) return 'a regular file';
  if (st.isSymbolicLink()) return 'a symlink';
  return 'a special file';
}

function wrongKind(st: fs.Stats, want: BeneathKind): boolean {
  if (want === 'dir') return !st.isDirectory();
  if (want === 'file') return !st.isFile();
  if (want === 'socket') return !st.isSocket();
  if (want === 'node') return st.isSymbolicLink();
  return !st.isDirectory() && !st.isFile();
}

/**
 * Open `name` in the directory `dir` holds, never following a symlink there, and check its
 * kind with fstat (SharePathError otherwise; ENOENT passes through as the system's error).
 */
export async function openChild(
  dir: fs.promises.FileHandle,
  name: string,
  kind: BeneathKind,
  flags: number = O_PATH,
): Promise<fs.promises.FileHandle> {
  relComponents(name);
  if (name.includes('/')) throw new SharePathError(name, 'not a single name', 'EINVAL');
  const extra = flags & O_PATH ? 0 : O_NONBLOCK | O_NOCTTY;
  const wantDir = kind === 'dir' ? O_DIRECTORY : 0;
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(at(dir, name), flags | O_NOFOLLOW | extra | wantDir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'ENOTDIR') throw new SharePathError(name, 'a symlink or not a directory', code);
    throw e;
  }
  try {
    const st = await fh.stat();
    if (wrongKind(st, kind)) throw new SharePathError(name, `${kindOf(st)} where the host wants another kind`);
  } catch (e) {
    await fh.close();
    throw e;
  }
  return fh;
}

/** openChild, making the entry first when missing (mkdir, or an exclusive create). */
async function openOrMake(
  dir: fs.promises.FileHandle,
  name: string,
  kind: BeneathKind,
  flags: number,
  mode: number | undefined,
): Promise<fs.promises.FileHandle> {
  try {
    return await openChild(dir, name, kind, flags);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || mode === undefined || kind === 'any' || kind === 'node')
      throw e;
  }
  try {
    if (kind === 'dir') await fs.promises.mkdir(at(dir, name), { mode });
    // O_CREAT|O_EXCL never follows a symlink, nor opens anything that was there.
    else await (await fs.promises.open(at(dir, name), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode)).close();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  return openChild(dir, name, kind, flags);
}

/**
 * Open `p` (see the module comment): a handle on its last component, of the kind asked, opened
 * with `flags` (O_PATH by default). Rejects with SharePathError when a component is a symlink
 * or not a directory, with the system's error (ENOENT...) otherwise.
 */
export async function openBeneath(p: BeneathPath, opts: OpenBeneathOptions = {}): Promise<fs.promises.FileHandle> {
  const parts = relComponents(p.rel);
  const kind = opts.kind ?? 'dir';
  const dirMode = opts.dirMode ?? 0o700;
  let cur = await fs.promises.open(p.root, ROOT_FLAGS);
  try {
    for (let i = 0; i < parts.length; i++) {
      const last = i === parts.length - 1;
      const mode = opts.create ? (last ? (opts.mode ?? (kind === 'file' ? 0o600 : dirMode)) : dirMode) : undefined;
      const next = await openOrMake(
        cur,
        parts[i],
        last ? kind : 'dir',
        last ? (opts.flags ?? O_PATH) : O_PATH | O_DIRECTORY,
        mode,
      );
      await cur.close();
      cur = next;
    }
    return cur;
  } catch (e) {
    await cur.close().catch(() => undefined);
    if (e instanceof SharePathError) throw new SharePathError(joinBeneath(p), e.message, e.code);
    throw e;
  }
}

/** The id of the mount an open fd is on (/proc/self/fdinfo's mnt_id). */
export async function mountIdOf(fh: fs.promises.FileHandle): Promise<number> {
  const info = await fs.promises.readFile(`/proc/self/fdinfo/${fh.fd}`, 'utf8');
  const m = /^mnt_id:\s*(\d+)$/m.exec(info);
  if (!m) throw new Error(`no mnt_id in /proc/self/fdinfo/${fh.fd}`);
  return Number(m[1]);
}

/** The mount options (`rw,nosuid,...`) of mount `id` of this process's namespace, undefined when gone. */
export async function mountOptionsOf(id: number): Promise<string[] | undefined> {
  const info = await fs.promises.readFile('/proc/self/mountinfo', 'utf8');
  for (const line of info.split('\n')) {
    const f = line.split(' ');
    if (f[0] === String(id)) return (f[5] ?? '').split(',');
  }
  return undefined;
}

/**
 * The directory holding `p`'s last component, walked to as openBeneath does and held (the
 * share root itself for a one-component path), with that last name. Rejects as openBeneath.
 */
export async function openParentBeneath(p: BeneathPath): Promise<{ parent: fs.promises.FileHandle; name: string }> {
  const parts = relComponents(p.rel);
  const parentRel = parts.slice(0, -1).join('/');
  const parent = parentRel
    ? await openBeneath({ root: p.root, rel: parentRel })
    : await fs.promises.open(p.root, ROOT_FLAGS);
  return { parent, name: parts[parts.length - 1] };
}

/**
 * Whether the last component of `p` is a mount point now (the root of a mount other than its
 * parent's), looked up as openBeneath does; the handle on it comes with the answer (the
 * caller closes it). ENOENT: undefined.
 */
export async function openMountBeneath(
  p: BeneathPath,
  kind: BeneathKind = 'any',
): Promise<{ fh: fs.promises.FileHandle; mountRoot: boolean; mountId: number } | undefined> {
  let parent: fs.promises.FileHandle;
  let name: string;
  try {
    ({ parent, name } = await openParentBeneath(p));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    let fh: fs.promises.FileHandle;
    try {
      fh = await openChild(parent, name, kind);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      if (e instanceof SharePathError) throw new SharePathError(joinBeneath(p), e.message, e.code);
      throw e;
    }
    const mountId = await mountIdOf(fh);
    return { fh, mountRoot: mountId !== (await mountIdOf(parent)), mountId };
  } finally {
    await parent.close();
  }
}

/**
 * Unmount what is mounted at `p`: its parent directory is walked to as openBeneath does and
 * held, and the mount point named in it by its last name with UMOUNT_NOFOLLOW, so that no
 * symlink a guest planted anywhere on the way is followed. Resolves false when nothing is
 * mounted there (or the path is gone, or a guest made it a symlink), true once unmounted.
 */
export async function unmountBeneath(
  mounter: Mounter,
  p: BeneathPath,
  opts: { detach?: boolean } = {},
): Promise<boolean> {
  let parent: fs.promises.FileHandle;
  let name: string;
  try {
    ({ parent, name } = await openParentBeneath(p));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || e instanceof SharePathError) return false;
    throw e;
  }
  try {
    await mounter.unmount(at(parent, name), { detach: opts.detach, noFollow: true });
    return true;
  } catch (e) {
    // EINVAL: not a mount point; ENOENT: gone.
    if (/^(EINVAL|ENOENT)\b|: (Invalid argument|No such file or directory)$/.test((e as Error).message)) return false;
    throw e;
  } finally {
    await parent.close();
  }
}
