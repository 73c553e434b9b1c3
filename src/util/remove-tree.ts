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
