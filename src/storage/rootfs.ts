/**
 * Container root filesystems on overlayfs (see RootfsManager in ./types for the lifecycle).
 *
 * Per container, under `<root>/<id>/` (root = `<data-root>/containers`):
 *   lower.json   the image's layer directories, lowest first (written by prepare)
 *   upper/       the container's writable layer (kept across stop/start)
 *   work/        overlayfs' work directory
 *   l/0, l/1...  short symlinks to the layer directories (only for long layer lists)
 *   mountpoint   where the overlay is mounted while the container runs (its path, then on a
 *                second line the share directory it is below)
 *
 * overlayfs wants `lowerdir` top layer first. The whole option string must fit in one page
 * (the kernel copies mount options into a 4096-byte page). When absolute paths would not
 * fit, the layers are reached through the short `l/<n>` symlinks and the mount is made with
 * `<root>/<id>` as its working directory, with relative paths (Docker's overlay2 does the
 * same with its `l/` directory). Beyond MAX_LAYERS layers (overlayfs' own limit is
 * higher, Docker's is 128) prepare refuses.
 *
 * Mounts go through a Mounter (src/util/mounter.ts: system calls from a long-lived helper instead
 * of a mount(8) process per start).
 *
 * Nothing in upper/ is trusted (the guest writes it through virtio-fs): size walks never
 * follow symlinks and removal never leaves the container's directory. Neither is anything in
 * the VM's share directory the rootfs is mounted into (a guest root may rename and replace
 * its entries with symlinks while the host mounts): the mount point is given as a path below
 * the share, reached without following a symlink (src/util/beneath.ts), and the overlay is
 * mounted onto the directory so reached; unmounts name it the same way.
 *
 * Block mode (prepare with `disk`; the daemon's --rootfs-disk): the writable layer is
 * `upper.ext4`, a sparse file the host formats with mkfs.ext4 and then never mounts (the
 * guest writes it; a crafted filesystem could attack the host kernel). `mount` then mounts only
 * the image layers, read-only (an overlay of lower layers alone, or a read-only bind of a
 * single layer), and the guest makes the container's / an overlay of that tree over 9p and
 * the disk's upper/ and work/ (docs/design/storage.md, "Container state on disk").
 * The disk is made at the container's first `mount` (its first start), not at `prepare`: until
 * then `upper.disk.json` holds its size and the layer is the host's upper/, so that docker cp,
 * diff, export and commit of a created container are done on the host, without a VM. The first
 * mount moves what upper/ holds into the new filesystem (mkfs.ext4 -d), or, when it is empty,
 * takes the spare disk. A start from a checkpoint (takeDisk: a restore, a fork) makes the disk a
 * copy-on-write qcow2 overlay over the checkpoint's copy (src/util/disk-chain.ts: the files
 * under it are linked in `upper.ext4.backing/`), so it costs only the blocks it writes. A
 * container run with `--storage-opt image=disk` reads its image from the image's read-only disk
 * instead (imageDisk: ./image-disks/from-layers.ts), shared with the image's other such containers.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DiskSource, RootfsManager } from './types';
import { BlockModeError } from './errors';
import { InvalidArgumentError, NotFoundError, NotImplementedError } from '../errors';
import {
  DISK_SEED_DIR,
  hasPendingDisk,
  makeDiskVolumeSeed,
  makePendingDisk,
  PENDING_DISK_FILE,
  recordPendingDisk,
  type SpareDisks,
} from './upper-disk-file';
import { MAX_LAYERS, overlayOptions } from './overlay-options';
import { HOST_MOUNT_FLAGS, mountImageLayers, writeLayerLinks } from './layer-mounts';
import { RootfsImageDisks } from './image-disks/from-layers';
import { writeFileAtomic } from '../util/atomic';
import { backingDirOf, makeOverlay } from '../util/disk-chain';
import { isMountPoint, type Mounter, sharedMounter } from '../util/mounter';
import { removeGuestTree, removeTree } from '../util/remove-tree';
import { fdPath, joinBeneath, openBeneath, unmountBeneath, type BeneathPath } from '../util/beneath';
import { treeSize } from './tree-walk';
import type { ImageDisks } from './image-disks/image-disks';

/** The file of a block-mode container's writable layer, in its directory. */
const DISK_FILE = 'upper.ext4';

export { MAX_LAYERS, MOUNT_OPTIONS_MAX, overlayOptions } from './overlay-options';

/** A container's overlay directories, as inspect's GraphDriver shows them (top layer first). */
export interface RootfsPaths {
  lowerDirs: string[];
  upperDir: string;
  workDir: string;
  mergedDir?: string;
  /** mergedDir as a path below the share directory it is mounted in (never followed through a symlink). */
  mergedBeneath?: BeneathPath;
  /** Block mode: the file of the writable layer (upperDir and workDir are then not used). */
  disk?: string;
}

