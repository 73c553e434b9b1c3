/**
 * Checkpoint images (issue 66, docs/checkpoint-images.md): a running container saved as an
 * image that travels through registries and starts, anywhere, from its saved state.
 *
 * Making one (make): the container is committed (its filesystem as `docker commit` makes it:
 * what any runtime runs), then checkpointed (src/pod/checkpoints), and the checkpoint's state,
 * its disk's copy and the disk of the image it was saved over are packed into blobs of the
 * content store under one state manifest (src/storage/checkpoint-image), attached to the
 * committed image, which is then tagged. A push carries the state beside the image's manifest
 * in an OCI index; a pull, save and load bring it back (src/storage).
 *
 * Starting one (savedStateFor, then ./saved-state-plan.ts): the state of an image is unpacked
 * once per image under `<data-root>/checkpoint-images/<image id>/`, as a checkpoint's
 * directory (vm.state, vm.json, pod.json, upper.ext4, and the image disk it was saved over),
 * from records checked field by field (the state may come from any registry); each container
 * of the image is then a fork of it. The directory goes once its image is gone and no
 * container names it (sweep).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import { logger } from '../util/log';
import { removeTree } from '../util/remove-tree';
import { ForbiddenError, InvalidArgumentError } from '../errors';
import { digestHex } from '../storage/digest';
import { parseTagged, type ImageReference } from '../storage/reference';
import type { ContentStore } from '../storage/content';
import type { ImageStore } from '../storage/images';
import { packCheckpointFiles } from '../storage/checkpoint-image/pack';
import { unpackCheckpointFiles, type BaseTree } from '../storage/checkpoint-image/unpack';
import { readSavedVm, VM_STATE_FILE } from '../vm/qemu/snapshots/saved-record';
import {
  readSavedState,
  savedStateOf,
  writeSavedPodRecord,
  type PodService,
  type SavedContainerState,
} from '../pod/service';
import type { PodRecord } from '../pod/types';
import {
  DISK_FILE,
  IMAGE_DISK_FILE,
  readTravellingVmRecord,
  STATE_FILE,
  travellingVmRecord,
  writeUnpackedVmRecord,
} from './saved-vm-record';

const log = logger('checkpoint-image');

/** The label (value `cold`) that starts a checkpoint image from its filesystem, as any image. */
export const COLD_LABEL = 'org.podvisor.checkpoint-image.start';

/** The record a state manifest's config carries (media-types.ts: `record`). */
interface StateRecord {
  format: 1;
  container: SavedContainerState;
  vm: ReturnType<typeof travellingVmRecord>;
}

/** A state unpacked here: its directory, as a checkpoint's, and its saved container. */
export interface UnpackedState {
  dir: string;
  container: SavedContainerState;
}

/** The container's side of a commit: the committed image's ID (untagged). */
export type CommitContainer = (podId: string) => Promise<string>;

/** What checkpoint images are made and started with. */
export interface CheckpointImageDeps {
  /** `<data-root>/checkpoint-images`. */
  root: string;
  pods: Pick<PodService, 'get' | 'list' | 'isRunning' | 'checkpoint' | 'checkpointDir' | 'removeCheckpoint'>;
  content: ContentStore;
  images: ImageStore;
  commit: CommitContainer;
  /**
   * The registries whose checkpoint images start from their saved state (--checkpoint-image-registry);
   * absent or empty: any. States made on this daemon always do; loaded ones only without a list.
   */
  registries?: readonly string[];
  /**
   * Mount image layer directories (lowest first) read-only and list their files
   * (src/storage/checkpoint-image/base-tree.ts): the image disk then travels as a recipe over its
   * base image's files. Absent: it travels as its bytes, and a recipe is refused at the unpack.
   */
  mountLayers?: (layerDirs: string[]) => Promise<BaseTree>;
  /** Make the fork template of a checkpoint's directory (the hypervisor's); absent: none is made ahead. */
  prepareForkTemplate?: (dir: string) => Promise<void>;
  /**
   * Refuse a checkpoint's directory this daemon could not start (the hypervisor's: another
   * guest kernel, agent or QEMU); absent: the start finds out.
   */
  checkStartable?: (dir: string) => void;
}

