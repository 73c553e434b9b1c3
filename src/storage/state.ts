/**
 * Per-pod records on disk, so a daemon killed with SIGKILL comes back with every container.
 * The records are opaque here: a JSON object with a string `id`, whose type belongs to the
 * layer that writes it (the pod layer's PodRecord); that layer checks, repairs and migrates
 * what `loadAll` returns.
 *
 * Layout (`root` = `<data-root>/containers`), one directory per pod:
 *   <id>/config.v2.json   the whole record - the truth
 * Every write is atomic (temp file, fsync, rename, fsync of the directory), and writes of
 * one pod are serialised, so a crash leaves either the old or the new record. A directory
 * without a readable config.v2.json (a create that crashed half-way) is reported by `loadAll`
 * as an orphan so the caller can clean it up.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../util/atomic';
import { InvalidArgumentError } from '../errors';
import { logger } from '../util/log';
import { removeGuestTree } from '../util/remove-tree';

const log = logger('state');

/** File holding a pod's record. */
export const RECORD_FILE = 'config.v2.json';

/** What a stored record is to the store: a JSON object with the id of its directory. */
export interface StoredRecord {
  id: string;
}

/** Result of loading every record. */
export interface LoadedState {
  /** Parsed records, as written (the writer's type is not checked here beyond `id`). */
  records: Array<StoredRecord & Record<string, unknown>>;
  /** Ids of directories with no (readable) record. */
  orphans: string[];
}

/** Reads and writes pod records under a root directory. */
export class StateStore {
  private readonly chains = new Map<string, Promise<void>>();

  constructor(readonly root: string) {}

  /** Create the root directory. */
  async init(): Promise<void> {
    await fs.promises.mkdir(this.root, { recursive: true, mode: 0o700 });
  }

  /** Directory of one pod. */
  dir(id: string): string {
    if (!/^[A-Za-z0-9_.-]+$/.test(id) || id.startsWith('.'))
      throw new InvalidArgumentError(`invalid container id ${JSON.stringify(id)}`);
    return path.join(this.root, id);
  }

  /** Persist a record (a snapshot is taken now; writes of one id happen in call order). */
  save<T extends StoredRecord>(record: T): Promise<void> {
    const snapshot = JSON.stringify(record, null, 0);
    const dir = this.dir(record.id);
    const prev = this.chains.get(record.id) ?? Promise.resolve();
    const next = prev
      .catch(() => undefined)
      .then(async () => {
        await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
        await writeFileAtomic(path.join(dir, RECORD_FILE), snapshot);
      });
    this.chains.set(record.id, next);
    void next
      .finally(() => {
        if (this.chains.get(record.id) === next) this.chains.delete(record.id);
      })
      .catch(() => undefined);
    return next;
  }

  /** Resolves when every write started so far has finished. */
  async flush(): Promise<void> {
    await Promise.all([...this.chains.values()].map((c) => c.catch(() => undefined)));
  }

  /** Load one record; undefined when absent, unreadable, or not an object with this id. */
  async load(id: string): Promise<(StoredRecord & Record<string, unknown>) | undefined> {
    let text: string;
    try {
      text = await fs.promises.readFile(path.join(this.dir(id), RECORD_FILE), 'utf8');
    } catch {
      return undefined;
    }
    try {
      const r = JSON.parse(text) as unknown;
      if (!r || typeof r !== 'object' || Array.isArray(r) || (r as StoredRecord).id !== id)
        throw new Error('not a record of this id');
      return r as StoredRecord & Record<string, unknown>;
    } catch (e) {
      log.error(`container ${id}: unreadable ${RECORD_FILE}: ${(e as Error).message}`);
      return undefined;
    }
  }

  /** Every record under the root, and directories without one. */
  async loadAll(): Promise<LoadedState> {
    const records: LoadedState['records'] = [];
    const orphans: string[] = [];
    let names: string[];
    try {
      names = await fs.promises.readdir(this.root);
    } catch {
      return { records, orphans };
    }
    for (const name of names.sort()) {
      if (!/^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/.test(name)) continue;
      const r = await this.load(name);
      if (r) records.push(r);
      else orphans.push(name);
    }
    return { records, orphans };
  }

  /**
   * Delete a pod's directory (after its rootfs was removed; should that have failed, what is
   * left of a writable layer there may still be a guest's, hence removeGuestTree).
   */
  async remove(id: string): Promise<void> {
    await (this.chains.get(id) ?? Promise.resolve()).catch(() => undefined);
    await removeGuestTree(this.dir(id));
  }
}
