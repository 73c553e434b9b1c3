/**
 * Block mode's upper disk files (docs/design/storage.md, "Block mode"): a sparse file of the
 * device's size holding an empty ext4 that the host formats and then never mounts.
 *  - makeUpperDisk: one such file, formatted now (mkfs.ext4: ~20 ms of a quiet host, 50-150 ms
 *    of a loaded one);
 *  - SpareDisks: one disk of the default size made ahead of need, so that a container's create
 *    takes it with a rename instead of waiting for mkfs (remade in the background after each);
 *  - scratchDisks: throwaway disks for the pool's rehearsals (src/vm/rehearsal.ts);
 *  - a container's pending disk: recorded at its create (recordPendingDisk), made at its first
 *    start (makePendingDisk) from what its host upper/ holds by then, or from the spare.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { InvalidArgumentError, UnavailableError } from '../errors';
import { logger } from '../util/log';
import { removeTree } from '../util/remove-tree';
import { isMountPoint } from '../util/mounter';
import { writeFileAtomic } from '../util/atomic';
import type { DiskSource } from './types';
import { createSparseFile } from '../util/sparse-file';

const execFileP = promisify(execFile);
const log = logger('rootfs');

/**
 * One upper disk made ahead of need in `dir` (on the containers' filesystem: a rename moves it
 * into a container's directory). A create takes it when it asks for the spares' size with no
 * smaller filesystem (--storage-opt size makes its disk on demand); each take, and `refill`,
 * starts making the next one in the background. A take that finds none (a burst of creates,
 * or mkfs failing) returns false and the caller makes its disk itself. A spare left by an
 * earlier daemon is used; a half-made one (`.tmp`) is made again.
 */
export class SpareDisks implements DiskSource {
  private making: Promise<void> | undefined;
  private readonly file: string;

  constructor(
    private readonly dir: string,
    private readonly bytes: number,
  ) {
    this.file = path.join(dir, 'spare.ext4');
  }

