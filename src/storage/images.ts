/**
 * The image store: its records and lookups (./image-index.ts), and here the removal of images
 * with dockerd's rules: `docker rmi` (untag, or delete with the layers nothing else uses),
 * `docker image prune`, and the collection of unreferenced layers.
 *
 * A used image answers 409 to `docker rmi` unless forced. An image built locally (each step of
 * a build) records its parent, as dockerd's image store does: an image with children cannot be
 * deleted, and deleting one deletes the untagged parents nothing else needs (dockerd's prune of
 * parents, unless `noprune`).
 *
 * A deleted checkpoint image loses its attached state: the state manifest and the blobs no other
 * image's attachment names leave the content store, then the listeners of onImageDeleted are
 * told (the layer above drops what it unpacked from that state).
 */
import { chainIds, digestHex } from './digest';
import {
  familiarString,
  formatReference,
  looksLikeImageId,
  parseReference,
  parseTagged,
  repositoryName,
  type ImageReference,
} from './reference';
import { ConflictError } from '../errors';
import { ImageDeleteConflictError, ReferenceInUseError } from './errors';
import { ImageIndex, type ImageRemoval, type StoredImageView } from './image-index';
import type { ImageDisks } from './image-disks/image-disks';
import { logger } from '../util/log';

const log = logger('images');

/** Told the ID of each image deleted (rmi, prune), once its records and blobs are gone. */
export type ImageDeletedListener = (imageId: string) => Promise<void> | void;

export type { ImageRemoval, RunningProbe, StoredImageView } from './image-index';

/** Images and their references, persisted under one directory, with removal. */
export class ImageStore extends ImageIndex {
  private imageDisks: ImageDisks | undefined;
  private readonly deletedListeners: ImageDeletedListener[] = [];

  /**
   * Call `listener` after each image deletion (`docker rmi`, `image prune`, parents pruned with
   * a child), once the image, its attachment and the blobs only it needed are gone. A listener's
   * failure is logged and does not fail the deletion.
   */
  onImageDeleted(listener: ImageDeletedListener): void {
    this.deletedListeners.push(listener);
  }

  /**
   * The image disks (block mode) that go with their images (`docker rmi`, `image prune`): a disk
   * is kept while an image has its layers.
   */
  useImageDisks(disks: ImageDisks): void {
    this.imageDisks = disks;
    disks.keepWhile((layers) => this.hasImageOn(layers));
  }

  /** Whether an image has exactly the layer directories `layers` (lowest first). */
  private async hasImageOn(layers: readonly string[]): Promise<boolean> {
    const key = layers.join('\n');
    for (const id of Object.keys(this.state.images)) {
      const dirs = await this.layerDirs(id).catch(() => [] as string[]);
      if (dirs.join('\n') === key) return true;
    }
    return false;
  }

  /** Conflicts for deleting an image: running users always, other users and refs unless forced. */
  private checkDeleteConflict(id: string, force: boolean, checkRefs: boolean): void {
    if (this.children(id).length) throw new ImageDeleteConflictError(id, false, { kind: 'child-images' });
    const users = this.usersOf(id);
    const running = users.find((c) => this.running(c));
    if (running) throw new ImageDeleteConflictError(id, false, { kind: 'running-container', containerId: running });
    if (force) return;
    if (checkRefs && this.refsOf(id).length > 0)
      throw new ImageDeleteConflictError(id, true, { kind: 'other-references' });
    if (users.length)
      throw new ImageDeleteConflictError(id, true, { kind: 'stopped-container', containerId: users[0] });
  }

  /**
   * `docker rmi`: untag when `input` names a reference and other references remain,
   * otherwise delete the image (and layers nothing else uses). Same rules and messages as
   * dockerd's ImageDelete (the Docker front end words the conflicts as it does).
   */
  async remove(input: string, opts: { force?: boolean; prune?: boolean } = {}): Promise<ImageRemoval[]> {
    const force = !!opts.force;
    const img = this.find(input);
    const id = img.id;
    const items: ImageRemoval[] = [];
    let repoRefs = this.refsOf(id);
    const byId =
      looksLikeImageId(input) &&
      id.startsWith(input.startsWith('sha256:') ? input : `sha256:${input}`) &&
      !this.isRef(input);
    const singleRepo = (refs: ImageReference[]) =>
      new Set(refs.map(repositoryName)).size <= 1 && refs.filter((r) => r.digest === undefined).length <= 1;
    if (!byId) {
      const ref = parseTagged(input);
      if (!force && singleRepo(repoRefs) && this.usersOf(id).length) {
        throw new ReferenceInUseError(input, id, this.usersOf(id)[0]);
      }
      delete this.state.refs[formatReference(ref)];
      items.push({ untagged: familiarString(ref) });
      repoRefs = this.refsOf(id);
      if (
        ref.digest === undefined &&
        !repoRefs.some((r) => r.digest === undefined && repositoryName(r) === repositoryName(ref))
      ) {
        // The last tag of this repository is gone: its digest references go too.
        for (const r of repoRefs.filter((x) => x.digest !== undefined && repositoryName(x) === repositoryName(ref))) {
          delete this.state.refs[formatReference(r)];
          items.push({ untagged: familiarString(r) });
        }
        repoRefs = this.refsOf(id);
      }
      if (repoRefs.length > 0) {
        await this.save();
        return items;
      }
    } else {
      if (singleRepo(repoRefs)) {
        this.checkDeleteConflict(id, force, false);
        for (const r of repoRefs) {
          delete this.state.refs[formatReference(r)];
          items.push({ untagged: familiarString(r) });
        }
      }
    }
    try {
      this.checkDeleteConflict(id, force, true);
    } catch (err) {
      await this.save();
      throw err;
    }
    items.push(...(await this.deleteImage(id)));
    if (opts.prune) items.push(...(await this.pruneParents(img.parent)));
    return items;
  }

