/**
 * The image store's records: complete images (config blob in the content store, layers in the
 * layer store), the references (tags and digests) that name them, the containers that use
 * them, with dockerd's rules for lookup and tagging. Deletion (rmi, prune, layer collection)
 * is the store's other half, in ./images.ts.
 *
 * State lives in `<root>/state.json`, replaced atomically on every change (temp, fsync,
 * rename), so an image is either fully recorded or absent: a pull records it only after its
 * config and every layer are stored. Image IDs are the config blob's digest, as in Docker.
 * References are kept fully qualified (`docker.io/library/busybox:latest`) and shown in
 * docker's familiar form (`busybox:latest`).
 *
 * Implements `ImageLookup` for the container layer: resolve, layerDirs (lowest first),
 * addUser/removeUser.
 *
 * A checkpoint image (issue 66) is an image with an attached saved state: `checkpoints` maps
 * its image ID to the digest of a state manifest (./checkpoint-image/media-types.ts) kept, with
 * the blobs it names, in the content store. An attachment whose manifest or any of its blobs
 * went missing is dropped at init (the image stays); deletion (./images.ts) drops it with the
 * image and collects the blobs no other attachment names.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ImageConfig, ImageLookup, ImageRecord } from './types';
import type { ContentStore } from './content';
import type { LayerStore } from './layers/store';
import { writeFileAtomic } from '../util/atomic';
import {
  familiarString,
  formatReference,
  looksLikeImageId,
  parseReference,
  parseTagged,
  type ImageReference,
} from './reference';
import { InvalidArgumentError } from '../errors';
import { NoSuchImageError } from './errors';
import { stateBlobDigests } from './checkpoint-image/state-manifest';
import { logger } from '../util/log';

const log = logger('images');

/** What the store keeps per image besides its config. */
export interface StoredImage {
  id: string;
  /** Diff IDs, lowest first (the config's rootfs.diff_ids). */
  layers: string[];
  size: number;
  storedAt: number;
  /** RFC 3339, set by `docker tag`. */
  lastTagTime?: string;
  /** The image it was built on (build steps only). */
  parent?: string;
}

/** The persisted state: images, references, users. */
export interface State {
  images: Record<string, StoredImage>;
  /** Fully qualified reference -> image ID. */
  refs: Record<string, string>;
  /** Image ID -> container IDs using it. */
  users: Record<string, string[]>;
  /**
   * Image ID -> its layers' diff IDs, for an image deleted by force while stopped containers
   * used it: its layers stay for them (`users` still lists them) until the last one goes, as
   * dockerd's containers keep their image's layers.
   */
  retained: Record<string, string[]>;
  /** Image ID -> digest of its attached state manifest (a checkpoint image). */
  checkpoints: Record<string, string>;
  /**
   * Image ID -> where its attached state came from (CheckpointOrigin); absent for a state
   * attached before origins were kept, taken as made here.
   */
  checkpointOrigins?: Record<string, CheckpointOrigin>;
}

/**
 * Where an image's saved state came from: made on this daemon (`local`), pulled from a registry
 * (`registry:<domain>`), or loaded from an archive (`archive`).
 */
export type CheckpointOrigin = 'local' | 'archive' | `registry:${string}`;

/** An image as the store returns it: the record plus what the API shows. */
export interface StoredImageView extends ImageRecord {
  /** Diff IDs lowest first. */
  layers: string[];
  lastTagTime?: string;
  /** The image it was built on, when it was built here. */
  parent?: string;
  /** Digest of its attached state manifest, when it is a checkpoint image. */
  checkpoint?: string;
}

/** One step of an image removal, in order: a reference removed, or an image or layer chain deleted. */
export type ImageRemoval = { untagged: string } | { deleted: string };

/** Decides whether a container is running (set by the container layer; default: not). */
export type RunningProbe = (containerId: string) => boolean;

/** Images and their references, persisted under one directory. */
export class ImageIndex implements ImageLookup {
  protected state: State = { images: {}, refs: {}, users: {}, retained: {}, checkpoints: {} };
  protected readonly configs = new Map<string, ImageConfig>();
  /** State manifest digest -> the blobs it names (read once, at init or attach). */
  protected readonly checkpointBlobs = new Map<string, string[]>();
  private readonly stateFile: string;
  private writing: Promise<void> = Promise.resolve();
  protected running: RunningProbe = () => false;
  private readonly tagMovedListeners: Array<() => void> = [];