  /** Move the spare to `to` when `disk` is what it holds (true); start making the next one. */
  async take(to: string, disk: { bytes: number; fsBytes?: number }): Promise<boolean> {
    if (disk.bytes !== this.bytes || (disk.fsBytes !== undefined && disk.fsBytes < disk.bytes)) return false;
    let taken = false;
    try {
      await fs.promises.rename(this.file, to);
      taken = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    this.refill();
    return taken;
  }

  /** Make the spare in the background if there is none and none is being made; never rejects. */
  refill(): void {
    if (this.making) return;
    this.making = (async () => {
      if (fs.existsSync(this.file)) return;
      await fs.promises.mkdir(this.dir, { recursive: true, mode: 0o700 });
      await makeUpperDisk(this.file, this.bytes);
    })()
      .catch((e: Error) => log.warn(`making a spare upper disk: ${e.message}`))
      .finally(() => (this.making = undefined));
  }

  /** Resolves when no spare is being made (tests; a daemon's shutdown). */
  async idle(): Promise<void> {
    await this.making;
  }
}

/** Throwaway upper disks in a directory of their own (see scratchDisks). */
export interface ScratchDisks {
  /** Make an empty disk named after `name` (letters, digits, `-`); its path. */
  make(name: string): Promise<string>;
  /** Remove a disk `make` made (nothing if it is gone). */
  remove(file: string): Promise<void>;
}

/**
 * Throwaway upper disks in `dir` (the pool's rehearsals in block mode: src/vm/rehearsal.ts):
 * each an empty ext4 of `fsBytes` in a sparse file of `bytes` (the device's size). What is in
 * `dir` already (files a killed daemon left) is removed now.
 */
export function scratchDisks(dir: string, bytes: number, fsBytes: number): ScratchDisks {
  fs.rmSync(dir, { recursive: true, force: true });
  return {
    async make(name) {
      if (!/^[A-Za-z0-9-]{1,100}$/.test(name)) throw new InvalidArgumentError(`bad scratch disk name ${name}`);
      await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
      const file = path.join(dir, `${name}.ext4`);
      await makeUpperDisk(file, bytes, fsBytes);
      return file;
    },
    remove: (file) => fs.promises.rm(file, { force: true }),
  };
}

/**
 * A sparse file of `bytes` holding an ext4 filesystem (made on the host: nothing of a guest's
 * in it yet) of `fsBytes` (default: the whole file), empty or holding a copy of `fromDir`. The file keeps the device's size
 * (every upper disk has one capacity: src/vm/devices/upper-disk/upper-disk.ts); a smaller filesystem
 * leaves the rest of it unused, and the guest's ext4 answers ENOSPC at its own end.
 */
export async function makeUpperDisk(file: string, bytes: number, fsBytes?: number, fromDir?: string): Promise<void> {
  const tmp = `${file}.tmp`;
  await fs.promises.rm(tmp, { force: true });
  await createSparseFile(tmp, bytes);
  try {
    // Inode tables and journal are zeroed lazily (the guest mounts with noinit_itable: a sparse
    // file reads zeros); no blocks reserved for root (a container's layer, not a system disk).
    const size = fsBytes !== undefined && fsBytes < bytes ? [`${Math.floor(fsBytes / 1024)}k`] : [];
    // `fromDir`: the filesystem's root is filled from that host directory (mke2fs -d, in user
    // space: owners, modes, xattrs, links and special files as they are there).
    const seed = fromDir ? ['-d', fromDir] : [];
    // fast_commit: an fsync or fdatasync that only changed a few inodes writes a short record
    // to the journal's fast-commit area instead of a full jbd2 transaction (descriptor, the
    // changed metadata blocks, commit block), so fewer writes cross the emulated virtio-blk
    // per commit: sqlite's 1,000 WAL commits went from 1.31 s (14x a guest tmpfs) to ~1.0 s
    // (~10x; docs/performance.md). The guest kernel has had it since Linux 5.10; e2fsprogs 1.46.
    await execFileP(
      'mkfs.ext4',
      [
        '-q',
        '-F',
        '-m',
        '0',
        '-O',
        'fast_commit',
        '-E',
        'lazy_itable_init=1,lazy_journal_init=1',
        ...seed,
        tmp,
        ...size,
      ],
      {
        timeout: 60_000,
      },
    );
  } catch (e) {
    await fs.promises.rm(tmp, { force: true });
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    throw new UnavailableError(
      err.code === 'ENOENT'
        ? 'mkfs.ext4 is missing (apt-get install e2fsprogs): block-mode containers need it'
        : `mkfs.ext4 failed: ${(err.stderr || err.message).trim()}`,
    );
  }
  await fs.promises.rename(tmp, file);
}

/** The size a disk is to have: the file's, and its filesystem's when smaller (--storage-opt size). */
export interface DiskSize {
  bytes: number;
  fsBytes?: number;
}

/**
 * A pending disk: its size, and whether its container reads its image from an image disk
 * (--storage-opt image=disk: ./image-disks/image-disks.ts; the upper disk itself is made as any other).
 */
export interface PendingDisk extends DiskSize {
  imageOnDisk?: boolean;
}

/** In a container's directory: the size of its disk still to be made. */
export const PENDING_DISK_FILE = 'upper.disk.json';
/** In a container's directory: where makePendingDisk gathers upper/ and an empty work/. */
export const DISK_SEED_DIR = 'disk-seed';

/**
 * In a container's directory: what becomes the disk's `volumes/` (a directory per volume kept
 * on the disk, filled from the image at create), until the disk is made.
 */
export const DISK_VOLUMES_DIR = 'disk-volumes';
/** A volume's name, as the volume store allows it. */
const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{1,63}$/;

/**
 * The directory of container directory `dir` that becomes `volumes/<volume>` on its disk
 * (made now, empty, mode 0755 as a new volume's directory).
 */
export async function makeDiskVolumeSeed(dir: string, volume: string): Promise<string> {
  if (!VOLUME_NAME.test(volume)) throw new InvalidArgumentError(`bad volume name for a disk: ${volume}`);
  const volumes = path.join(dir, DISK_VOLUMES_DIR);
  await fs.promises.mkdir(volumes, { mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e;
  });
  const seed = path.join(volumes, volume);
  await fs.promises.mkdir(seed, { mode: 0o755 }).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e;
  });
  return seed;
}

