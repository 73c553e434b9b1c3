/**
 * Host-side file chores of a VM: the tail of its console log, its memory footprint, and
 * taking down its runtime directory (unmounting whatever was mounted under it first, and never
 * deleting across a mount point).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { UnavailableError } from '../../errors';

const execFileP = promisify(execFile);

/** The last `n` non-empty lines of a text file (reads at most the last 64 KiB). */
export function tailLines(file: string, n: number): string[] {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const size = fs.fstatSync(fd).size;
    const len = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(len);
    fs.readSync(fd, buf, 0, len, size - len);
    // Console output is untrusted guest text: keep printable characters only.
    const text = buf.toString('utf8').replace(/\r/g, '').replace(/[^\x20-\x7e\n\t]/g, '?');
    return text.split('\n').filter((l) => l.trim() !== '').slice(-n);
  } catch {
    return [];
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Proportional set size of `pid` in bytes (0 when it is gone). */
export function pssBytes(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Decode the octal escapes mountinfo uses for spaces and the like. */
function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Mount points at or below `dir`, deepest first. */
export function mountsBelow(dir: string): string[] {
  const root = path.resolve(dir);
  let info: string;
  try {
    info = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  return info
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => !!p)
    .map(unescapeMountPath)
    .filter((p) => p === root || p.startsWith(root + '/'))
    .sort((a, b) => b.length - a.length);
}

/** Unmount (lazily, deepest first) everything mounted at or below `dir`. */
export async function unmountBelow(dir: string): Promise<void> {
  for (let round = 0; round < 4; round++) {
    const mounts = mountsBelow(dir);
    if (mounts.length === 0) return;
    for (const m of mounts) {
      try {
        await execFileP('umount', ['-l', m], { timeout: 10_000 });
      } catch {
        // gone already or stacked: the next round looks again
      }
    }
  }
  const left = mountsBelow(dir);
  if (left.length > 0) throw new UnavailableError(`cannot unmount ${left.join(', ')}`);
}

/**
 * Remove `dir` recursively without ever crossing into another filesystem: a directory on a
 * different device than `dir` (a mount that survived) is an error, not something to empty.
 */
export function removeTreeOnOneDevice(dir: string): void {
  let top: fs.Stats;
  try {
    top = fs.lstatSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const walk = (p: string, st: fs.Stats) => {
    if (st.isDirectory()) {
      if (st.dev !== top.dev) throw new UnavailableError(`refusing to delete ${p}: it is another filesystem (still mounted?)`);
      for (const name of fs.readdirSync(p)) {
        const child = path.join(p, name);
        let cst: fs.Stats;
        try {
          cst = fs.lstatSync(child);
        } catch {
          continue;
        }
        walk(child, cst);
      }
      fs.rmdirSync(p);
    } else {
      try {
        fs.unlinkSync(p);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  };
  walk(dir, top);
}
