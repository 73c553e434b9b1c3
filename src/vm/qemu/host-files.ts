/**
 * Host-side file chores of a VM: the tail of its console log, its memory footprint, and
 * taking down its runtime directory (unmounting whatever was mounted under it first, and never
 * deleting across a mount point).
 */
import * as fs from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { UnavailableError } from '../../errors';
import { mountsBelow, sharedMounter } from '../../util/mounter';
import { removeVmCgroup } from './confinement/vm-cgroup';
import { openVmFile } from '../../util/jailed-files';

const execFileP = promisify(execFile);

/**
 * The last `n` non-empty lines of a text file in a jail's reach (reads at most the last 64
 * KiB; a symlink, FIFO or other non-regular file gives none: ../../util/jailed-files.ts).
 */
export function tailLines(file: string, n: number): string[] {
  let fd: number | undefined;
  try {
    fd = openVmFile(file, 'read');
    const size = fs.fstatSync(fd).size;
    const len = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(len);
    fs.readSync(fd, buf, 0, len, size - len);
    // Console output is untrusted guest text: keep printable characters only.
    const text = buf
      .toString('utf8')
      .replace(/\r/g, '')
      .replace(/[^\x20-\x7e\n\t]/g, '?');
    return text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .slice(-n);
  } catch {
    return [];
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * Keep a log that something else appends to (QEMU's console file, opened with O_APPEND)
 * bounded: once it is larger than `maxBytes`, cut it down to its last `keepBytes`. Whatever
 * is appended between the read and the truncation is lost, which is fine for a console log.
 * The file is a jailed process's to replace: only a regular file of one link, reached without
 * a symlink, is cut (../../util/jailed-files.ts). Returns true when it cut.
 */
export function trimLogFile(file: string, maxBytes: number, keepBytes: number): boolean {
  let fd: number | undefined;
  try {
    fd = openVmFile(file, 'read-write');
    const size = fs.fstatSync(fd).size;
    if (size <= maxBytes) return false;
    const tail = Buffer.alloc(keepBytes);
    const n = fs.readSync(fd, tail, 0, keepBytes, size - keepBytes);
    fs.ftruncateSync(fd, 0);
    fs.writeSync(
      fd,
      Buffer.concat([Buffer.from('[... console log trimmed by podvisor ...]\n'), tail.subarray(0, n)]),
      0,
    );
    return true;
  } catch {
    return false;
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

/** Unmount (lazily, deepest first) everything mounted at or below `dir`. */
export async function unmountBelow(dir: string): Promise<void> {
  for (let round = 0; round < 4; round++) {
    const mounts = mountsBelow(dir);
    if (mounts.length === 0) return;
    for (const m of mounts) {
      try {
        await sharedMounter().unmount(m, { detach: true });
      } catch {
        // gone already or stacked: the next round looks again
      }
    }
  }
  const left = mountsBelow(dir);
  if (left.length > 0) throw new UnavailableError(`cannot unmount ${left.join(', ')}`);
}

/**
 * Remove `dir` recursively, never through a mount: refuses when /proc/self/mountinfo lists a
 * mount point at or below `dir` (a bind mount of a directory of the same filesystem has the
 * same st_dev, so device checks alone would empty it), then runs GNU rm with
 * --one-file-system as a second guard; rm also copes with trees deeper than PATH_MAX, which a
 * guest can build in its share directory. Throws when something is left.
 */
export async function removeTreeOnOneDevice(dir: string): Promise<void> {
  if (!fs.existsSync(dir)) return;
  const mounted = mountsBelow(dir);
  if (mounted.length > 0) throw new UnavailableError(`refusing to remove ${dir}: ${mounted.join(', ')} still mounted`);
  let detail = '';
  try {
    await execFileP('rm', ['-rf', '--one-file-system', '--', dir], { timeout: 120_000 });
  } catch (err) {
    detail = String((err as { stderr?: string }).stderr ?? (err as Error).message)
      .trim()
      .split('\n')
      .slice(0, 3)
      .join('; ');
  }
  if (fs.existsSync(dir)) throw new UnavailableError(`cannot remove ${dir}${detail ? `: ${detail}` : ''}`);
}

/**
 * Remove a VM's runtime directory once its processes are gone: every mount at or below it (the
 * shared mount of itself its jail needed, shares), its cgroup, then the tree.
 */
export async function removeRuntimeDir(dir: string): Promise<void> {
  await unmountBelow(dir);
  await removeVmCgroup(dir);
  await removeTreeOnOneDevice(dir);
}
