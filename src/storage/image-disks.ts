/**
 * Image disks (`--storage-opt image=disk`): one read-only ext4 disk file per image, the image's
 * merged tree as its root, made by the host once and shared by every such container of the
 * image through its VM's read-only image disk device (src/vm/devices/image-disk/image-disk.ts).
 *
 * Why ext4 and not EROFS: the guest kernel has ext4 built in (it mounts every upper disk) and
 * no EROFS; ext4 made with `mkfs.ext4 -d` (e2fsprogs, in user space, from the host's read-only
 * mount of the image's layers) needs nothing new in the guest. It has no journal (nothing ever
 * writes it) and the guest mounts it `ro,noload`.
 *
 * Files are `<dir>/<key>.ext4`, the key a hash of the image's layer directories (lowest first):
 * two images of the same layers share one. A disk is made when the image comes on a daemon
 * whose containers read their image from a disk by default (./image-disk-prep.ts), else on the
 * first start of a container that wants it; written under a temporary name, fsynced and
 * renamed whole, so a disk that is there is complete; concurrent makes of one image wait for
 * the same make. It goes with
 * its image (`docker rmi`, `image prune`: ImageStore calls `remove`).
 *
 * The host writes these files and never mounts one: the guest only reads them (QEMU opens them
 * read-only and shows the device read-only), so no filesystem a guest could have crafted
 * reaches the host's kernel.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { UnavailableError } from '../errors';
import { fsyncPath } from '../util/atomic';
import { isMountPoint } from '../util/mounter';
import { logger } from '../util/log';

const execFileP = promisify(execFile);
const log = logger('rootfs');

/** An image's merged tree, mounted read-only at a directory for the make and taken away after. */
export interface ImageTree {
  mount(target: string): Promise<void>;
  unmount(target: string): Promise<void>;
}

/**
 * Whether something still needs the disk of the image tree `layers` (its layer directories,
 * lowest first): an image with those layers, a container made from them.
 */
export type ImageDiskNeed = (layers: readonly string[]) => Promise<boolean>;

/** The image disks under one directory (the daemon's `<data-root>/image-disks`). */
export class ImageDisks {
  private readonly making = new Map<string, Promise<string>>();
  private readonly needs: ImageDiskNeed[] = [];

  /** `bytes`: every file's size, the image disk device's capacity (src/vm/devices/image-disk/image-disk.ts). */
  constructor(
    readonly dir: string,
    private readonly bytes: number,
  ) {}

  /** The file of the image whose layer directories are `layers` (lowest first), there or not. */
  fileFor(layers: readonly string[]): string {
    const key = createHash('sha256').update(layers.join('\n')).digest('hex');
    return path.join(this.dir, `${key}.ext4`);
  }

  /** The image's disk file, made now from `tree` when there is none (once, however many ask at once). */
  ensure(layers: readonly string[], tree: ImageTree): Promise<string> {
    const file = this.fileFor(layers);
    if (fs.existsSync(file)) return Promise.resolve(file);
    let p = this.making.get(file);
    if (!p) {
      p = this.make(file, tree).finally(() => this.making.delete(file));
      this.making.set(file, p);
    }
    return p;
  }

  /** Add what keeps a disk: `release` removes none that `need` says is still needed. */
  keepWhile(need: ImageDiskNeed): void {
    this.needs.push(need);
  }

  /**
   * The disk of `layers` may no longer be needed (its image was removed, or a container made
   * from it): remove it unless one of the `keepWhile` checks still needs it. A container that
   * needs it later makes it again (`ensure`); a VM that has it open keeps what it has open.
   */
  async release(layers: readonly string[]): Promise<void> {
    if (!fs.existsSync(this.fileFor(layers))) return;
    for (const need of this.needs) if (await need(layers)) return;
    await this.remove(layers);
  }

  /** Remove the disk of the image whose layers are `layers` (nothing if it has none). */
  async remove(layers: readonly string[]): Promise<void> {
    const file = this.fileFor(layers);
    if (this.making.has(file)) return;
    await fs.promises.rm(file, { force: true });
  }

  private async make(file: string, tree: ImageTree): Promise<string> {
    const started = Date.now();
    await fs.promises.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const tmp = `${file}.tmp`;
    const mnt = `${file}.tree`;
    // What a daemon that died here left.
    if (isMountPoint(mnt)) await tree.unmount(mnt);
    await fs.promises.rm(tmp, { force: true });
    await fs.promises.mkdir(mnt, { mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
    try {
      await tree.mount(mnt);
      try {
        await makeImageFilesystem(tmp, this.bytes, mnt);
      } finally {
        await tree.unmount(mnt);
      }
      await fsyncPath(tmp);
      await fs.promises.rename(tmp, file);
      await fsyncPath(this.dir);
    } catch (e) {
      await fs.promises.rm(tmp, { force: true });
      throw e;
    } finally {
      // Never through the image's mount, should its unmount have failed.
      if (!isMountPoint(mnt)) await fs.promises.rmdir(mnt).catch(() => undefined);
    }
    const { blocks } = await fs.promises.stat(file);
    log.info(
      `image disk ${path.basename(file)} made in ${Date.now() - started} ms (${(blocks / 2048).toFixed(1)} MiB)`,
    );
    return file;
  }
}

/**
 * A sparse file `file` of `bytes` holding an ext4 filesystem whose root is a copy
 * of host directory `from` (mke2fs -d: owners, modes, xattrs, links and special files as they
 * are there): no journal, no blocks reserved for root.
 */
async function makeImageFilesystem(file: string, bytes: number, from: string): Promise<void> {
  const fh = await fs.promises.open(file, 'wx', 0o600);
  try {
    await fh.truncate(bytes);
  } finally {
    await fh.close();
  }
  try {
    await execFileP(
      'mkfs.ext4',
      ['-q', '-F', '-m', '0', '-O', '^has_journal', '-E', 'lazy_itable_init=1', '-d', from, file],
      { timeout: 600_000 },
    );
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    throw new UnavailableError(
      err.code === 'ENOENT'
        ? 'mkfs.ext4 is missing (apt-get install e2fsprogs): --storage-opt image=disk needs it'
        : `making the image disk: mkfs.ext4 failed: ${(err.stderr || err.message).trim()}`,
    );
  }
}
