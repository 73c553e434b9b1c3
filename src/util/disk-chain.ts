/**
 * Copy-on-write disks: a container's disk file (or a checkpoint's copy of one) is either a raw
 * ext4 image, or a qcow2 overlay whose unwritten clusters read from read-only files under it.
 * The files under an overlay `F` are hard links in the directory `F.backing/` beside it, named
 * `0`, `1`, ... (`0` just under `F`; the last one raw, the others qcow2 overlays themselves);
 * that directory, made by the host, is what says `F` is an overlay: the host never reads a
 * disk file's bytes to learn its format (a guest writes them: a raw image it wrote could look
 * like a qcow2 header naming any file).
 *
 * Hard links, not paths to the files they came from: a fork's disk stays whole when the
 * checkpoint it came from, or the container that saved it, is removed (the last link frees
 * the blocks). Every file under an overlay was written last before it became one (a save's copy
 * or a fork template's disk, never opened for writing again) and is made read-only (0400),
 * and a VM opens it read-only (src/vm/devices/upper-disk/upper-disk.ts); the data root's
 * filesystem must hold them all (links do not cross filesystems).
 *
 * The host never parses a qcow2 file: it writes an empty one (./qcow2-overlay.ts), copies
 * one, links one, and removes one.
 *
 * Chains are flattened at the save, so that forks of forks of forks go on without end (issue
 * 56): each generation (a fork of a fork's checkpoint) stands on two more files, and a save
 * whose forks would stand on more than MAX_BACKING_FILES (mustFlattenForSave) first has the
 * container's own QEMU merge the qcow2 files under its disk into the disk itself (a QMP
 * `block-stream` down to the raw file at the bottom: src/vm/devices/upper-disk/upper-disk-qmp.ts
 * flattenUpperDisk, run by src/vm/qemu/snapshots/checkpoint.ts saveVm). The host never reads
 * those files; a jailed QEMU that already holds them open does, and writes only the container's
 * own disk. Once the VM is stopped for the save (QEMU then has written what it held of the
 * disk's tables into its file), the merged links are dropped (dropMergedFiles): the disk stands
 * on the raw file alone, and so does the save's copy. Why this and not a flat copy of the whole
 * disk: the raw file at the bottom (the first save's copy, most of a disk) stays shared, and a
 * merge copies only what the generations in between wrote.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InvalidArgumentError } from '../errors';
import { copySparse } from './copy-sparse';
import { writeEmptyQcow2 } from './qcow2-overlay';

/** The most files one disk may stand on: each fork of a fork's checkpoint adds two. */
export const MAX_BACKING_FILES = 16;

/**
 * The files a fork (or a restore) of a checkpoint stands on beyond those of the disk saved:
 * the save's copy, and its fork template's disk over it.
 */
export const FILES_A_CHECKPOINT_ADDS = 2;

/** The directory of the files under overlay `file` (see the module comment). */
export function backingDirOf(file: string): string {
  return `${file}.backing`;
}

/**
 * The read-only files under disk `file`, the one just under it first (the last is raw); none
 * for a raw disk. They are named by numbers in their order, `0` to `n-1`, but a gap is read
 * too: dropMergedFiles leaves gaps for a moment, each a chain as whole as the one before.
 */
export function backingOf(file: string): string[] {
  const dir = backingDirOf(file);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const files = names.filter((n) => /^\d+$/.test(n)).sort((a, b) => Number(a) - Number(b));
  if (files.length === 0) throw new InvalidArgumentError(`${dir} does not hold a disk's files 0 to n`);
  return files.map((n) => path.join(dir, n));
}

/**
 * Whether a save of disk `file` must flatten it first: a fork or a restore of the checkpoint
 * would stand on more than MAX_BACKING_FILES (see the module comment).
 */
export function mustFlattenForSave(file: string): boolean {
  return backingOf(file).length + FILES_A_CHECKPOINT_ADDS > MAX_BACKING_FILES;
}

