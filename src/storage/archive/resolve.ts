/**
 * Path resolution inside a container's root filesystem, as if chrooted there, without ever
 * leaving it: the root may be written by the guest at the same time (a running container), so
 * nothing here trusts a path string below the root.
 *
 * The walk holds an open directory per component and looks the next one up through
 * `/proc/<pid>/fd/<fd>/<name>` (valid in child processes too, such as mknod): the kernel
 * follows the fd's magic link to the very directory that was opened (an openat(2) in
 * effect), so swapping a component for a symlink after it was checked changes nothing.
 * Directories are opened with O_NOFOLLOW; symlinks met on the way are read and their targets
 * walked from the container's root (absolute) or the current directory (relative); `..` never
 * climbs above the root. The final component is returned unresolved (or
 * followed on request), with its parent directory open, so callers act on it with
 * no-follow system calls (lstat, O_NOFOLLOW opens, mkdir, symlink, unlink).
 */
import * as fs from 'node:fs';
import { InvalidArgumentError, NotFoundError } from '../../errors';
import { at, openBeneath, type BeneathPath } from '../../util/beneath';

const O_DIR = fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW;
/** Linux's own bound on symlinks followed in one lookup. */
const MAX_LINKS = 40;

export { at };

/**
 * The prefix of the name under which the guest kernel's 9p client keeps an O_TMPFILE that is
 * not linked yet (guest/kernel/patches/0004-9p-tmpfile.patch). The container never lists such
 * a name, and neither does what the host reads of a container's files (listDir).
 */
export const GUEST_TMPFILE_PREFIX = '.podvisor-tmpfile-';

/** The names in the directory open as `dir`, sorted, as the container lists them: without GUEST_TMPFILE_PREFIX's. */
export async function listDir(dir: fs.promises.FileHandle): Promise<string[]> {
  return (await fs.promises.readdir(at(dir))).filter((n) => !n.startsWith(GUEST_TMPFILE_PREFIX)).sort();
}

/** The components of a container path (`.` and empty ones dropped). */
export function components(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

/** A resolved container path: its parent directory (open) and last name. */
export interface Resolved {
  /** The directory holding the target (the root itself for `/`). */
  dir: fs.promises.FileHandle;
  /** The target's name in `dir`; undefined when the target is `dir` itself (the root). */
  name?: string;
  /** The target's lstat, undefined when it does not exist. */
  stat?: fs.Stats;
  /** The target's path in the container, every symlink before the last name resolved. */
  path: string;
  /** Close `dir` (unless it is the root). */
  release(): Promise<void>;
}

/** Options of RootDir.resolve. */
export interface ResolveOptions {
  /** Follow a symlink in the last position too (default false). */
  followLast?: boolean;
  /** Create missing directories on the way (mode 0755, owned by root). */
  createParents?: boolean;
}

/** A container's root directory, open for resolving paths below it (see the module comment). */
export class RootDir {
  private constructor(readonly handle: fs.promises.FileHandle) {}

  /** Open `dir` (a host path the daemon owns) as a root. */
  static async open(dir: string): Promise<RootDir> {
    return new RootDir(await fs.promises.open(dir, O_DIR));
  }

  /**
   * Open `p` as a root: a directory below a share the guest writes (a running container's
   * rootfs mount), reached without following a symlink on the way (src/util/beneath.ts).
   */
  static async openBeneath(p: BeneathPath): Promise<RootDir> {
    return new RootDir(await openBeneath(p, { kind: 'dir', flags: O_DIR }));
  }

  /** Close the root. */
  async close(): Promise<void> {
    await this.handle.close();
  }

  /**
   * Resolve container path `p` (relative paths are taken from the root). NotFoundError when a
   * directory on the way is missing, InvalidArgumentError when one is not a directory or
   * there are too many symlinks. The last component may be missing (stat undefined).
   */
  async resolve(p: string, opts: ResolveOptions = {}): Promise<Resolved> {
    const stack: Array<{ fh: fs.promises.FileHandle; name: string }> = [{ fh: this.handle, name: '' }];
    const top = () => stack[stack.length - 1];
    const pop = async () => {
      const e = stack.pop();
      if (e && e.fh !== this.handle) await e.fh.close();
    };
    const unwind = async () => {
      while (stack.length > 1) await pop();
    };
    const queue = components(p);
    let links = 0;
    try {
      while (queue.length) {
        const c = queue.shift() as string;
        const last = queue.length === 0;
        if (c === '..') {
          if (stack.length > 1) await pop();
          continue;
        }
        if (c.includes('\0')) throw new InvalidArgumentError('invalid path: contains a NUL byte');
        let st: fs.Stats | undefined;
        try {
          st = await fs.promises.lstat(at(top().fh, c));
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw mapErr(e, p);
        }
        if (st?.isSymbolicLink() && (!last || opts.followLast)) {
          if (++links > MAX_LINKS) throw new InvalidArgumentError(`too many levels of symbolic links: ${p}`);
          const target = await fs.promises.readlink(at(top().fh, c));
          if (target.startsWith('/')) await unwind();
          queue.unshift(...target.split('/').filter((x) => x !== '' && x !== '.'));
          continue;
        }
        if (last) return this.result(stack, c, st);
        if (!st) {
          if (!opts.createParents) throw new NotFoundError(`Could not find the file ${p} in container`);
          await fs.promises.mkdir(at(top().fh, c), { mode: 0o755 }).catch((e: NodeJS.ErrnoException) => {
            if (e.code !== 'EEXIST') throw e;
          });
        } else if (!st.isDirectory()) {
          throw new InvalidArgumentError(`not a directory: ${p}`);
        }
        const fh = await fs.promises.open(at(top().fh, c), O_DIR).catch((e: unknown) => {
          throw mapErr(e, p);
        });
        stack.push({ fh, name: c });
      }
      // The path named a directory reached by `..`, `.` or `/` itself: give it as its
      // parent's entry, so that callers always get (dir, name) except for the root.
      if (stack.length === 1) return this.result(stack, undefined, await this.handle.stat());
      const self = stack.pop() as { fh: fs.promises.FileHandle; name: string };
      await self.fh.close();
      return this.result(stack, self.name, await fs.promises.lstat(at(top().fh, self.name)));
    } catch (e) {
      await unwind();
      throw e;
    }
  }

  private result(
    stack: Array<{ fh: fs.promises.FileHandle; name: string }>,
    name: string | undefined,
    stat: fs.Stats | undefined,
  ): Resolved {
    const dir = stack[stack.length - 1].fh;
    const held = stack.slice(1, -1).map((e) => e.fh);
    const names = stack.slice(1).map((e) => e.name);
    if (name !== undefined) names.push(name);
    const root = this.handle;
    // Only the parent stays open; the directories above it are closed now.
    void Promise.all(held.map((h) => h.close()));
    return {
      dir,
      name,
      stat,
      path: `/${names.join('/')}`,
      release: async () => {
        if (dir !== root) await dir.close();
      },
    };
  }

  /** Open a directory entry `name` of `dir` as a directory, never through a symlink. */
  static openDir(dir: fs.promises.FileHandle, name: string): Promise<fs.promises.FileHandle> {
    return fs.promises.open(at(dir, name), O_DIR);
  }
}

function mapErr(e: unknown, p: string): Error {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new NotFoundError(`Could not find the file ${p} in container`);
  if (code === 'ENOTDIR' || code === 'ELOOP') return new InvalidArgumentError(`not a directory: ${p}`);
  return e as Error;
}
