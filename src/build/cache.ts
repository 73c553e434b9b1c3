/**
 * The classic builder's layer cache: a step's image is found again by its parent image and
 * the step's history text (which holds the instruction, the build args RUN saw, and for COPY
 * and ADD the checksum of the files copied). Kept in one JSON file, replaced atomically; an
 * entry whose image is gone is a miss. `POST /build/prune` empties it.
 */
import * as fs from 'node:fs';
import { sha256Digest } from '../storage/digest';
import { writeFileAtomic } from '../storage/atomic';

/** The cache key of a step: parent image (or scratch) and the step's history text. */
export function cacheKey(parentId: string | undefined, createdBy: string): string {
  return sha256Digest(`${parentId ?? 'scratch'}\n${createdBy}`);
}

/** Step images by cache key, persisted in `file`. */
export class BuildCache {
  private entries: Record<string, string> = {};
  private loaded = false;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly file: string) {}

  private load(): void {
    if (this.loaded) return;
    this.loaded = true;
    try {
      const v = JSON.parse(fs.readFileSync(this.file, 'utf8')) as unknown;
      if (v && typeof v === 'object') this.entries = v as Record<string, string>;
    } catch {
      this.entries = {};
    }
  }

  /** The image recorded for `key`, when `exists` says it is still there. */
  get(key: string, exists: (id: string) => boolean): string | undefined {
    this.load();
    const id = this.entries[key];
    return id && exists(id) ? id : undefined;
  }

  /** Record `id` under `key`. */
  async set(key: string, id: string): Promise<void> {
    this.load();
    this.entries[key] = id;
    await this.save();
  }

  /** Forget every entry; resolves with the image IDs they named. */
  async clear(): Promise<string[]> {
    this.load();
    const ids = [...new Set(Object.values(this.entries))];
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
