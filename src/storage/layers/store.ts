/**
 * The layer store: each image layer unpacked once, by its diff ID (sha256 of the
 * uncompressed tar), into `<root>/sha256/<hex>/diff`, in overlayfs lower-directory form. A
 * layer's directory does not depend on the layers below it (whiteouts are kept as overlay
 * whiteouts rather than applied), so one directory serves every image that contains that
 * diff, whatever its parents.
 *
 * Lifecycle: `begin()` gives an empty directory under `<root>/tmp`; the caller extracts into
 * it and `commit(diffId, size)` renames it into place (atomic; a crash leaves only tmp/,
 * wiped at start), or `abort()` throws it away. `hold()` protects layers that a pull in
 * progress relies on from `gc()`, which removes layers no image references.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import { digestHex, isDigest } from '../digest';
import { fsyncPath, writeFileAtomic } from '../../util/atomic';
import { NotFoundError } from '../../errors';
import { removeTree } from '../../util/remove-tree';

/** The layer's blob in the content store: its tar, compressed or not, byte for byte. */
export interface LayerBlob {
  digest: string;
  size: number;
  /** 'gzip', 'zstd' or 'none': what gives back the tar whose sha256 is the diff ID. */
  compression: 'gzip' | 'zstd' | 'none';
  /** Media type the blob was pulled as (pushes send the same). */
  mediaType: string;
  /** Bytes of the uncompressed tar, when known. */
  tarSize?: number;
}

/** A stored layer. */
export interface LayerInfo {
  diffId: string;
  /** Docker's size of the layer (bytes). */
  size: number;
  /** Directory to use as an overlay lower dir. */
  dir: string;
  /** Its blob, absent for layers stored before blobs were kept. */
  blob?: LayerBlob;
}

/** An unpacking in progress. */
export interface LayerIngest {
  /** Empty directory to extract into. */
  readonly dir: string;
  /** Move the unpacked tree into the store under `diffId`. */
  commit(diffId: string, size: number, blob?: LayerBlob): Promise<LayerInfo>;
  /** Discard the directory. */
  abort(): Promise<void>;
}

interface LayerMeta {
  diffId: string;
  size: number;
  blob?: LayerBlob;
}

/** Unpacked layers keyed by diff ID. */
export class LayerStore {
  private readonly layers = new Map<string, LayerInfo>();
  private readonly holds = new Map<string, number>();
  /** Commits under way, by diffId: a second unpacking of the same layer waits for the first. */
  private readonly committing = new Map<string, Promise<LayerInfo>>();
  private readonly byIdDir: string;
  private readonly tmpDir: string;

  constructor(readonly root: string) {
    this.byIdDir = path.join(root, 'sha256');
    this.tmpDir = path.join(root, 'tmp');
  }

  /** Create the layout, drop unfinished unpackings, load the index of stored layers. */
  async init(): Promise<void> {
    await fs.promises.mkdir(this.byIdDir, { recursive: true, mode: 0o700 });
    await removeTree(this.tmpDir);
    await fs.promises.mkdir(this.tmpDir, { recursive: true, mode: 0o700 });
    for (const name of await fs.promises.readdir(this.byIdDir)) {
      const dir = path.join(this.byIdDir, name);
      try {
        const meta = JSON.parse(await fs.promises.readFile(path.join(dir, 'meta.json'), 'utf8')) as LayerMeta;
        if (!isDigest(meta.diffId) || digestHex(meta.diffId) !== name) throw new Error('bad meta');
        this.layers.set(meta.diffId, {
          diffId: meta.diffId,
          size: meta.size,
          dir: path.join(dir, 'diff'),
          ...(meta.blob ? { blob: meta.blob } : {}),
        });
      } catch {
        // Not a committed layer (cannot happen through commit's rename): move it out of the way.
        await this.discard(dir);
      }
    }
  }

  /** True when the layer is stored. */
  has(diffId: string): boolean {
    return this.layers.has(diffId);
  }

