/**
 * The directories a tar extraction writes into, kept open between its entries: an archive
 * names the same few parents over and over (100,000 files of one directory name it 100,000
 * times), and resolving each one from the container's root again (a lookup, an open and a
 * close per component, each a trip through libuv's thread pool) cost more than creating the
 * entries themselves.
 *
 * A directory is resolved once, as ./resolve.ts does (inside the root, symlinks followed as if
 * chrooted, missing directories created), and its open handle is reused for as long as the
 * extraction does not replace what it resolved through: `forget` drops every directory at or
 * below a path the extraction removes. A directory the container itself moves meanwhile
 * (a running one) keeps receiving entries where it now is, still inside the root: the handle
 * names the directory, never a path. At most `limit` handles stay open (least recently used
 * closed first).
 */
import * as fs from 'node:fs';
import { InvalidArgumentError } from '../../errors';
import { RootDir, at } from './resolve';

/** A directory held open by the extraction. */
export interface HeldDir {
  fh: fs.promises.FileHandle;
  /** The directory's path in the container, every symlink resolved. */
  real: string;
}

/** Open parent directories of one extraction (see the module comment). */
export class ParentDirs {
  private readonly dirs = new Map<string, HeldDir>();

  constructor(
    private readonly root: RootDir,
    private readonly limit = 64,
  ) {}

  /**
   * The open directory of container path `p` (absolute, clean), created with its missing
   * parents (mode 0755). InvalidArgumentError when something on the way is not a directory.
   */
  async get(p: string): Promise<HeldDir> {
    const hit = this.dirs.get(p);
    if (hit) {
      // Most recently used last.
      this.dirs.delete(p);
      this.dirs.set(p, hit);
      return hit;
    }
    const r = await this.root.resolve(p, { createParents: true, followLast: true });
    let entry: HeldDir;
    try {
      if (r.name === undefined) {
        // The root itself: a handle of its own, so that closing it leaves the root open.
        entry = { fh: await fs.promises.open(at(r.dir), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY), real: '/' };
      } else {
        if (!r.stat) {
          await fs.promises.mkdir(at(r.dir, r.name), { mode: 0o755 }).catch((e: NodeJS.ErrnoException) => {
            if (e.code !== 'EEXIST') throw e;
          });
        } else if (!r.stat.isDirectory()) {
          throw new InvalidArgumentError(`not a directory: ${p}`);
        }
        entry = { fh: await RootDir.openDir(r.dir, r.name), real: r.path };
      }
    } finally {
      await r.release();
    }
    this.dirs.set(p, entry);
    while (this.dirs.size > this.limit) {
      const [oldest, e] = this.dirs.entries().next().value as [string, HeldDir];
      this.dirs.delete(oldest);
      await e.fh.close();
    }
    return entry;
  }

  /** The open directory of `p` when it is held already (nothing resolved or created). */
  held(p: string): HeldDir | undefined {
    return this.dirs.get(p);
  }

  /**
   * Drop the directories at or below container path `real` (resolved), which is going away
   * (at once; their handles close in the background).
   */
  forget(real: string): void {
    for (const [p, e] of [...this.dirs]) {
      if (e.real === real || e.real.startsWith(real === '/' ? '/' : `${real}/`)) {
        this.dirs.delete(p);
        void e.fh.close().catch(() => undefined);
      }
    }
  }

  /** Close every directory. */
  async close(): Promise<void> {
    const all = [...this.dirs.values()];
    this.dirs.clear();
    for (const e of all) await e.fh.close().catch(() => undefined);
  }
}
