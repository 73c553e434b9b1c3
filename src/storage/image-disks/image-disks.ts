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
 * whose containers read their image from a disk by default (./prep.ts), else on the
 * first start of a container that wants it; written under a temporary name, fsynced and
 * renamed whole, so a disk that is there is complete; concurrent makes of one image wait for
 * the same make. Images stored before (an upgraded daemon, one that ran with image=layers) get
 * theirs from a sweep at daemon start (./sweep.ts): a background make, its mkfs.ext4
 * at the lowest CPU priority until a container start joins it. It goes with its image
 * (`docker rmi`, `image prune`: ImageStore calls `release`); a disk whose image went while it
 * was made is removed once whole. `close` (the daemon's shutdown) cuts the makes under way
 * short: each takes its temporary file and the image's mount away before it ends. What the
 * makes of a daemon killed meanwhile (SIGKILL, a crash) left beside the disks (`makeScratch`)
 * is removed at the next daemon's start, before its first make (`interrupted`,
 * src/daemon/image-disk-leftovers.ts).
 *
 * The host writes these files and never mounts one: the guest only reads them (QEMU opens them
 * read-only and shows the device read-only), so no filesystem a guest could have crafted
 * reaches the host's kernel.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import * as os from 'node:os';
import { execFile, type ChildProcess } from 'node:child_process';
import { NotFoundError, UnavailableError } from '../../errors';
import { fsyncPath } from '../../util/atomic';
import { isMountPoint } from '../../util/mounter';
import { logger } from '../../util/log';
import { createSparseFile } from '../../util/sparse-file';
import { faultPoint } from '../../vm/qemu/fault';

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

/** How a make is asked for. */
export interface EnsureOptions {
  /**
   * Work nobody waits on (the start's sweep): mkfs.ext4 runs at the lowest CPU priority, raised
   * to the normal one as soon as an ensure without this option joins the make.
   */
  background?: boolean;
}

/**
 * What a make of disk file `file` works in beside it, each gone once the make ends (or, after
 * a daemon killed in the middle, at the next daemon's start): `tmp`, the disk under its
 * temporary name; `tree`, the directory the image's read-only tree is mounted on for
 * mkfs.ext4; `links`, the short layer links an image's long layer list is mounted through
 * (./from-layers.ts).
 */
export interface MakeScratch {
  tmp: string;
  tree: string;
  links: string;
}

/** The suffixes of a make's scratch paths, after the disk file's name. */
const SCRATCH_SUFFIXES = ['tmp', 'tree', 'links'] as const;

/** A disk file's name: the hash of its image's layer directories, `.ext4`. */
const DISK_NAME = '[0-9a-f]{64}\\.ext4';

/** A scratch path's name in the disks' directory; group 1 is its disk file's name. */
const SCRATCH_NAME = new RegExp(`^(${DISK_NAME})\\.(?:${SCRATCH_SUFFIXES.join('|')})$`);

/** The scratch paths of a make of disk `file` (see MakeScratch). */
export function makeScratch(file: string): MakeScratch {
  const [tmp, tree, links] = SCRATCH_SUFFIXES.map((s) => `${file}.${s}`);
  return { tmp, tree, links };
}

/** nice(1)'s lowest CPU priority. */
const LOWEST_PRIORITY = 19;

/** One make under way. */
interface Making {
  done: Promise<string>;
  /** Aborted by `close`: mkfs.ext4 is killed and the make cleans up after itself. */
  abort: AbortController;
  background: boolean;
  /** Its mkfs.ext4, while that runs. */
  mkfs?: ChildProcess;
  /** A release came while it was made: whether the disk is needed is asked again. */
  released: boolean;
}

/** The image disks under one directory (the daemon's `<data-root>/image-disks`). */
export class ImageDisks {
  private readonly making = new Map<string, Making>();
  private readonly needs: ImageDiskNeed[] = [];
  private closed = false;

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