/** Most bytes a state's files may unpack to (the saved RAM, and each 16 GiB disk). */
const UNPACK_LIMITS = {
  files: {
    [STATE_FILE]: { maxBytes: 64 * 1024 ** 3, sparse: false },
    [DISK_FILE]: { maxBytes: 64 * 1024 ** 3, sparse: true },
    [IMAGE_DISK_FILE]: { maxBytes: 64 * 1024 ** 3, sparse: true, recipe: true },
  },
  maxTotalBytes: 192 * 1024 ** 3,
};

/** A qcow2 file's first bytes (a disk that is an overlay over another: not packed yet). */
const QCOW2_MAGIC = Buffer.from([0x51, 0x46, 0x49, 0xfb]);

/** Checkpoint images: made from containers, and unpacked for the containers started from them. */
export class CheckpointImages {
  private readonly unpacking = new Map<string, Promise<UnpackedState>>();

  constructor(private readonly deps: CheckpointImageDeps) {}

  /**
   * Save running container `ref` as image `imageRef` (`repo[:tag]`), its state attached;
   * `name` keeps the checkpoint in the container too (else it goes once packed); `exit` ends
   * the container's run as a checkpoint without --leave-running does. Refusals as a
   * checkpoint's (src/pod/checkpoints), and InvalidArgumentError for what no image can carry.
   * Resolves with the image's ID.
   */
  async make(ref: string, imageRef: string, opts: { name?: string; exit: boolean }): Promise<string> {
    const target = imageReference(imageRef);
    const { pods, images } = this.deps;
    const rec = pods.get(ref);
    if (!pods.isRunning(rec.id)) throw new InvalidArgumentError(`Container ${rec.name} is not running`);
    const began = Date.now();
    const id = await this.deps.commit(rec.id);
    const committed = Date.now();
    const name = opts.name ?? `image-${crypto.randomBytes(6).toString('hex')}`;
    await pods.checkpoint!(rec.id, name, { exit: opts.exit, transient: !opts.name });
    const saved = Date.now();
    try {
      const dir = pods.checkpointDir!(rec.id, name);
      const digest = await this.pack(dir, containerImageOf(rec));
      await images.attachCheckpoint(id, digest);
      await images.tag(id, target);
    } finally {
      if (!opts.name) await pods.removeCheckpoint!(rec.id, name).catch(() => undefined);
    }
    log.info(
      `container ${rec.id.slice(0, 12)}: saved as image ${imageRef} (${id.slice(7, 19)}): ` +
        `commit ${committed - began} ms, checkpoint ${saved - committed} ms, pack ${Date.now() - saved} ms`,
    );
    // Its first run here maps the saved RAM too, as after a pull (in the background: a failure
    // is logged, and that run unpacks it).
    void this.prepare(id);
    return id;
  }

  /**
   * Pack checkpoint `dir` of a container of image `baseImage` into the content store; the state
   * manifest's digest.
   */
  private async pack(dir: string, baseImage: string | undefined): Promise<string> {
    let container: SavedContainerState;
    try {
      container = savedStateOf(dir);
    } catch (err) {
      throw new InvalidArgumentError(`the container cannot be saved as an image: ${(err as Error).message}`);
    }
    const vm = readSavedVm(dir);
    if (vm.joined?.length || vm.joinedStay)
      throw new InvalidArgumentError(
        'the container cannot be saved as an image: containers joined its VM (--network container:)',
      );
    if (!vm.imageDisk || !vm.diskCopy)
      throw new InvalidArgumentError(
        "the container cannot be saved as an image: it does not read its image from the image's disk",
      );
    const disk = path.join(dir, vm.diskCopy);
    if (await startsWith(disk, QCOW2_MAGIC))
      throw new InvalidArgumentError(
        'the container cannot be saved as an image yet: it was itself started from a checkpoint (its disk is an overlay over the saved one)',
      );
    const record: StateRecord = { format: 1, container, vm: travellingVmRecord(vm) };
    const base = await this.baseTreeOf(baseImage);
    try {
      const packed = await packCheckpointFiles(
        this.deps.content,
        [
          { name: STATE_FILE, path: path.join(dir, VM_STATE_FILE), sparse: false },
          { name: DISK_FILE, path: disk, sparse: true },
          {
            name: IMAGE_DISK_FILE,
            path: vm.imageDisk.file,
            sparse: true,
            ...(base ? { recipe: { root: base.tree.root, tree: base.tree.tree, base: base.diffIds } } : {}),
          },
        ],
        record,
      );
      return packed.digest;
    } finally {
      await base?.tree.close();
    }
  }

