/**
 * Block mode's upper disk files (docs/architecture.md, "Block mode"): a sparse file of the
 * device's size holding an empty ext4 that the host formats and then never mounts.
 *  - makeUpperDisk: one such file, formatted now (mkfs.ext4: ~20 ms of a quiet host, 50-150 ms
 *    of a loaded one);
 *  - SpareDisks: one disk of the default size made ahead of need, so that a container's create
 *    takes it with a rename instead of waiting for mkfs (remade in the background after each);
 *  - scratchDisks: throwaway disks for the pool's rehearsals (src/vm/rehearsal.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { InvalidArgumentError, UnavailableError } from '../errors';
import { logger } from '../util/log';

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
export class SpareDisks {
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
 * (every upper disk has one capacity: src/vm/devices/upper-disk.ts); a smaller filesystem
 * leaves the rest of it unused, and the guest's ext4 answers ENOSPC at its own end.
 */
export async function makeUpperDisk(file: string, bytes: number, fsBytes?: number, fromDir?: string): Promise<void> {
  const tmp = `${file}.tmp`;
  await fs.promises.rm(tmp, { force: true });
  const fh = await fs.promises.open(tmp, 'wx', 0o600);
  try {
    await fh.truncate(bytes);
  } finally {
    await fh.close();
  }
  try {
    // Inode tables and journal are zeroed lazily (the guest mounts with noinit_itable: a sparse
    // file reads zeros); no blocks reserved for root (a container's layer, not a system disk).
    const size = fsBytes !== undefined && fsBytes < bytes ? [`${Math.floor(fsBytes / 1024)}k`] : [];
    // `fromDir`: the filesystem's root is filled from that host directory (mke2fs -d, in user
    // space: owners, modes, xattrs, links and special files as they are there).
    const seed = fromDir ? ['-d', fromDir] : [];
    await execFileP(
      'mkfs.ext4',
      ['-q', '-F', '-m', '0', '-E', 'lazy_itable_init=1,lazy_journal_init=1', ...seed, tmp, ...size],
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