  /** Delete `id` and its parents in turn while each is untagged, unused and childless. */
  private async pruneParents(id: string | undefined): Promise<ImageRemoval[]> {
    const items: ImageRemoval[] = [];
    for (let p = id; p && this.state.images[p]; ) {
      if (this.children(p).length || this.refsOf(p).length || this.usersOf(p).length) break;
      const next: string | undefined = this.state.images[p].parent;
      items.push(...(await this.deleteImage(p)));
      p = next;
    }
    return items;
  }

  /** Drop an image and its references, then collect layers nobody references. */
  private async deleteImage(id: string): Promise<ImageRemoval[]> {
    const img = this.state.images[id];
    const items: ImageRemoval[] = [];
    // Its disk goes with it, unless a container still uses it (a forced removal: the disk goes
    // with the last such container, ./rootfs.ts) or another image has the same layers.
    const disk = this.imageDisks ? await this.layerDirs(id) : undefined;
    for (const [ref, target] of Object.entries(this.state.refs)) {
      if (target === id) {
        delete this.state.refs[ref];
        items.push({ untagged: familiarString(parseReference(ref)) });
      }
    }
    delete this.state.images[id];
    // Its saved state goes with it (the blobs once the state is recorded gone).
    const checkpoint = this.checkpointOf(id);
    delete this.state.checkpoints[id];
    delete this.state.checkpointOrigins?.[id];
    // Stopped containers of a forced removal keep its layers until the last of them goes.
    if (this.usersOf(id).length) this.state.retained[id] = img.layers;
    else delete this.state.users[id];
    this.configs.delete(id);
    await this.save();
    items.push({ deleted: id });
    // Report removed layers by chain ID, as dockerd does, for chains no other image has.
    const otherChains = new Set(
      [...Object.values(this.state.images).map((i) => i.layers), ...Object.values(this.state.retained)].flatMap(
        (layers) => chainIds(layers),
      ),
    );
    const mine = chainIds(img.layers);
    for (let i = mine.length - 1; i >= 0; i--) {
      if (!otherChains.has(mine[i])) items.push({ deleted: mine[i] });
    }
    if (disk) await this.imageDisks?.release(disk);
    await this.gc();
    if (checkpoint !== undefined) await this.collectCheckpoint(checkpoint);
    if (!Object.values(this.state.images).some((i) => i.id === id)) await this.content.delete(id);
    for (const listener of this.deletedListeners) {
      try {
        await listener(id);
      } catch (err) {
        log.warn(`after deleting image ${id}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return items;
  }

  /**
   * Forget that a container uses an image; the last container of an image deleted by force
   * releases its layers.
   */
  override async removeUser(imageId: string, containerId: string): Promise<void> {
    await super.removeUser(imageId, containerId);
    if (!this.state.retained[imageId] || this.usersOf(imageId).length) return;
    delete this.state.retained[imageId];
    await this.save();
    await this.gc();
  }

  /** Remove layers that no image (nor container of a deleted one) references. Returns their total size. */
  async gc(): Promise<number> {
    const referenced = new Set([
      ...Object.values(this.state.images).flatMap((i) => i.layers),
      ...Object.values(this.state.retained).flat(),
    ]);
    const sizes = new Map(this.layers.list().map((l) => [l.diffId, l.size]));
    const removed = await this.layers.gc(referenced);
    const kept = new Set(this.layers.list().map((l) => l.blob?.digest));
    for (const l of removed) if (l.blob && !kept.has(l.blob.digest)) await this.content.delete(l.blob.digest);
    return removed.reduce((n, l) => n + (sizes.get(l.diffId) ?? 0), 0);
  }

  /**
   * `docker image prune`: delete images not used by any container and matching `keep`; with
   * `danglingOnly`, only images without tags. Returns the delete items and bytes reclaimed.
   */
  async prune(
    danglingOnly: boolean,
    match: (img: StoredImageView) => boolean,
  ): Promise<{ items: ImageRemoval[]; reclaimed: number }> {
    const items: ImageRemoval[] = [];
    const before = new Map(this.layers.list().map((l) => [l.diffId, l.size]));
    for (const img of this.list()) {
      // An image deleted with its child (a parent nothing else needed) is gone already.
      if (!this.state.images[img.id]) continue;
      // dockerd prunes the dangling heads; their untagged parents go with them.
      if (danglingOnly && this.children(img.id).length) continue;
      if (this.usersOf(img.id).length) continue;
      if (!match(img)) continue;
      if (danglingOnly && img.repoTags.length > 0) continue;
      try {
        if (img.repoTags.length === 0 && img.repoDigests.length === 0) {
          items.push(...(await this.remove(digestHex(img.id), { prune: true })));
        } else {
          for (const r of [...img.repoTags, ...img.repoDigests]) {
            if (!this.state.images[img.id]) break;
            items.push(...(await this.remove(r, { prune: true })));
          }
        }
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
      }
    }
    const after = new Set(this.layers.list().map((l) => l.diffId));
    let reclaimed = 0;
    for (const [d, s] of before) if (!after.has(d)) reclaimed += s;
    return { items, reclaimed };
  }
}