  /**
   * The disk files of the directory that have a make's scratch paths beside them (`makeScratch`)
   * and no make under way in this process: those an earlier daemon's makes left when it was
   * killed in the middle of them. Sorted; [] when the directory is not there.
   */
  interrupted(): string[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      return [];
    }
    const files = new Set<string>();
    for (const name of names) {
      const m = SCRATCH_NAME.exec(name);
      if (m) files.add(path.join(this.dir, m[1]));
    }
    return [...files].filter((f) => !this.making.has(f)).sort();
  }

  /**
   * The image's disk file, made now from `tree` when there is none (once, however many ask at
   * once). A disk that nothing needs once it is made (its image was removed meanwhile: see
   * `keepWhile`) is removed, and this rejects with NotFoundError; after `close`, a disk still
   * to be made is refused (UnavailableError).
   */
  ensure(layers: readonly string[], tree: ImageTree, opts: EnsureOptions = {}): Promise<string> {
    const file = this.fileFor(layers);
    if (fs.existsSync(file)) return Promise.resolve(file);
    const under = this.making.get(file);
    if (under) {
      if (!opts.background && under.background) {
        under.background = false;
        setPriority(under.mkfs, 0);
      }
      return under.done;
    }
    if (this.closed)
      return Promise.reject(new UnavailableError('the daemon is shutting down: no image disk is made now'));
    const m: Making = {
      done: Promise.resolve(file),
      abort: new AbortController(),
      background: !!opts.background,
      released: false,
    };
    m.done = this.makeNeeded(file, layers, tree, m).finally(() => {
      if (this.making.get(file) === m) this.making.delete(file);
    });
    this.making.set(file, m);
    return m.done;
  }

  /**
   * Cut every make under way short (mkfs.ext4 is killed; each make removes its temporary file
   * and unmounts the image's tree) and refuse new ones; resolves once they have all ended.
   */
  async close(): Promise<void> {
    this.closed = true;
    const under = [...this.making.values()];
    for (const m of under) m.abort.abort();
    await Promise.all(under.map((m) => m.done.catch(() => undefined)));
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
    const under = this.making.get(this.fileFor(layers));
    // Asked again once the disk is whole (makeNeeded).
    if (under) return void (under.released = true);
    if (!fs.existsSync(this.fileFor(layers))) return;
    if (!(await this.needed(layers))) await this.remove(layers);
  }

  /**
   * Remove the disk of the image whose layers are `layers` (nothing if it has none). A disk
   * being made is left to its make, which asks whether it is needed once it is whole.
   */
  async remove(layers: readonly string[]): Promise<void> {
    const file = this.fileFor(layers);
    const under = this.making.get(file);
    if (under) return void (under.released = true);
    await fs.promises.rm(file, { force: true });
  }

  /** Whether a `keepWhile` check needs the disk of `layers` (with none registered: kept). */
  private async needed(layers: readonly string[]): Promise<boolean> {
    if (!this.needs.length) return true;
    for (const need of this.needs) if (await need(layers)) return true;
    return false;
  }

  /**
   * Make the disk, then keep it only while it is needed: what let it go while it was made
   * (an image removed before, or during, the make) found no disk to remove.
   */
  private async makeNeeded(file: string, layers: readonly string[], tree: ImageTree, m: Making): Promise<string> {
    await this.make(file, tree, m);
    do {
      m.released = false;
      if (!(await this.needed(layers))) {
        await fs.promises.rm(file, { force: true });
        throw new NotFoundError(`image disk ${path.basename(file)}: removed, its image went while it was made`);
      }
    } while (m.released);
    // From here a release finds the disk itself.
    this.making.delete(file);
    return file;
  }

  private async make(file: string, tree: ImageTree, m: Making): Promise<void> {
    const { signal } = m.abort;
    const started = Date.now();
    await fs.promises.mkdir(this.dir, { recursive: true, mode: 0o700 });
    // What an earlier daemon's make of this disk left went at this daemon's start (interrupted).
    const { tmp, tree: mnt } = makeScratch(file);
    await fs.promises.mkdir(mnt, { mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
    try {
      signal.throwIfAborted();
      await tree.mount(mnt);
      try {
        signal.throwIfAborted();
        await makeImageFilesystem(tmp, this.bytes, mnt, {
          signal,
          spawned: (mkfs) => {
            m.mkfs = mkfs;
            if (m.background) setPriority(mkfs, LOWEST_PRIORITY);
            // Crash tests: the daemon killed with the make's temporary file and mount there.
            faultPoint('image-disk-after-mkfs-spawn');
          },
        });
      } finally {
        m.mkfs = undefined;
        await tree.unmount(mnt);
      }
      await fsyncPath(tmp);
      await fs.promises.rename(tmp, file);
      await fsyncPath(this.dir);
    } catch (e) {
      await fs.promises.rm(tmp, { force: true });
      if (signal.aborted) throw new UnavailableError('making the image disk: cut short, the daemon is shutting down');
      throw e;
    } finally {
      // Never through the image's mount, should its unmount have failed.
      if (!isMountPoint(mnt)) await fs.promises.rmdir(mnt).catch(() => undefined);
    }
    const { blocks } = await fs.promises.stat(file);
    log.info(
      `image disk ${path.basename(file)} made in ${Date.now() - started} ms (${(blocks / 2048).toFixed(1)} MiB)${m.background ? ' in the background' : ''}`,
    );
  }
}

/** Set a running child's CPU priority (nice value); nothing once it has gone. */
function setPriority(child: ChildProcess | undefined, nice: number): void {
  if (child?.pid === undefined || child.exitCode !== null) return;
  try {
    os.setPriority(child.pid, nice);
  } catch (e) {
    log.debug(`mkfs.ext4 ${child.pid}: its priority stays: ${(e as Error).message}`);
  }
}

/**
 * A sparse file `file` of `bytes` holding an ext4 filesystem whose root is a copy
 * of host directory `from` (mke2fs -d: owners, modes, xattrs, links and special files as they
 * are there): no journal, no blocks reserved for root.
 */
async function makeImageFilesystem(
  file: string,
  bytes: number,
  from: string,
  run: { signal: AbortSignal; spawned: (mkfs: ChildProcess) => void },
): Promise<void> {
  await createSparseFile(file, bytes);
  try {
    await new Promise<void>((resolve, reject) => {
      const mkfs = execFile(
        'mkfs.ext4',
        ['-q', '-F', '-m', '0', '-O', '^has_journal', '-E', 'lazy_itable_init=1', '-d', from, file],
        { timeout: 600_000, signal: run.signal },
        (err, _stdout, stderr) => (err ? reject(Object.assign(err, { stderr })) : resolve()),
      );
      run.spawned(mkfs);
    });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    throw new UnavailableError(
      err.code === 'ENOENT'
        ? 'mkfs.ext4 is missing (apt-get install e2fsprogs): --storage-opt image=disk needs it'
        : `making the image disk: mkfs.ext4 failed: ${(err.stderr || err.message).trim()}`,
    );
  }
}