/** Record in container directory `dir` that its disk, of `size`, is to be made at its first start. */
export async function recordPendingDisk(dir: string, size: PendingDisk): Promise<void> {
  const body = {
    bytes: size.bytes,
    ...(size.fsBytes !== undefined ? { fsBytes: size.fsBytes } : {}),
    ...(size.imageOnDisk ? { imageOnDisk: true } : {}),
  };
  await writeFileAtomic(path.join(dir, PENDING_DISK_FILE), JSON.stringify(body));
}

/** Whether container directory `dir` has a disk still to be made. */
export function hasPendingDisk(dir: string): boolean {
  return fs.existsSync(path.join(dir, PENDING_DISK_FILE));
}

/**
 * Make the pending disk of container directory `dir` as `file` (nothing when none is pending):
 * an empty `upper/` with no volume to keep on the disk takes the first of `spares` that fits (a
 * pool VM's ready disk, then the spare), or a disk made now; files copied into the created
 * container become the new filesystem's upper/ (mkfs.ext4 -d, beside an empty work/, as the
 * guest makes them: guest/agent/container.c), the volumes kept on the disk (DISK_VOLUMES_DIR)
 * its volumes/, and the host's upper/ is left empty. A seed left by
 * a daemon that died here is put back first (and the image an earlier daemon's copy of it
 * onto the disk had mounted in it let go: `unmountImage`).
 */
export async function makePendingDisk(
  dir: string,
  file: string,
  spares: DiskSource[] = [],
  unmountImage?: (target: string) => Promise<void>,
): Promise<void> {
  const pending = path.join(dir, PENDING_DISK_FILE);
  let want: PendingDisk;
  try {
    want = JSON.parse(await fs.promises.readFile(pending, 'utf8')) as PendingDisk;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (typeof want.bytes !== 'number' || (want.fsBytes !== undefined && typeof want.fsBytes !== 'number'))
    throw new InvalidArgumentError(`bad ${PENDING_DISK_FILE} in ${dir}`);
  const upper = path.join(dir, 'upper');
  const volumes = path.join(dir, DISK_VOLUMES_DIR);
  const seed = path.join(dir, DISK_SEED_DIR);
  const seedUpper = path.join(seed, 'upper');
  const seedVolumes = path.join(seed, 'volumes');
  if (fs.existsSync(seedUpper)) {
    await removeTree(upper);
    await fs.promises.rename(seedUpper, upper);
  }
  if (fs.existsSync(seedVolumes)) {
    await removeTree(volumes);
    await fs.promises.rename(seedVolumes, volumes);
  }
  // The image a daemon that died here had mounted in the seed is let go before the seed goes.
  const seedLower = path.join(seed, 'lower');
  if (isMountPoint(seedLower)) {
    if (!unmountImage) throw new InvalidArgumentError(`${seedLower} is still mounted`);
    await unmountImage(seedLower);
  }
  await removeTree(seed);
  if (!fs.existsSync(file)) {
    const entries = await fs.promises.readdir(upper).catch(() => [] as string[]);
    // The volumes kept on the disk, as copy-up filled them (an empty one the guest makes).
    const hasVolumes = (await fs.promises.readdir(volumes).catch(() => [] as string[])).length > 0;
    if (entries.length === 0 && !hasVolumes) {
      if (!(await takeFirst(spares, file, want))) await makeUpperDisk(file, want.bytes, want.fsBytes);
    } else {
      await fs.promises.mkdir(seed, { mode: 0o700 });
      await fs.promises.rename(upper, seedUpper);
      if (hasVolumes) await fs.promises.rename(volumes, seedVolumes);
      await fs.promises.mkdir(path.join(seed, 'work'), { mode: 0o700 });
      try {
        await makeUpperDisk(file, want.bytes, want.fsBytes, seed);
      } catch (e) {
        await fs.promises.rename(seedUpper, upper);
        if (hasVolumes) await fs.promises.rename(seedVolumes, volumes);
        await removeTree(seed);
        throw e;
      }
      // The files are the disk's now; the host's upper/ stays, empty (paths() names it).
      await removeTree(seed);
      await fs.promises.mkdir(upper, { mode: 0o755 });
    }
    await removeTree(volumes);
  }
  await fs.promises.rm(pending, { force: true });
}

/** Move the first source's disk that fits `want` to `file`: true when one did. */
async function takeFirst(sources: DiskSource[], file: string, want: DiskSize): Promise<boolean> {
  for (const s of sources) if (await s.take(file, want)) return true;
  return false;
}
