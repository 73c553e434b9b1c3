/**
 * Network records on disk: <data-root>/networks/<id>.json, each replaced atomically (temp
 * file, fsync, rename), so a crash leaves the old record or the new one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../util/atomic';
import { logger } from '../util/log';
import type { NetworkRecord } from './types';

const log = logger('net');

/** Where records of one data root live, and their reading and writing. */
export class NetworkStore {
  readonly dir: string;

  constructor(dataRoot: string) {
    this.dir = path.join(dataRoot, 'networks');
  }

  /** Every record that parses (a damaged file is logged and skipped). */
  async loadAll(): Promise<NetworkRecord[]> {
    await fs.promises.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const out: NetworkRecord[] = [];
    for (const f of await fs.promises.readdir(this.dir)) {
      if (!/^[0-9a-f]{64}\.json$/.test(f)) continue;
      try {
        const rec = JSON.parse(await fs.promises.readFile(path.join(this.dir, f), 'utf8')) as NetworkRecord;
        if (rec.id + '.json' !== f) throw new Error('id does not match the file name');
        out.push(rec);
      } catch (err) {
        log.warn(`network record ${f} skipped: ${(err as Error).message}`);
      }
    }
    return out;
  }

  /** Write (create or replace) one record. */
  async save(rec: NetworkRecord): Promise<void> {
    await fs.promises.mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(path.join(this.dir, `${rec.id}.json`), JSON.stringify(rec, null, 1));
  }

  /** Remove one record (absent is fine). */
  async remove(id: string): Promise<void> {
    await fs.promises.rm(path.join(this.dir, `${id}.json`), { force: true });
  }
}
