/**
 * The classic builder's layer cache: a step's image is found again by its parent image and
 * the step's history text (which holds the instruction, the build args RUN saw, and for COPY
 * and ADD the checksum of the files copied). Kept in one JSON file, replaced atomically; an
 * entry whose image is gone is a miss. `POST /build/prune` empties it.
 *
 * A key keeps the images of its last few builds, newest first, not only the last one: a
 * `--cache-from` build may reuse only the steps of the images it names, and a build since
 * (one with `--no-cache`, or with `--cache-from` of an unknown name) made new images for the
 * same steps. dockerd finds those older ones by walking the parent's children.
 */
import * as fs from 'node:fs';
import { sha256Digest } from '../storage/digest';
import { writeFileAtomic } from '../util/atomic';

/** The cache key of a step: parent image (or scratch) and the step's history text. */
export function cacheKey(parentId: string | undefined, createdBy: string): string {
  return sha256Digest(`${parentId ?? 'scratch'}\n${createdBy}`);
}

/** How many images a key remembers. */
const PER_KEY = 8;

/** Step images by cache key, persisted in `file`. */
export class BuildCache {
  private entries: Record<string, string[]> = {};
  private loaded = false;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly file: string) {}

  private load(): void {
    if (this.loaded) return;
    this.loaded = true;
    try {
      const v = JSON.parse(fs.readFileSync(this.file, 'utf8')) as unknown;
      if (v && typeof v === 'object') {
        // A file of an older daemon holds one image per key.
        for (const [k, ids] of Object.entries(v as Record<string, unknown>)) {
          const list = (Array.isArray(ids) ? ids : [ids]).filter((id): id is string => typeof id === 'string');
          if (list.length) this.entries[k] = list;
        }
      }
    } catch {
      this.entries = {};
    }
  }

  /** The newest image recorded for `key` that `usable` accepts (it must say whether it still exists). */
  get(key: string, usable: (id: string) => boolean): string | undefined {
    this.load();
    return this.entries[key]?.find(usable);
  }

  /** Record `id` under `key`, as its newest image. */
  async set(key: string, id: string): Promise<void> {
    this.load();
    this.entries[key] = [id, ...(this.entries[key] ?? []).filter((x) => x !== id)].slice(0, PER_KEY);
    await this.save();
  }

  /** Forget every entry; resolves with the image IDs they named. */
  async clear(): Promise<string[]> {
    this.load();
    const ids = [...new Set(Object.values(this.entries).flat())];
    this.entries = {};
    await this.save();
    return ids;
  }

  private save(): Promise<void> {
    const snapshot = JSON.stringify(this.entries);
    this.writing = this.writing.catch(() => undefined).then(() => writeFileAtomic(this.file, snapshot));
    return this.writing;
  }
}
