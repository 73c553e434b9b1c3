/**
 * Opening a file of a tree that a guest may write (a container's root, a volume, a build
 * stage's root) for reading on the host, so that only a regular file is ever opened.
 *
 * An lstat that says "regular file" followed by an open by name is a race the guest wins:
 * between the two it swaps in a FIFO (the host's open then joins the pipe, releasing a writer
 * waiting in the guest, or blocks), or a device node (its driver's open runs on the host:
 * a tape rewinds, a terminal becomes the daemon's controlling one). So the entry is opened
 * with O_PATH | O_NOFOLLOW, which opens nothing of what the inode is (no driver, no FIFO
 * side, no symlink followed), its kind is read from that descriptor with fstat, and only a
 * regular file is reopened for reading, through the descriptor's /proc magic link (the same
 * inode, whatever the name now holds), with O_NOCTTY | O_NONBLOCK as a second guard.
 */
import * as fs from 'node:fs';
import { at, type RootDir } from './resolve';

/** Linux's O_PATH (its value on x86-64 and arm64, the hosts podvisor runs on); Node does not export it. */
export const O_PATH = 0o10000000;

const O_READ = fs.constants.O_RDONLY | fs.constants.O_NOCTTY | fs.constants.O_NONBLOCK;

/** What openRegularAt found: the entry's stat, from the descriptor, and a handle when it is a regular file. */
export interface OpenedEntry {
  /** The entry's fstat (not a separate lstat: the kind of what was actually opened). */
  stat: fs.Stats;
  /** Open for reading when `stat` is a regular file; undefined for any other kind (nothing was opened for I/O). */
  handle?: fs.promises.FileHandle;
}

/**
 * Open entry `name` of the directory open as `dir` for reading, only if it is a regular file
 * (see the module comment). Rejects as open(2) does when the entry is gone (ENOENT).
 */
export async function openRegularAt(dir: fs.promises.FileHandle, name: string): Promise<OpenedEntry> {
  const pathOnly = await fs.promises.open(at(dir, name), O_PATH | fs.constants.O_NOFOLLOW);
  try {
    const stat = await pathOnly.stat();
    if (!stat.isFile()) return { stat };
    const handle = await fs.promises.open(at(pathOnly), O_READ);
    return { stat, handle };
  } finally {
    await pathOnly.close();
  }
}

/**
 * Read at most `limit` bytes of the open regular file `fh` from its start; undefined when it
 * holds more (a guest may grow a file after it was checked: the read never goes past limit).
 */
export async function readBounded(fh: fs.promises.FileHandle, limit: number): Promise<Buffer | undefined> {
  const buf = Buffer.alloc(Math.min(limit + 1, 64 * 1024));
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, limit + 1 - total), total);
    if (bytesRead === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, bytesRead)));
    total += bytesRead;
    if (total > limit) return undefined;
  }
  return Buffer.concat(chunks);
}

/** What withRegularFile found at a path: nothing, something other than a regular file, or a file and `use`'s answer. */
export type RegularFileUse<T> = { found: 'absent' } | { found: 'not-regular' } | { found: 'file'; value: T };

/**
 * Run `use` on the regular file `p` beneath `root` (a symlink followed only within the root),
 * opened as openRegularAt opens it, then close it: the one way the archive service and the
 * builder read a small file of a tree a guest or a client wrote. Rejects with what `use`
 * rejects, and as `root.resolve` does (a path that escapes, a missing parent) unless
 * `unresolvedIsAbsent`, when such a path is `absent`.
 */
export async function withRegularFile<T>(
  root: RootDir,
  p: string,
  use: (fh: fs.promises.FileHandle) => Promise<T>,
  opts: { unresolvedIsAbsent?: boolean } = {},
): Promise<RegularFileUse<T>> {
  const resolving = root.resolve(p, { followLast: true });
  const r = opts.unresolvedIsAbsent ? await resolving.catch(() => undefined) : await resolving;
  if (!r) return { found: 'absent' };
  try {
    if (!r.stat || r.name === undefined) return { found: 'absent' };
    if (!r.stat.isFile()) return { found: 'not-regular' };
    const { handle: fh } = await openRegularAt(r.dir, r.name);
    if (!fh) return { found: 'not-regular' };
    try {
      return { found: 'file', value: await use(fh) };
    } finally {
      await fh.close();
    }
  } finally {
    await r.release();
  }
}