/** Overlayfs implementation of RootfsManager. */
export class OverlayRootfs implements RootfsManager {
  /**
   * paths() answers by id, kept in memory: inspect asks on every call, and under 50 clients
   * two file reads per inspect made it 6x slower than list (bench/load.ts). Every change of a
   * container's rootfs (prepare, mount, unmount, remove) bumps its generation and drops the
   * entry; an answer read from disk is kept only if no change came while it was read.
   */
  private readonly known = new Map<string, RootfsPaths>();
  private readonly generation = new Map<string, number>();

  private changed(id: string): void {
    this.known.delete(id);
    this.generation.set(id, (this.generation.get(id) ?? 0) + 1);
  }

  /** Block mode's read-only disks of images, as containers and images ask for them (./image-disks/from-layers.ts). */
  readonly imageDisks: RootfsImageDisks | undefined;

  /**
   * `spares`: block mode's upper disks made ahead of need (./upper-disk-file.ts), in a
   * directory on the same filesystem as `root`; `imageDisks`: block mode's read-only disks of
   * images (./image-disks/image-disks.ts).
   */
  constructor(
    readonly root: string,
    private readonly mounter: Mounter = sharedMounter(),
    private readonly spares?: SpareDisks,
    imageDisks?: ImageDisks,
  ) {
    this.imageDisks = imageDisks && new RootfsImageDisks(imageDisks, root, mounter);
  }

  private dir(id: string): string {
    if (!/^[A-Za-z0-9_.-]+$/.test(id) || id.startsWith('.'))
      throw new InvalidArgumentError(`invalid container id ${JSON.stringify(id)}`);
    return path.join(this.root, id);
  }

  /** The overlay directories of a prepared container (for inspect's GraphDriver). */
  async paths(id: string): Promise<RootfsPaths> {
    const d = this.dir(id);
    const cached = this.known.get(id);
    if (cached) return { ...cached, lowerDirs: [...cached.lowerDirs] };
    const gen = this.generation.get(id) ?? 0;
    const lowerDirs = await this.layers(id);
    const mp = await this.mountRecord(id);
    const disk = this.diskOf(id);
    const p: RootfsPaths = {
      lowerDirs: lowerDirs.slice().reverse(),
      upperDir: path.join(d, 'upper'),
      workDir: path.join(d, 'work'),
      ...(mp ? { mergedDir: mp.path, ...(mp.beneath ? { mergedBeneath: mp.beneath } : {}) } : {}),
      ...(disk ? { disk } : {}),
    };
    if ((this.generation.get(id) ?? 0) === gen) this.known.set(id, p);
    return { ...p, lowerDirs: [...p.lowerDirs] };
  }

