/**
 * Per-pod state on disk, so a daemon killed with SIGKILL comes back with every container.
 *
 * Layout (`root` = `<data-root>/containers`), one directory per pod:
 *   <id>/config.v2.json   the whole PodRecord (spec, state, name, frontend data) - the truth
 *   <id>/hostconfig.json  a copy of the Docker HostConfig, for people reading the directory
 *                         (written first, never read back)
 * Every write is atomic (temp file, fsync, rename, fsync of the directory), and writes of
 * one pod are serialised, so a crash leaves either the old or the new record. A directory
 * without config.v2.json (a create that crashed half-way) is reported by `loadAll` as an
 * orphan so the caller can clean it up. A record holding a field of the wrong type (written by
 * an older version) is repaired at load (src/translate/repair.ts) and logged once.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { PodRecord } from '../pod/types';
import { writeFileAtomic } from './atomic';
import { InvalidArgumentError } from '../errors';
import { logger } from '../util/log';
import { repairFrontend } from '../translate/repair';

const log = logger('state');

/** File holding a pod's record. */
export const RECORD_FILE = 'config.v2.json';

/** Result of loading every record. */
export interface LoadedState {
  records: PodRecord[];
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
    if (!/^[A-Za-z0-9_.-]+$/.test(id) || id.startsWith('.')) throw new InvalidArgumentError(`invalid container id ${JSON.stringify(id)}`);
    return path.join(this.root, id);
  }

  /** Persist a record (a snapshot is taken now; writes of one id happen in call order). */
  save(record: PodRecord): Promise<void> {
    const snapshot = JSON.stringify(record, null, 0);
    const hostConfig = (record.frontend as { hostConfig?: unknown } | null)?.hostConfig;
    const dir = this.dir(record.id);
    const prev = this.chains.get(record.id) ?? Promise.resolve();
    const next = prev
      .catch(() => undefined)
      .then(async () => {
        await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
        if (hostConfig !== undefined) await writeFileAtomic(path.join(dir, 'hostconfig.json'), JSON.stringify(hostConfig));
        await writeFileAtomic(path.join(dir, RECORD_FILE), snapshot);
      });
    this.chains.set(record.id, next);
    void next.finally(() => {
      if (this.chains.get(record.id) === next) this.chains.delete(record.id);
    }).catch(() => undefined);
    return next;
  }

  /** Resolves when every write started so far has finished. */
  async flush(): Promise<void> {
    await Promise.all([...this.chains.values()].map((c) => c.catch(() => undefined)));
  }

  /** Load one record; undefined when absent or unreadable. */
  async load(id: string): Promise<PodRecord | undefined> {
    let text: string;
    try {
      text = await fs.promises.readFile(path.join(this.dir(id), RECORD_FILE), 'utf8');
    } catch {
      return undefined;
    }
    try {
      const r = JSON.parse(text) as PodRecord;
      if (!r || r.id !== id || !r.spec || !r.state || typeof r.name !== 'string') throw new Error('missing fields');
      // An older version may have stored a field of the wrong type: reset it, so that Go
      // clients can decode `docker inspect` again (one warning per record).
      const fixed = repairFrontend(r.frontend);
      if (fixed.length) {
        log.warn(`container ${id}: ${RECORD_FILE} held ${fixed.length} field(s) of a wrong type, reset to their defaults: ${fixed.join(', ')}`);
        // Written back, so that the next load finds a sound record.
        await this.save(r).catch((e: Error) => log.error(`container ${id}: writing the repaired record: ${e.message}`));
      }
      return r;
    } catch (e) {
      log.error(`container ${id}: unreadable ${RECORD_FILE}: ${(e as Error).message}`);
      return undefined;
    }
  }

  /** Every record under the root, and directories without one. */
  async loadAll(): Promise<LoadedState> {
    const records: PodRecord[] = [];
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

  /** Delete a pod's directory (after its rootfs was removed). */
  async remove(id: string): Promise<void> {
    await (this.chains.get(id) ?? Promise.resolve()).catch(() => undefined);
    await fs.promises.rm(this.dir(id), { recursive: true, force: true });
  }
}