/**
 * Drop the links under overlay `file` above the raw file at the bottom, once its QEMU merged
 * what they hold into `file` (flattenUpperDisk: nothing of them is read any more) and wrote
 * its tables out (the VM stopped for a save). They go from the one just under `file`
 * down, then the bottom one is renamed `0`: at each step the files left are a whole chain
 * under `file` (none of the clusters it lacks is in a merged file), so a crash anywhere
 * leaves a disk that reads the same. Answers how many were dropped.
 */
export async function dropMergedFiles(file: string): Promise<number> {
  const chain = backingOf(file);
  const merged = chain.slice(0, -1);
  for (const f of merged) await fs.promises.rm(f);
  const bottom = chain[chain.length - 1];
  if (merged.length > 0) await fs.promises.rename(bottom, path.join(backingDirOf(file), '0'));
  return merged.length;
}

/** Whether disk `file` is a copy-on-write overlay (it has files under it). */
export function isOverlay(file: string): boolean {
  return fs.existsSync(backingDirOf(file));
}

/** Link `files` as `dir`'s 0, 1, ... (a new directory), each made read-only. */
async function linkChain(dir: string, files: string[]): Promise<void> {
  if (files.length > MAX_BACKING_FILES)
    throw new InvalidArgumentError(
      `the disk would stand on ${files.length} files (at most ${MAX_BACKING_FILES}): each fork of a fork's checkpoint adds two`,
    );
  await fs.promises.mkdir(dir, { mode: 0o700 });
  for (const [i, f] of files.entries()) {
    await fs.promises.chmod(f, 0o400);
    await fs.promises.link(f, path.join(dir, String(i)));
  }
}

/** Remove disk `file` and the links under it (nothing when it is gone). */
export async function removeDisk(file: string): Promise<void> {
  await fs.promises.rm(file, { force: true });
  await fs.promises.rm(backingDirOf(file), { recursive: true, force: true });
}

/**
 * Rename disk `from` (and the links under it) to `to`, in place of a disk there (removed first,
 * its file before its links: an overlay's file is never left without them).
 */
export async function renameDisk(from: string, to: string): Promise<void> {
  await removeDisk(to);
  if (isOverlay(from)) await fs.promises.rename(backingDirOf(from), backingDirOf(to));
  await fs.promises.rename(from, to);
}

/** The virtual size of disk `file`: the size of the raw file at the bottom of its chain. */
async function virtualSize(file: string): Promise<number> {
  const chain = backingOf(file);
  return (await fs.promises.stat(chain.length ? chain[chain.length - 1] : file)).size;
}

/**
 * Make `to` a new copy-on-write overlay over disk `from` (in place of a disk there): an empty
 * qcow2 of `from`'s size, standing on `from` and the files under it, linked. `from` must never
 * be written again (it is made read-only).
 */
export async function makeOverlay(from: string, to: string): Promise<void> {
  const chain = [from, ...backingOf(from)];
  const bytes = await virtualSize(from);
  const tmp = `${to}.new`;
  await removeDisk(tmp);
  try {
    await linkChain(backingDirOf(tmp), chain);
    await writeEmptyQcow2(tmp, bytes);
    await renameDisk(tmp, to);
  } catch (err) {
    await removeDisk(tmp);
    throw err;
  }
}

/**
 * Copy disk `from` to `to` (in place of a disk there): a sparse copy of its file, and for an
 * overlay, links of the files under it. `from` is not written meanwhile (its VM is stopped).
 */
export async function copyDisk(from: string, to: string): Promise<void> {
  const chain = backingOf(from);
  const tmp = `${to}.new`;
  await removeDisk(tmp);
  try {
    if (chain.length) await linkChain(backingDirOf(tmp), chain);
    await copySparse(from, tmp);
    await renameDisk(tmp, to);
  } catch (err) {
    await removeDisk(tmp);
    throw err;
  }
}