  /** A stored layer; NotFoundError when absent. */
  get(diffId: string): LayerInfo {
    const l = this.layers.get(diffId);
    if (!l) throw new NotFoundError(`layer ${diffId} not found`);
    return l;
  }

  /** Every stored layer. */
  list(): LayerInfo[] {
    return [...this.layers.values()];
  }

  /** Start unpacking a layer. */
  async begin(): Promise<LayerIngest> {
    const work = path.join(this.tmpDir, crypto.randomBytes(8).toString('hex'));
    const dir = path.join(work, 'diff');
    await fs.promises.mkdir(work, { mode: 0o700 });
    await fs.promises.mkdir(dir, { mode: 0o755 });
    let done = false;
    return {
      dir,
      commit: async (diffId: string, size: number, blob?: LayerBlob): Promise<LayerInfo> => {
        done = true;
        const other = this.committing.get(diffId);
        if (this.layers.has(diffId) || other) {
          // Another pull unpacked the same layer meanwhile (or is committing it): keep theirs.
          await this.discard(work);
          await other;
          const existing = this.get(diffId);
          if (!existing.blob && blob) await this.setBlob(diffId, blob);
          return existing;
        }
        const committed = this.commitWork(work, diffId, size, blob);
        this.committing.set(diffId, committed);
        try {
          return await committed;
        } finally {
          this.committing.delete(diffId);
        }
      },
      abort: async (): Promise<void> => {
        if (done) return;
        done = true;
        await this.discard(work);
      },
    };
  }

  /** Move an unpacked layer (`work`: its diff/) into place as `diffId`'s. */
  private async commitWork(work: string, diffId: string, size: number, blob?: LayerBlob): Promise<LayerInfo> {
    await writeFileAtomic(
      path.join(work, 'meta.json'),
      JSON.stringify({ diffId, size, ...(blob ? { blob } : {}) } satisfies LayerMeta),
    );
    const final = path.join(this.byIdDir, digestHex(diffId));
    try {
      await fs.promises.rename(work, final);
    } catch (err) {
      await this.discard(work);
      throw err;
    }
    await fsyncPath(this.byIdDir);
    const info: LayerInfo = { diffId, size, dir: path.join(final, 'diff'), ...(blob ? { blob } : {}) };
    this.layers.set(diffId, info);
    return info;
  }

  /** Record the blob of a stored layer that had none. */
  async setBlob(diffId: string, blob: LayerBlob): Promise<void> {
    const info = this.get(diffId);
    await writeFileAtomic(
      path.join(path.dirname(info.dir), 'meta.json'),
      JSON.stringify({ diffId, size: info.size, blob } satisfies LayerMeta),
    );
    info.blob = blob;
  }

  /** Protect layers from gc() until the returned function is called. */
  hold(diffIds: string[]): () => void {
    for (const d of diffIds) this.holds.set(d, (this.holds.get(d) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const d of diffIds) {
        const n = (this.holds.get(d) ?? 1) - 1;
        if (n <= 0) this.holds.delete(d);
        else this.holds.set(d, n);
      }
    };
  }

  /** Remove every layer not in `referenced` and not held. Returns the removed layers. */
  async gc(referenced: Set<string>): Promise<LayerInfo[]> {
    const removed: LayerInfo[] = [];
    for (const [diffId, info] of [...this.layers]) {
      if (referenced.has(diffId) || this.holds.has(diffId)) continue;
      this.layers.delete(diffId);
      await this.discard(path.join(this.byIdDir, digestHex(diffId)));
      removed.push(info);
    }
    return removed;
  }

  /** Rename out of sight first (atomic), then delete at leisure. */
  private async discard(dir: string): Promise<void> {
    const gone = path.join(this.tmpDir, `rm-${crypto.randomBytes(8).toString('hex')}`);
    try {
      await fs.promises.rename(dir, gone);
    } catch {
      await removeTree(dir);
      return;
    }
    await removeTree(gone);
  }
}