  constructor(
    readonly root: string,
    protected readonly content: ContentStore,
    protected readonly layers: LayerStore,
  ) {
    this.stateFile = path.join(root, 'state.json');
  }

  /**
   * Call `listener` after a pull, commit, build or `docker tag` points a reference that named
   * one image at another (the first may be left with no tag). A listener's failure is ignored.
   */
  onTagMoved(listener: () => void): void {
    this.tagMovedListeners.push(listener);
  }

  /** Tell the onTagMoved listeners. */
  private tagMoved(): void {
    for (const l of this.tagMovedListeners) {
      try {
        l();
      } catch {
        // A listener's own failure is its own.
      }
    }
  }

  /** Load the state; images whose config or layers went missing are dropped. */
  async init(): Promise<void> {
    await fs.promises.mkdir(this.root, { recursive: true, mode: 0o700 });
    try {
      const s = JSON.parse(await fs.promises.readFile(this.stateFile, 'utf8')) as Partial<State>;
      this.state = {
        images: s.images ?? {},
        refs: s.refs ?? {},
        users: s.users ?? {},
        retained: s.retained ?? {},
        checkpoints: s.checkpoints ?? {},
        checkpointOrigins: s.checkpointOrigins ?? {},
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    let dirty = false;
    for (const img of Object.values(this.state.images)) {
      const ok = (await this.content.has(img.id)) && img.layers.every((l) => this.layers.has(l));
      if (ok) {
        this.configs.set(img.id, JSON.parse((await this.content.read(img.id)).toString('utf8')) as ImageConfig);
        continue;
      }
      delete this.state.images[img.id];
      dirty = true;
    }
    for (const [ref, id] of Object.entries(this.state.refs)) {
      if (!this.state.images[id]) {
        delete this.state.refs[ref];
        dirty = true;
      }
    }
    for (const [id, manifest] of Object.entries(this.state.checkpoints)) {
      const blobs = this.state.images[id] ? await this.completeState(manifest) : undefined;
      if (blobs) {
        this.checkpointBlobs.set(manifest, blobs);
        continue;
      }
      log.warn(`image ${id}: its saved state ${manifest} is incomplete or gone; the image keeps no checkpoint`);
      delete this.state.checkpoints[id];
      delete this.state.checkpointOrigins?.[id];
      dirty = true;
    }
    if (dirty) await this.save();
  }

  /** The blobs of a stored state manifest when it and all of them are in the content store. */
  private async completeState(manifest: string): Promise<string[] | undefined> {
    try {
      const blobs = await stateBlobDigests(this.content, manifest);
      for (const b of blobs) if (!(await this.content.has(b))) return undefined;
      return blobs;
    } catch {
      return undefined;
    }
  }

  /**
   * Attach the state manifest `manifestDigest` (stored, with every blob it names, in the
   * content store) to image `imageId`, making it a checkpoint image. An attachment it had
   * before is replaced, and that state's blobs no other image names are deleted.
   * NoSuchImageError for an unknown image, InvalidArgumentError when the state is not complete.
   */
  async attachCheckpoint(imageId: string, manifestDigest: string, origin: CheckpointOrigin = 'local'): Promise<void> {
    if (!this.state.images[imageId]) throw new NoSuchImageError(imageId);
    const blobs = await this.completeState(manifestDigest);
    if (!blobs)
      throw new InvalidArgumentError(
        `checkpoint state ${manifestDigest}: the manifest or a blob it names is not in the content store`,
      );
    const old = this.state.checkpoints[imageId];
    this.checkpointBlobs.set(manifestDigest, blobs);
    this.state.checkpoints[imageId] = manifestDigest;
    (this.state.checkpointOrigins ??= {})[imageId] = origin;
    await this.save();
    if (old !== undefined && old !== manifestDigest) await this.collectCheckpoint(old);
  }

  /** Where image `imageId`'s attached state came from (CheckpointOrigin), or undefined without one. */
  checkpointOriginOf(imageId: string): CheckpointOrigin | undefined {
    if (!this.state.checkpoints[imageId]) return undefined;
    return this.state.checkpointOrigins?.[imageId] ?? 'local';
  }

  /** The digest of the state manifest attached to an image, or undefined. */
  checkpointOf(imageId: string): string | undefined {
    return this.state.checkpoints[imageId];
  }

  /**
   * Delete state manifest `manifest` and its blobs from the content store, keeping whatever
   * another attachment, an image config or a layer blob still needs. Called once the
   * attachment is recorded gone.
   */
  protected async collectCheckpoint(manifest: string): Promise<void> {
    if (Object.values(this.state.checkpoints).includes(manifest)) return;
    const blobs =
      this.checkpointBlobs.get(manifest) ?? (await stateBlobDigests(this.content, manifest).catch(() => []));
    this.checkpointBlobs.delete(manifest);
    await this.collectUnattached([manifest, ...blobs]);
  }

  /**
   * Delete from the content store those of `digests` (state blobs a pull or load stored before
   * it failed) that no attachment, image config or layer blob needs.
   */
  async collectUnattached(digests: string[]): Promise<void> {
    const attached = new Set(Object.values(this.state.checkpoints));
    const keep = new Set<string>([
      ...attached,
      ...[...attached].flatMap((m) => this.checkpointBlobs.get(m) ?? []),
      ...Object.keys(this.state.images),
      ...this.layers.list().flatMap((l) => (l.blob ? [l.blob.digest] : [])),
    ]);
    for (const d of digests) if (!keep.has(d)) await this.content.delete(d);
  }

  /** Let the container layer say which users are running (running users make a hard conflict). */
  setRunningProbe(probe: RunningProbe): void {
    this.running = probe;
  }

  /** Write the state (queued behind any write in flight). */
  protected save(): Promise<void> {
    const snapshot = JSON.stringify(this.state);
    this.writing = this.writing.catch(() => undefined).then(() => writeFileAtomic(this.stateFile, snapshot));
    return this.writing;
  }

  /** A stored image as the store returns it. */
  protected view(img: StoredImage): StoredImageView {
    const refs = this.refsOf(img.id);
    return {
      id: img.id,
      repoTags: refs.filter((r) => r.digest === undefined).map(familiarString),
      repoDigests: refs.filter((r) => r.digest !== undefined).map(familiarString),
      config: this.configs.get(img.id) as ImageConfig,
      size: img.size,
      storedAt: img.storedAt,
      layers: [...img.layers],
      lastTagTime: img.lastTagTime,
      ...(img.parent && this.state.images[img.parent] ? { parent: img.parent } : {}),
      ...(this.state.checkpoints[img.id] ? { checkpoint: this.state.checkpoints[img.id] } : {}),
    };
  }

  /** References to an image, sorted as dockerd sorts them (by full string). */
  protected refsOf(id: string): ImageReference[] {
    return Object.keys(this.state.refs)
      .filter((r) => this.state.refs[r] === id)
      .sort()
      .map((r) => parseReference(r));
  }

  /** Every image. */
  list(): StoredImageView[] {
    return Object.values(this.state.images).map((i) => this.view(i));
  }

  /** IDs of the images built on `id`. */
  children(id: string): string[] {
    return Object.values(this.state.images)
      .filter((i) => i.parent === id)
      .map((i) => i.id);
  }

  /** The image and its parents, nearest first, as far as they are stored. */
  ancestry(id: string): StoredImageView[] {
    const out: StoredImageView[] = [];
    const seen = new Set<string>();
    for (
      let img: StoredImage | undefined = this.state.images[id];
      img && !seen.has(img.id);
      img = img.parent ? this.state.images[img.parent] : undefined
    ) {
      seen.add(img.id);
      out.push(this.view(img));
    }
    return out;
  }

  /** An image by exact ID, or undefined. */
  byId(id: string): StoredImageView | undefined {
    const img = this.state.images[id];
    return img ? this.view(img) : undefined;
  }

  /** The image a fully qualified reference points at, or undefined. */
  byRef(ref: ImageReference): StoredImageView | undefined {
    const id = this.state.refs[formatReference(ref)];
    return id ? this.byId(id) : undefined;
  }

  /**
   * Find an image by reference or (short) ID, as dockerd's GetImage does: a 64-hex ID, then
   * the reference (`:latest` implied), then an ID prefix. NoSuchImageError when none matches.
   */
  async resolve(input: string): Promise<StoredImageView> {
    return this.find(input);
  }

  /** Synchronous resolve (see resolve). */
  find(input: string): StoredImageView {
    const hex = /^(?:sha256:)?([a-f0-9]{64})$/.exec(input);
    if (hex) {
      const img = this.byId(`sha256:${hex[1]}`);
      if (img) return img;
      throw new NoSuchImageError(`sha256:${hex[1]}`);
    }
    let ref: ImageReference | undefined;
    try {
      ref = parseTagged(input);
    } catch (err) {
      if (!looksLikeImageId(input)) throw err;
    }
    if (ref) {
      const img = this.byRef(ref);
      if (img) return img;
    }
    if (looksLikeImageId(input)) {
      const prefix = input.startsWith('sha256:') ? input : `sha256:${input}`;
      const matches = Object.keys(this.state.images).filter((id) => id.startsWith(prefix));
      if (matches.length === 1) return this.byId(matches[0]) as StoredImageView;
    }
    throw new NoSuchImageError(ref ? familiarString(ref) : input);
  }

  /** Host directories of an image's layers, lowest first. */
  async layerDirs(imageId: string): Promise<string[]> {
    const img = this.state.images[imageId];
    if (!img) throw new NoSuchImageError(imageId);
    return img.layers.map((l) => this.layers.get(l).dir);
  }

  /** Record that a container uses an image. */
  async addUser(imageId: string, containerId: string): Promise<void> {
    if (!this.state.images[imageId]) throw new NoSuchImageError(imageId);
    const users = new Set(this.state.users[imageId] ?? []);
    if (users.has(containerId)) return;
    users.add(containerId);
    this.state.users[imageId] = [...users];
    await this.save();
  }

  /** Forget that a container uses an image. */
  async removeUser(imageId: string, containerId: string): Promise<void> {
    const users = (this.state.users[imageId] ?? []).filter((c) => c !== containerId);
    if (users.length === (this.state.users[imageId] ?? []).length) return;
    if (users.length) this.state.users[imageId] = users;
    else delete this.state.users[imageId];
    await this.save();
  }

  /** Container IDs using an image. */
  usersOf(imageId: string): string[] {
    return [...(this.state.users[imageId] ?? [])];
  }

  /** The parsed config of a stored image. */
  config(imageId: string): ImageConfig {
    const c = this.configs.get(imageId);
    if (!c) throw new NoSuchImageError(imageId);
    return c;
  }

  /**
   * Record a complete image (config already in the content store, layers in the layer
   * store) and point `refs` at it. Returns true when any of the refs changed.
   */
  async commit(input: {
    id: string;
    config: ImageConfig;
    layers: string[];
    refs: ImageReference[];
    parent?: string;
  }): Promise<boolean> {
    for (const l of input.layers) this.layers.get(l);
    if (!this.state.images[input.id]) {
      const size = input.layers.reduce((n, l) => n + this.layers.get(l).size, 0);
      const parent = input.parent && this.state.images[input.parent] ? { parent: input.parent } : {};
      this.state.images[input.id] = { id: input.id, layers: [...input.layers], size, storedAt: Date.now(), ...parent };
      this.configs.set(input.id, input.config);
    }
    let changed = false;
    let moved = false;
    for (const r of input.refs) {
      const key = formatReference(r);
      if (this.state.refs[key] !== input.id) {
        if (this.state.refs[key] !== undefined) moved = true;
        this.state.refs[key] = input.id;
        changed = true;
      }
    }
    await this.save();
    if (moved) this.tagMoved();
    return changed;
  }

  /** `docker tag`: point `target` at the image found by `source`. */
  async tag(source: string, target: ImageReference): Promise<void> {
    const img = this.find(source);
    if (target.digest !== undefined) throw new InvalidArgumentError('refusing to create a tag with a digest reference');
    const key = formatReference(target);
    const before = this.state.refs[key];
    this.state.refs[key] = img.id;
    this.state.images[img.id].lastTagTime = new Date().toISOString();
    await this.save();
    if (before !== undefined && before !== img.id) this.tagMoved();
  }

  /** Whether `input` parses as a reference the store holds. */
  protected isRef(input: string): boolean {
    try {
      return this.state.refs[formatReference(parseTagged(input))] !== undefined;
    } catch {
      return false;
    }
  }
}