  /**
   * The tree of image `imageId`'s layers, mounted, with their diff IDs: what its image disk is
   * made from. Undefined (the disk then travels as its bytes) when there is no mounter or the
   * image is gone.
   */
  private async baseTreeOf(imageId: string | undefined): Promise<{ tree: BaseTree; diffIds: string[] } | undefined> {
    if (!imageId || !this.deps.mountLayers) return undefined;
    try {
      const diffIds = this.deps.images.config(imageId).rootfs.diff_ids;
      const dirs = await this.deps.images.layerDirs(imageId);
      if (!diffIds.length || diffIds.length !== dirs.length) return undefined;
      return { tree: await this.deps.mountLayers(dirs), diffIds };
    } catch (err) {
      log.warn(`image ${imageId.slice(7, 19)}: its disk goes as its bytes: ${(err as Error).message}`);
      return undefined;
    }
  }

  /**
   * The opener of image `imageId`'s base tree for a recipe: the base layers it names must be
   * the image's own first layers (the image's layers were pulled and checked by their digests),
   * else the recipe is refused; they are then mounted as the sender's were.
   */
  private baseOpener(imageId: string): ((base: string[]) => Promise<BaseTree>) | undefined {
    const mount = this.deps.mountLayers;
    if (!mount) return undefined;
    return async (base) => {
      const diffIds = this.deps.images.config(imageId).rootfs.diff_ids;
      if (base.length > diffIds.length || base.some((d, i) => diffIds[i] !== d)) {
        throw new InvalidArgumentError(
          "its image disk's recipe was made over layers that are not this image's own first layers",
        );
      }
      const dirs = await this.deps.images.layerDirs(imageId);
      return mount(dirs.slice(0, base.length));
    };
  }

  /**
   * Make image `imageId`'s saved state ready for its first run, if it has one: unpacked, and its
   * fork template made (a run then maps the saved RAM instead of loading the whole state). A
   * pull, load or make calls it (src/storage/service.ts prepareImageDisk); a failure is logged,
   * and the first run tries again.
   */
  async prepare(imageId: string): Promise<void> {
    try {
      const s = await this.savedStateFor(imageId);
      if (s && this.deps.prepareForkTemplate) await this.deps.prepareForkTemplate(s.dir);
    } catch (err) {
      const say = err instanceof ForbiddenError ? log.info.bind(log) : log.warn.bind(log);
      say(`image ${imageId.slice(7, 19)}: its saved state is not ready: ${(err as Error).message}`);
    }
  }

  /**
   * The unpacked state of image `imageId` (made now, once, when it is not yet: makes of the
   * same image at once wait for the one), or undefined for an image without one.
   * InvalidArgumentError for a state that fails a check (nothing is left of it); the
   * hypervisor's refusal (checkStartable) for one made under another guest kernel, agent or QEMU.
   */
  async savedStateFor(imageId: string): Promise<UnpackedState | undefined> {
    const digest = this.deps.images.checkpointOf(imageId);
    if (!digest) return undefined;
    this.checkAllowed(imageId);
    const key = digestHex(imageId);
    let p = this.unpacking.get(key);
    if (!p) {
      p = this.unpackOnce(imageId, digest).finally(() => this.unpacking.delete(key));
      this.unpacking.set(key, p);
    }
    const s = await p;
    // Refused before anything is made for it when it could not start here.
    this.deps.checkStartable?.(s.dir);
    return s;
  }

  /**
   * Refuse (ForbiddenError) the saved state of image `imageId` when the daemon limits which
   * registries' states start (CheckpointImageDeps.registries) and it came from none of them.
   */
  private checkAllowed(imageId: string): void {
    const allowed = this.deps.registries ?? [];
    const origin = this.deps.images.checkpointOriginOf(imageId) ?? 'local';
    if (!allowed.length || origin === 'local') return;
    const from = origin === 'archive' ? undefined : origin.replace(/^registry:/, '');
    if (from !== undefined && allowed.includes(from)) return;
    throw new ForbiddenError(
      `the saved state of image ${imageId.slice(7, 19)} came ${from ? `from registry ${from}` : 'from an archive (docker load)'}, and this daemon starts saved states only from ${allowed.join(', ')} (--checkpoint-image-registry): label ${COLD_LABEL}=cold runs the image's filesystem afresh`,
    );
  }

