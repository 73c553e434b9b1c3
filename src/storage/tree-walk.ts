/**
 * A walk of a tree a guest may be writing while the host walks it (a 9p-mode container's
 * writable layer, a volume's data), for the sizes of `docker ps -s` and `docker system df`.
 * The guest may swap any directory for a symlink (to `/`, say) between the host listing it and
 * the host going in: each directory is held open and its entries are reached through that
 * descriptor (src/util/beneath.ts `at`), a directory is entered only through an O_NOFOLLOW
 * open checked with fstat, and a symlink is never entered, so the walk stays in the tree.
 */
import * as fs from 'node:fs';
import { at, openChild } from '../util/beneath';

const O_DIR = fs.constants.O_RDONLY | fs.constants.O_DIRECTORY;

/**
 * Deepest the walk goes below its root (one descriptor held per level); a tree deeper than that
 * is counted down to this depth only.
 */
export const MAX_WALK_DEPTH = 1024;

/**
 * Call `visit` with the lstat of every entry below `dir` that is not a directory (symlinks
 * included, never followed). `dir` itself is the daemon's path, opened without following a
 * symlink at its last name. Entries that go or change kind meanwhile are skipped. Rejects when
 * `dir` cannot be opened as a directory.
 */
export async function walkNoFollow(dir: string, visit: (st: fs.BigIntStats) => void): Promise<void> {
  const root = await fs.promises.open(dir, O_DIR | fs.constants.O_NOFOLLOW);
  try {
    await walkHeld(root, visit, 0);
  } finally {
    await root.close();
  }
}

async function walkHeld(dir: fs.promises.FileHandle, visit: (st: fs.BigIntStats) => void, depth: number) {
  let names: string[];
  try {
    names = await fs.promises.readdir(at(dir));
  } catch {
    return;
  }
  for (const name of names) {
    const st = await fs.promises.lstat(at(dir, name), { bigint: true }).catch(() => undefined);
    if (!st) continue; // removed meanwhile
    if (!st.isDirectory()) {
      visit(st);
      continue;
    }
    if (depth + 1 >= MAX_WALK_DEPTH) continue;
    // Swapped for a symlink (or anything else) since the lstat: openChild refuses it.
    const sub = await openChild(dir, name, 'dir', O_DIR).catch(() => undefined);
    if (!sub) continue;
    try {
      await walkHeld(sub, visit, depth + 1);
    } finally {
      await sub.close();
    }
  }
}

/** Bytes of regular files under `dir`, never following a symlink (0 when it cannot be read). */
export async function treeSize(dir: string): Promise<number> {
  let total = 0;
  try {
    await walkNoFollow(dir, (st) => {
      if (st.isFile()) total += Number(st.size);
    });
  } catch {
    return 0;
  }
  return total;
}
