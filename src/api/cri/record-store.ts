/**
 * The CRI front's own records: what a sandbox or container of the CRI is beside its pod (kind,
 * metadata, the kubelet's labels and annotations, the sandbox of a container, log paths, image,
 * mounts, PID mode), one JSON file per pod under `<data-root>/cri/`, so that the CRI's data
 * lives in the CRI's words and not in another front's (no label on the pod carries it).
 *
 *   <id>.json          the record of pod <id>
 *   pending-<r>.json   a record written before its pod's create, bound to the pod's id (by the
 *                      pod's name) when the create returns; removed when the create fails
 *
 * Every file is replaced atomically (temp file, fsync, rename, fsync of the directory). At
 * load (CriRecordStore.open) the records are reconciled with the pods: a record whose pod is
 * gone is dropped, a pending record whose pod exists is bound to it (the daemon died between
 * the create and the bind), and a pod an older podvisor made, its CRI data in labels, gets its
 * record made from them (./legacy-labels.ts). A pod removed later, by the CRI or by another
 * front (`docker rm -f`), has its record dropped on the pod layer's `destroy` event.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { EventBus } from '../../pod/events';
import type { PodRecord } from '../../pod/types';
import { writeFileAtomic } from '../../util/atomic';
import { logger } from '../../util/log';
import { recordFromLabels } from './legacy-labels';
import type { CriRecord, NewCriRecord } from './record-types';
export type { CriContainerRecord, CriRecord, CriSandboxRecord, NewCriRecord } from './record-types';

const log = logger('cri');

/** The pod layer as the store reads it. */
export interface RecordStorePods {
  list(): PodRecord[];
}

/** The JSON files of one directory, as CriRecords (see the module comment). */
export class CriRecordStore {
  private readonly byId = new Map<string, CriRecord>();
  /** Records written before their pod's create, by file. */
  private readonly pending = new Map<string, CriRecord>();
  /** Sandboxes whose VM a restore is replacing (./checkpoint-restore.ts): in memory only, never written. */
  private readonly restoring = new Set<string>();

  private constructor(private readonly dir: string) {}

  /** Open `dir` (made when missing), loaded and reconciled with `pods` (see the module comment). */
  static async open(dir: string, pods: RecordStorePods): Promise<CriRecordStore> {
    const store = new CriRecordStore(dir);
    await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
    await store.load(pods.list());
    return store;
  }

  /** The record of pod `id`. */
  get(id: string): CriRecord | undefined {
    return this.byId.get(id);
  }

  /**
   * The record of pod `id`, or the pending one of the pod named `name` (the pod layer's
   * `create` event comes before the create returns its id).
   */
  find(id: string, name: string | undefined): CriRecord | undefined {
    const rec = this.byId.get(id);
    if (rec || name === undefined) return rec;
    for (const p of this.pending.values()) if (p.name === name.replace(/^\//, '')) return p;
    return undefined;
  }

  /**
   * Mark sandbox `id` as having its VM replaced by a restore (`on`), or no longer: meanwhile it
   * shows ready and its pod's events are not the CRI's (its pod stops and starts again).
   */
  setRestoring(id: string, on: boolean): void {
    if (on) this.restoring.add(id);
    else this.restoring.delete(id);
  }

  /** Whether sandbox `id` has its VM replaced by a restore now (setRestoring). */
  isRestoring(id: string): boolean {
    return this.restoring.has(id);
  }

  /** Every record of a pod. */
  list(): CriRecord[] {
    return [...this.byId.values()];
  }

  /**
   * Create a pod with its record: the record is written before `createPod` runs, bound to the
   * pod's id once it returns, and removed when it fails.
   */
  async create(rec: NewCriRecord, createPod: () => Promise<PodRecord>): Promise<PodRecord> {
    const file = `pending-${crypto.randomBytes(8).toString('hex')}.json`;
    const pending = { ...rec, id: '' } as CriRecord;
    await this.write(file, pending);
    this.pending.set(file, pending);
    let pod: PodRecord;
    try {
      pod = await createPod();
    } catch (err) {
      this.pending.delete(file);
      await this.unlink(file);
      throw err;
    }
    this.pending.delete(file);
    await this.bind(file, pending, pod.id).catch((err: Error) =>
      // Known from now on; the pending file left on disk is bound again at the next load.
      log.warn(`CRI record of ${pod.id}: ${err.message}`),
    );
    return pod;
  }

  /** Drop the record of pod `id` (none: nothing to do). */
  async remove(id: string): Promise<void> {
    if (!this.byId.delete(id)) return;
    await this.unlink(`${id}.json`);
  }

  /**
   * Drop a record when its pod is removed, by any front (the pod layer's `destroy` event).
   * The record goes after the event's other listeners have read it (the CRI's own event
   * stream maps the event with it). Returns the unsubscribe function.
   */
  follow(events: Pick<EventBus, 'subscribe'>): () => void {
    return events.subscribe((e) => {
      if (e.type !== 'container' || e.action !== 'destroy' || !this.byId.has(e.id)) return;
      setImmediate(() => void this.remove(e.id).catch((err: Error) => log.warn(`CRI record ${e.id}: ${err.message}`)));
    });
  }

  private async bind(file: string, pending: CriRecord, id: string): Promise<void> {
    const rec = { ...pending, id };
    this.byId.set(id, rec);
    await this.write(`${id}.json`, rec);
    await this.unlink(file);
  }

  private async load(pods: PodRecord[]): Promise<void> {
    const podIds = new Set(pods.map((p) => p.id));
    const pendings: Array<[string, CriRecord]> = [];
    for (const file of (await fs.promises.readdir(this.dir)).sort()) {
      // A temp file is a write the daemon died in: the file it was to replace is whole.
      if (file.startsWith('.tmp-')) await this.unlink(file);
      if (!file.endsWith('.json') || file.startsWith('.')) continue;
      const rec = await this.read(file);
      if (!rec) continue;
      if (file.startsWith('pending-')) pendings.push([file, rec]);
      else if (podIds.has(rec.id) && file === `${rec.id}.json`) this.byId.set(rec.id, rec);
      else await this.unlink(file);
    }
    for (const [file, rec] of pendings) {
      const pod = pods.find((p) => p.name === rec.name);
      if (pod && !this.byId.has(pod.id)) await this.bind(file, rec, pod.id);
      else await this.unlink(file);
    }
    for (const pod of pods) {
      if (this.byId.has(pod.id)) continue;
      const rec = recordFromLabels(pod);
      if (!rec) continue;
      await this.write(`${pod.id}.json`, rec);
      this.byId.set(pod.id, rec);
      log.info(`CRI ${rec.kind} ${pod.id.slice(0, 12)}: record made from its labels`);
    }
  }

  /** A record file's record; an unreadable one is dropped (every write is atomic: none should be). */
  private async read(file: string): Promise<CriRecord | undefined> {
    try {
      const rec = JSON.parse(await fs.promises.readFile(path.join(this.dir, file), 'utf8')) as CriRecord;
      if ((rec.kind === 'sandbox' || rec.kind === 'container') && typeof rec.id === 'string') return rec;
      throw new Error('not a CRI record');
    } catch (err) {
      log.warn(`CRI record ${file} dropped: ${(err as Error).message}`);
      await this.unlink(file);
      return undefined;
    }
  }

  private write(file: string, rec: CriRecord): Promise<void> {
    return writeFileAtomic(path.join(this.dir, file), `${JSON.stringify(rec)}\n`);
  }

  private async unlink(file: string): Promise<void> {
    await fs.promises.rm(path.join(this.dir, file), { force: true });
  }
}
