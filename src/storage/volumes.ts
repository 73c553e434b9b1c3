/**
 * Named and anonymous volumes of the `local` driver: a directory per volume under
 * `<data-root>/volumes/<name>/_data` (the volume's data, shared into a container's VM like a
 * bind source) and one record file, `<data-root>/volumes/volumes.json`, replaced atomically
 * (src/util/atomic.ts) on every change, so a volume exists across a daemon SIGKILL exactly when its
 * record was written. A directory without a record (a create cut short) is removed at open.
 *
 * The store knows nothing of containers: who uses a volume is the caller's question (the
 * pod layer's records name their volumes), so removal takes a `users` list to refuse.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NotImplementedError } from '../errors';
import { writeFileAtomic } from '../util/atomic';
import { removeGuestTree, removeTree } from '../util/remove-tree';
import { ramInBytes } from '../util/go-units';
import { walkNoFollow } from './tree-walk';
import {
  InvalidVolumeError,
  NoSuchVolumeDriverError,
  NoSuchVolumeError,
  VolumeInUseError,
  type VolumeOp,
} from './volumes-errors';

/** One volume's record. */

/** The label dockerd 26 puts on an anonymous volume (made without a name, or for Config.Volumes). */
export const ANONYMOUS_VOLUME_LABEL = 'com.docker.volume.anonymous';

export interface VolumeRecord {
  name: string;
  /** Always 'local'. */
  driver: string;
  labels: Record<string, string> | null;
  /** Driver options as given (the local driver's type/device/o); null when none. */
  options: Record<string, string> | null;
  /** RFC 3339, seconds. */
  createdAt: string;
  /** Made for a container without a name (an image's VOLUME, `-v /path`). */
  anonymous: boolean;
  /** Container whose removal takes this anonymous volume along (`--rm` containers). */
  removeWith?: string;
  /**
   * Container whose own upper disk holds this volume's data (`volumes/<name>` there: an
   * anonymous volume of a container run with `--storage-opt image=disk`, or a named one that
   * container alone mounted at its create); `_data` is empty until the data is moved there
   * (moveOffDisk), when that container is removed or another container takes the volume.
   */
  onDiskOf?: string;
}

/** What create takes. */
export interface VolumeCreateOptions {
  /** Omitted or empty: a random 64-hex name (an anonymous volume). */
  name?: string;
  driver?: string;
  labels?: Record<string, string> | null;
  options?: Record<string, string> | null;
  anonymous?: boolean;
  removeWith?: string;
  onDiskOf?: string;
}

/** The local driver's options dockerd accepts (volume/local/local_unix.go). */
const LOCAL_OPTIONS = new Set(['type', 'device', 'o', 'size']);
/** The options each option needs beside it there, in the order dockerd names a missing one. */
const NEEDS: Array<[string, string[]]> = [
  ['device', ['type']],
  ['type', ['device']],
  ['o', ['device', 'type']],
];

/**
 * Check the local driver's options as dockerd 20.10 does, in its order: unknown names, then
 * the options others need, then `size` (a size limit needs quota support, which podvisor's
 * volumes never have; dockerd has it only on xfs with project quotas).
 */
function checkLocalOptions(name: string, options: Record<string, string>): void {
  for (const k of Object.keys(options)) if (!LOCAL_OPTIONS.has(k)) throw new InvalidVolumeError(name, 'option', k);
  for (const [k, needs] of NEEDS) {
    if (!(k in options)) continue;
    for (const n of needs) if (!(n in options)) throw new InvalidVolumeError(name, 'missing-option', n);
  }
  if ('size' in options) {
    let size: number;
    try {
      size = ramInBytes(options.size);
    } catch {
      throw new InvalidVolumeError(name, 'size', options.size);
    }
    if (size > 0) throw new InvalidVolumeError(name, 'no-quota');
  }
}
/** dockerd's rule for local volume names. */
const NAME_RULE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** The store of one daemon's volumes (see the module comment). */
export class VolumeStore {
  private readonly records = new Map<string, VolumeRecord>();
  /** One write of the record file at a time, in call order. */
  private writing: Promise<void> = Promise.resolve();