  private async layers(id: string): Promise<string[]> {
    try {
      const v = JSON.parse(await fs.promises.readFile(path.join(this.dir(id), 'lower.json'), 'utf8')) as unknown;
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new Error('bad lower.json');
      return v as string[];
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`no rootfs prepared for ${id}`);
      throw e;
    }
  }

  /** Where the container's rootfs is mounted, as recorded (see the module comment). */
  private async mountRecord(id: string): Promise<{ path: string; beneath?: BeneathPath } | undefined> {
    let text: string;
    try {
      text = await fs.promises.readFile(path.join(this.dir(id), 'mountpoint'), 'utf8');
    } catch {
      return undefined;
    }
    const [where, root] = text.split('\n');
    if (!where) return undefined;
    // A record of a daemon before the second line: the path alone.
    if (!root || !where.startsWith(root + '/')) return { path: where };
    return { path: where, beneath: { root, rel: where.slice(root.length + 1) } };
  }

  private async recordMount(id: string, target: BeneathPath): Promise<void> {
    await writeFileAtomic(path.join(this.dir(id), 'mountpoint'), `${joinBeneath(target)}\n${target.root}`);
  }

  /**
   * Unmount what the record names (lazily when busy); nothing when nothing is mounted there. A
   * record of an older daemon names the path alone: it is walked from `/` as a path below a
   * share, no symlink followed, so a directory on it that a guest swapped for a symlink leaves
   * the mount where it is (the VM's teardown detaches it).
   */
  private async unmountRecorded(rec: { path: string; beneath?: BeneathPath }): Promise<void> {
    if (!rec.beneath && !isMountPoint(rec.path)) return;
    const t = rec.beneath ?? { root: '/', rel: rec.path.slice(1) };
    // Busy (a virtiofsd still holds it): detach it now, the kernel frees it when unused.
    await unmountBeneath(this.mounter, t).catch(() => unmountBeneath(this.mounter, t, { detach: true }));
  }

  /** @inheritdoc */
  diskOf(id: string): string | undefined {
    const f = path.join(this.dir(id), DISK_FILE);
    return fs.existsSync(f) ? f : undefined;
  }

  /** @inheritdoc */
  usesDisk(id: string): boolean {
    return this.diskOf(id) !== undefined || hasPendingDisk(this.dir(id));
  }

  /** @inheritdoc */
  async takeDisk(id: string, file: string): Promise<void> {
    if (!this.usesDisk(id)) throw new InvalidArgumentError(`container ${id.slice(0, 12)} has no disk of its own`);
    const d = this.dir(id);
    this.changed(id);
    try {
      // Copy-on-write: a qcow2 overlay over a link of the copy, which is never written again.
      await makeOverlay(file, path.join(d, DISK_FILE));
      await fs.promises.rm(path.join(d, PENDING_DISK_FILE), { force: true });
    } finally {
      this.changed(id);
    }
  }

  /** @inheritdoc */
  async diskVolumeSeed(id: string, volume: string): Promise<string> {
    const d = this.dir(id);
    if (!hasPendingDisk(d)) throw new InvalidArgumentError(`container ${id.slice(0, 12)} has no disk still to be made`);
    return makeDiskVolumeSeed(d, volume);
  }

  /**
   * Make the disk of block-mode container `id` if it is still pending (`mount` does, at the
   * first start; ./upper-disk-file.ts makePendingDisk).
   */
  async makeDisk(id: string, readyDisk?: DiskSource): Promise<void> {
    const d = this.dir(id);
    const sources = [readyDisk, this.spares].filter((s): s is DiskSource => s !== undefined);
    await makePendingDisk(d, path.join(d, DISK_FILE), sources, (target) => this.mounter.unmount(target));
  }

  /** @inheritdoc */
  async imageDisk(id: string): Promise<string> {
    if (!this.imageDisks) throw new NotImplementedError('this daemon keeps no image disks (block mode: --rootfs-disk)');
    return this.imageDisks.ofContainer(this.dir(id), await this.layers(id));
  }

  async prepare(
    id: string,
    layerDirs: string[],
    disk?: { bytes: number; fsBytes?: number; imageOnDisk?: boolean },
  ): Promise<void> {
    if (layerDirs.length === 0) throw new InvalidArgumentError('an image needs at least one layer');
    if (layerDirs.length > MAX_LAYERS)
      throw new InvalidArgumentError(`max depth exceeded: ${layerDirs.length} layers (at most ${MAX_LAYERS})`);
    for (const l of layerDirs)
      if (!path.isAbsolute(l) || l.includes(':') || l.includes(','))
        throw new InvalidArgumentError(`bad layer directory ${l}`);
    const d = this.dir(id);
    this.changed(id);
    await fs.promises.mkdir(d, { recursive: true, mode: 0o700 });
    await fs.promises.mkdir(path.join(d, 'upper'), { mode: 0o755 }).catch(ignoreExists);
    await fs.promises.mkdir(path.join(d, 'work'), { mode: 0o700 }).catch(ignoreExists);
    if (overlayOptions(layerDirs, d).links) await writeLayerLinks(d, layerDirs);
    // The disk itself is made at the first mount (makeDisk).
    if (disk && !fs.existsSync(path.join(d, DISK_FILE))) await recordPendingDisk(d, disk);
    await writeFileAtomic(path.join(d, 'lower.json'), JSON.stringify(layerDirs));
  }

  async mount(id: string, target: BeneathPath, opts: { readyDisk?: DiskSource } = {}): Promise<void> {
    const d = this.dir(id);
    this.changed(id);
    const layers = await this.layers(id);
    const prev = await this.mountRecord(id);
    if (prev && isMountPoint(prev.path)) {
      if (prev.path === joinBeneath(target)) return;
      await this.unmount(id);
    }
    // The mount point, made when missing, held open: the mount goes onto it wherever it is.
    const fh = await openBeneath(target, { create: true, dirMode: 0o755 });
    try {
      await this.makeDisk(id, opts.readyDisk);
      // Block mode: the host mounts the image layers only (the writable layer is the guest's).
      if (this.diskOf(id)) await mountImageLayers(this.mounter, layers, d, fdPath(fh));
      else await this.mountOverlay(layers, d, fdPath(fh));
    } finally {
      await fh.close();
    }
    try {
      await this.recordMount(id, target);
    } catch (e) {
      await unmountBeneath(this.mounter, target, { detach: true }).catch(() => undefined);
      throw e;
    } finally {
      this.changed(id);
    }
  }

  /** The container's overlay (its layers under the writable one in `d`) at `target`. */
  private async mountOverlay(layers: string[], d: string, target: string): Promise<void> {
    const { options, cwd } = overlayOptions(layers, d);
    await this.mounter.mount({
      source: 'overlay',
      target,
      fstype: 'overlay',
      flags: HOST_MOUNT_FLAGS,
      data: options,
      ...(cwd ? { cwd } : {}),
    });
  }

  async adopt(id: string, target: BeneathPath): Promise<void> {
    const rec = await this.mountRecord(id);
    if (!isMountPoint(joinBeneath(target)) || (rec?.path === joinBeneath(target) && rec.beneath)) return;
    this.changed(id);
    try {
      await this.recordMount(id, target);
    } finally {
      this.changed(id);
    }
  }

  /**
   * Mount the container's overlay at `target` for a short job on the host (docker cp, export
   * of a container that does not run), without recording it as the container's mountpoint.
   * `imageOnly`: for a block-mode container the host may mount only its image layers
   * (read-only), which is its root as long as it never ran (a new volume's copy-up at
   * create); without it block mode is refused (BlockModeError).
   */
  async mountDetached(id: string, target: string, opts: { imageOnly?: boolean } = {}): Promise<void> {
    const d = this.dir(id);
    const disk = this.diskOf(id);
    if (disk && !opts.imageOnly) throw new BlockModeError(id);
    const layers = await this.layers(id);
    // Not recursive: a container removed meanwhile must not get its directory back.
    await fs.promises.mkdir(target, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    if (isMountPoint(target)) await this.mounter.unmount(target, { detach: true });
    if (disk) await mountImageLayers(this.mounter, layers, d, target);
    else await this.mountOverlay(layers, d, target);
    // Removed while this mount was made: remove() may have looked for mounts before it
    // existed, and the container's directory must be free to go.
    if (this.isRemoved(id)) {
      await this.mounter.unmount(target, { detach: true }).catch(() => undefined);
      throw new NotFoundError(`No such container: ${id}`);
    }
  }

  /** Undo mountDetached (lazily when still busy). */
  async unmountDetached(target: string): Promise<void> {
    if (!isMountPoint(target)) return;
    try {
      await this.mounter.unmount(target).catch(() => this.mounter.unmount(target, { detach: true }));
    } catch (err) {
      // Unmounted meanwhile (a removal beside the request detaches it: remove()), which is
      // what was asked; umount2 then said EINVAL.
      if (isMountPoint(target)) throw err;
    }
  }

  async unmount(id: string): Promise<void> {
    const d = this.dir(id);
    this.changed(id);
    const mp = await this.mountRecord(id);
    if (!mp) return;
    await this.unmountRecorded(mp);
    await fs.promises.rm(path.join(d, 'mountpoint'), { force: true });
    this.changed(id);
  }

  async remove(id: string): Promise<void> {
    const d = this.dir(id);
    // Block mode: the image disk it was made from goes with the last container and image on it.
    const layers = this.imageDisks ? await this.layers(id).catch(() => undefined) : undefined;
    await this.unmount(id);
    this.changed(id);
    // lower.json first: from then on the rootfs counts as gone (see isRemoved), before a
    // mount of it beside this removal can fail on a missing upper or work directory.
    const diskFiles = [DISK_FILE, `${DISK_FILE}.new`].flatMap((f) => [f, path.basename(backingDirOf(f))]);
    for (const name of ['lower.json', 'upper', 'work', 'l', ...diskFiles, PENDING_DISK_FILE, DISK_SEED_DIR]) {
      // The upper may still be the guest's: a mount of it that the guest moved in its share
      // cannot be found by name to be unmounted (it stays until the VM goes).
      if (name === 'upper') await removeGuestTree(path.join(d, name));
      else await removeTree(path.join(d, name));
    }
    // A mount of this rootfs that a request beside the removal holds (mountDetached: docker cp
    // or export of a stopped container) is detached, lazily, so that the container's directory
    // can go (it failed with EBUSY); the request keeps what it has open until it ends.
    for (const name of await fs.promises.readdir(d).catch(() => [] as string[])) {
      const p = path.join(d, name);
      if (isMountPoint(p)) await this.mounter.unmount(p, { detach: true }).catch(() => undefined);
    }
    this.changed(id);
    if (layers) await this.imageDisks?.disks.release(layers);
  }

  /** Whether the container's rootfs was removed (or never prepared): its lower.json is gone. */
  isRemoved(id: string): boolean {
    return !fs.existsSync(path.join(this.dir(id), 'lower.json'));
  }

  async sizeRw(id: string): Promise<number> {
    const disk = this.diskOf(id);
    // Block mode: what the disk file takes on the host (its filesystem's own metadata included).
    if (disk) return (await fs.promises.stat(disk).catch(() => ({ blocks: 0 }))).blocks * 512;
    return treeSize(path.join(this.dir(id), 'upper'));
  }
}

function ignoreExists(e: NodeJS.ErrnoException): void {
  if (e.code !== 'EEXIST') throw e;
}
