/**
 * Recursive removal of a directory tree whatever its depth. Node's `fs.rm` names every entry
 * by its full path, which fails with ENAMETOOLONG past PATH_MAX (4096 bytes): a tree that a
 * container made deeper than that inside its writable layer, or that an archive unpacked
 * into a directory with a long path, could then never be removed (and a daemon that clears
 * its temporary directories at start would not start). GNU rm walks relative to open
 * directories and has no such limit: it takes over when fs.rm meets the limit.
 */
import * as fs from 'node:fs';
import { execFile } from 'node:child_process';

function rmRf(p: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('rm', ['-rf', '--one-file-system', '--', p], { timeout: 600_000 }, (err, _out, stderr) => {
      if (err) reject(new Error(`rm -rf ${p}: ${String(stderr).trim() || err.message}`));
      else resolve();
    });
  });
}

/** Remove `p` and everything below it (nothing when it does not exist), at any depth. */
export async function removeTree(p: string): Promise<void> {
  try {
    await fs.promises.rm(p, { recursive: true, force: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENAMETOOLONG') throw e;
    await rmRf(p);
  }
}

/**
 * Remove `p` and everything below it where a guest may still be writing (a container's writable
 * layer, a volume's data): always with GNU rm, whose walk (fts) opens each directory with
 * O_NOFOLLOW from the one it holds and checks it is the directory it listed, so a directory
 * swapped for a symlink meanwhile is never entered. fs.rm names every entry by its full path:
 * a swap between its lstat and its listing would have it remove what the symlink leads to.
 * Nothing when `p` does not exist.
 */
export async function removeGuestTree(p: string): Promise<void> {
  await rmRf(p);
}