  /** The directory of image `key`'s unpacked state. */
  private dirOf(key: string): string {
    return path.join(this.deps.root, key);
  }

  private async unpackOnce(imageId: string, digest: string): Promise<UnpackedState> {
    const key = digestHex(imageId);
    const dir = this.dirOf(key);
    const saved = path.join(dir, 'saved.json');
    if (fs.existsSync(saved)) {
      return { dir, container: readSavedState(JSON.parse(await fs.promises.readFile(saved, 'utf8'))) };
    }
    await fs.promises.mkdir(this.deps.root, { recursive: true, mode: 0o700 });
    const tmp = await fs.promises.mkdtemp(path.join(this.deps.root, `.new-${key.slice(0, 12)}-`));
    try {
      const started = Date.now();
      const { record } = await unpackCheckpointFiles(
        this.deps.content,
        digest,
        tmp,
        UNPACK_LIMITS,
        this.baseOpener(imageId),
      );
      const r = record as Partial<StateRecord> | null;
      if (typeof r !== 'object' || r === null || r.format !== 1)
        throw new Error('its record is not one this daemon reads');
      const container = readSavedState(r.container);
      const vm = readTravellingVmRecord(r.vm);
      await writeUnpackedVmRecord(tmp, dir, vm);
      await writeSavedPodRecord(tmp, container);
      await fs.promises.writeFile(path.join(tmp, 'saved.json'), JSON.stringify(container), { mode: 0o600 });
      // An image removed meanwhile (its sweep found nothing to remove yet) leaves nothing.
      if (this.deps.images.checkpointOf(imageId) !== digest) throw new Error('its image was removed meanwhile');
      await removeTree(dir);
      await fs.promises.rename(tmp, dir);
      log.info(`image state ${key.slice(0, 12)} unpacked in ${Date.now() - started} ms`);
      return { dir, container };
    } catch (err) {
      await removeTree(tmp).catch(() => undefined);
      const why = (err as Error).message;
      throw new InvalidArgumentError(`the saved state of image ${key.slice(0, 12)} cannot be used: ${why}`);
    }
  }

  /**
   * Remove the unpacked states whose image is gone and that no container's record names (a
   * container's disk is an overlay over its state's copy): after an image's removal, a
   * container's, and at the daemon's start.
   */
  async sweep(): Promise<void> {
    let names: string[];
    try {
      names = await fs.promises.readdir(this.deps.root);
    } catch {
      return;
    }
    const named = new Set(
      this.deps.pods
        .list()
        .map((r: PodRecord) => r.sandbox.spec.savedState?.dir)
        .filter((d): d is string => !!d),
    );
    for (const n of names) {
      const dir = this.dirOf(n);
      // A base tree's mount (a pack's, an unpack's) goes with what made it; one a killed
      // daemon left is in the daemon's own mount namespace no more.
      if (n.startsWith('.tree-')) continue;
      if (n.startsWith('.new-')) {
        if (!this.unpacking.size) await removeTree(dir).catch(() => undefined);
        continue;
      }
      if (named.has(dir) || this.deps.images.checkpointOf(`sha256:${n}`)) continue;
      await removeTree(dir).catch((err: Error) => log.warn(`removing ${dir}: ${err.message}`));
    }
  }
}

/** The image of a pod's (only) container. */
function containerImageOf(rec: PodRecord): string | undefined {
  const cs = Object.values(rec.containers);
  return cs.length === 1 ? cs[0].spec.image : undefined;
}

/** `repo[:tag]` as an image reference to tag (InvalidArgumentError otherwise). */
function imageReference(s: string): ImageReference {
  let ref: ImageReference;
  try {
    ref = parseTagged(s);
  } catch (err) {
    throw new InvalidArgumentError(`invalid image reference ${JSON.stringify(s)}: ${(err as Error).message}`);
  }
  if (ref.digest) throw new InvalidArgumentError('refusing to create a tag with a digest reference');
  return ref;
}

/** Whether file `f` starts with `magic`. */
async function startsWith(f: string, magic: Buffer): Promise<boolean> {
  const h = await fs.promises.open(f, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const b = Buffer.alloc(magic.length);
    const { bytesRead } = await h.read(b, 0, b.length, 0);
    return bytesRead === magic.length && b.equals(magic);
  } finally {
    await h.close();
  }
}