  private constructor(readonly root: string) {}

  /** Open (or make) the store under `<dataRoot>/volumes`, dropping directories without a record. */
  static async open(dataRoot: string): Promise<VolumeStore> {
    const s = new VolumeStore(path.join(dataRoot, 'volumes'));
    await fs.promises.mkdir(s.root, { recursive: true, mode: 0o701 });
    let raw: string | undefined;
    try {
      raw = await fs.promises.readFile(s.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const list = raw ? ((JSON.parse(raw) as { volumes?: VolumeRecord[] }).volumes ?? []) : [];
    for (const r of list) if (NAME_RULE.test(r.name)) s.records.set(r.name, r);
    for (const entry of await fs.promises.readdir(s.root, { withFileTypes: true })) {
      if (entry.isDirectory() && !s.records.has(entry.name)) await removeTree(path.join(s.root, entry.name));
      else if (entry.name.startsWith('.tmp-')) await fs.promises.rm(path.join(s.root, entry.name), { force: true });
    }
    return s;
  }

  private get file(): string {
    return path.join(this.root, 'volumes.json');
  }

  /** Where the volume's data lives on the host (its Mountpoint). */
  dataDir(name: string): string {
    return path.join(this.root, name, '_data');
  }

  /** Every volume, oldest first. */
  list(): VolumeRecord[] {
    return [...this.records.values()];
  }

  /** The volume `name` (NoSuchVolumeError when there is none). */
  get(name: string, op: VolumeOp = 'get'): VolumeRecord {
    const r = this.records.get(name);
    if (!r) throw new NoSuchVolumeError(op, name);
    return r;
  }

  /** Whether a volume `name` exists. */
  has(name: string): boolean {
    return this.records.has(name);
  }

  /**
   * Create a volume, or return the existing one of that name unchanged (as dockerd does).
   * Returns the record and whether it was made now.
   */
  async create(o: VolumeCreateOptions): Promise<{ volume: VolumeRecord; created: boolean }> {
    const name = o.name || crypto.randomBytes(32).toString('hex');
    const driver = o.driver || 'local';
    if (driver !== 'local') throw new NoSuchVolumeDriverError(name, driver);
    if (name.length < 2) throw new InvalidVolumeError(name, 'name-short');
    if (!NAME_RULE.test(name)) throw new InvalidVolumeError(name, 'name-chars');
    const existing = this.records.get(name);
    if (existing) return { volume: existing, created: false };
    // Kept as given ({} too), in the order of their names, as dockerd shows them.
    const options = o.options
      ? Object.fromEntries(Object.entries(o.options).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : null;
    if (options) checkLocalOptions(name, options);
    // A `type` or `device` makes the local driver mount that filesystem as the volume on the
    // host, which a VM's volume share does not carry over (the guest would see the directory
    // beneath). Without them (both empty, as dockerd also allows) it is a plain volume.
    if (options?.type || options?.device)
      throw new NotImplementedError(
        "podvisor's local volumes cannot mount a filesystem or device as the volume (driver options type and device)",
      );
    const labels = o.labels ? { ...o.labels } : null;
    const volume: VolumeRecord = {
      name,
      driver,
      labels,
      options,
      createdAt: new Date(Math.floor(Date.now() / 1000) * 1000).toISOString().replace('.000Z', 'Z'),
      anonymous: o.anonymous === true,
      ...(o.removeWith ? { removeWith: o.removeWith } : {}),
      ...(o.onDiskOf ? { onDiskOf: o.onDiskOf } : {}),
    };
    await fs.promises.mkdir(this.dataDir(name), { recursive: true, mode: 0o755 });
    this.records.set(name, volume);
    try {
      await this.persist();
    } catch (e) {
      this.records.delete(name);
      await removeTree(path.join(this.root, name));
      throw e;
    }
    return { volume, created: true };
  }

  /**
   * Remove volume `name`: refused (VolumeInUseError) while `users` (container IDs using it)
   * is not empty. The record goes first, then the data.
   */
  async remove(name: string, users: string[] = []): Promise<VolumeRecord> {
    const r = this.get(name, 'remove');
    if (users.length) throw new VolumeInUseError(name, users);
    this.records.delete(name);
    try {
      await this.persist();
    } catch (e) {
      this.records.set(name, r);
      throw e;
    }
    // A VM may still have it in its share (a copy left behind), with a guest writing it.
    await removeGuestTree(path.join(this.root, name));
    return r;
  }

  /**
   * Keep the data of volume `name` on the own disk of container `owner` from now on (a named
   * volume that container is the only one to mount: src/translate/request/volumes.ts). Only a
   * volume of no driver options whose host directory is empty and that is on no disk yet
   * goes there; false (nothing changed) for any other.
   */
  async keepOnDisk(name: string, owner: string): Promise<boolean> {
    const r = this.get(name);
    if (r.onDiskOf || (r.options && Object.keys(r.options).length)) return false;
    if (!(await this.isEmpty(name))) return false;
    // Another create may have taken it while the directory was read.
    if (r.onDiskOf || !this.records.has(name)) return false;
    r.onDiskOf = owner;
    try {
      await this.persist();
    } catch (e) {
      delete r.onDiskOf;
      throw e;
    }
    return true;
  }

  /**
   * Whether volume `name` could go on a container's disk now, by keepOnDisk's rule, nothing
   * changed: there is none (the create makes it new), or it is on no disk, has no driver options
   * and its host directory is empty. A later keepOnDisk still decides.
   */
  async couldKeepOnDisk(name: string): Promise<boolean> {
    if (!this.records.has(name)) return true;
    const r = this.get(name);
    if (r.onDiskOf || (r.driver && r.driver !== 'local') || (r.options && Object.keys(r.options).length)) return false;
    return this.isEmpty(name);
  }

  /** Whether the host directory of volume `name` holds nothing (it is read, nothing below it followed). */
  private async isEmpty(name: string): Promise<boolean> {
    try {
      const d = await fs.promises.opendir(this.dataDir(name));
      try {
        return (await d.read()) === null;
      } finally {
        await d.close().catch(() => undefined);
      }
    } catch {
      return false;
    }
  }

  /**
   * The data of volume `name`, kept on its container's disk until now, has been copied into
   * its `_data` (its container is being removed): from now on it is a volume as any other.
   */
  async moveOffDisk(name: string): Promise<void> {
    const r = this.get(name);
    if (!r.onDiskOf) return;
    const was = r.onDiskOf;
    delete r.onDiskOf;
    try {
      await this.persist();
    } catch (e) {
      r.onDiskOf = was;
      throw e;
    }
  }

  /**
   * Bytes under the volume's data (docker system df): the sizes of everything but directories,
   * a file with several hard links counted once, as dockerd counts; -1 (unknown) when it
   * cannot be read, or is on its container's disk, which the host does not read.
   */
  async size(name: string): Promise<number> {
    if (this.records.get(name)?.onDiskOf) return -1;
    let total = 0;
    const seen = new Set<bigint>();
    try {
      // The guest may swap a directory for a symlink meanwhile: the walk never follows one.
      await walkNoFollow(this.dataDir(name), (st) => {
        if (st.nlink > 1n) {
          if (seen.has(st.ino)) return;
          seen.add(st.ino);
        }
        total += Number(st.size);
      });
      return total;
    } catch {
      return -1;
    }
  }

  private persist(): Promise<void> {
    const data = JSON.stringify({ volumes: this.list() });
    const next = this.writing.then(() => writeFileAtomic(this.file, data));
    this.writing = next.catch(() => undefined);
    return next;
  }
}
