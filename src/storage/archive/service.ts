/**
 * Files in and out of containers, served on the host from the container's root filesystem
 * (the overlay of src/storage/rootfs.ts): stat, tar out and tar in of a path (docker cp),
 * the writable layer's changes (docker diff) and a tar of the whole root (docker export).
 *
 * A running container's overlay is already mounted on the host (it is shared into the VM);
 * for a created or stopped one the overlay is mounted here for the time of the request, at
 * `<containers>/<id>/archive-mnt`, shared by concurrent requests and unmounted after the
 * last. Every path is resolved inside that root by ./resolve.ts.
 *
 * Block mode (the container's writable layer is a disk only its guest mounts): what is in
 * the container's root is served in the guest by ./guest.ts; a path under a host directory
 * mount (a volume, a bind) is still served here from that directory, and one under a volume
 * kept on the container's disk (a GuestMount) by the guest, chrooted at its mount point.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { InvalidArgumentError, NotFoundError, UnavailableError } from '../../errors';
import type { OverlayRootfs } from '../rootfs';
import { BlockModeError } from '../errors';
import { isMountPoint } from '../../util/mounter';
import { listChanges, withoutDaemonFiles, type Change } from './changes';
import { RootDir } from './resolve';
import { pathStat, type ContainerPathStat } from './stat';
import { packTree } from './tar-out';
import { resolveOwner, resolveOwnerWith } from './owner';
import { extractInto, type ExtractIntoOptions } from './tar-in';
import { mountFor, type ArchiveMount, type GuestMount, type HostMount } from './mounts';
import type { GuestArchive } from './guest';

export type { ArchiveMount, Change, ContainerPathStat, GuestMount, HostMount };

/** What PUT /archive takes besides the tar stream. */
export interface PutOptions {
  noOverwriteDirNonDir?: boolean;
  /** Own every entry by the container's user (copyUIDGID); `user` is the spec's User. */
  copyUIDGID?: { user: string };
}

interface OpenRoot {
  root: RootDir;
  close(): Promise<void>;
}

/** A root opened for one container path: the container's root or a mount's directory. */
interface OpenFor extends OpenRoot {
  /** The path to resolve in `root`. */
  rel: string;
  /** The path is in a mount (not in the root filesystem). */
  mounted?: HostMount;
}

/** Where a path is in the container, for dockerd's messages. */
function notFound(p: string, ref: string): NotFoundError {
  return new NotFoundError(`Could not find the file ${p} in container ${ref}`);
}

/** The trailing form dockerd keeps: a path ending in `/` or `/.` follows its last symlink. */
function followsLast(p: string): boolean {
  return p.endsWith('/') || p.endsWith('/.');
}

/** The archive operations of the containers of one daemon (see the module comment). */
export class ContainerArchive {
  private readonly mounts = new Map<string, { refs: number; ready: Promise<string> }>();
  /**
   * The unmount under way of a container's `archive-mnt`, which a new mount there waits for:
   * a request that comes while the last one's unmount runs (its client got the whole
   * response before the server released the root) would otherwise have its fresh mount taken
   * by that unmount, and its own unmount fail.
   */
  private readonly unmounting = new Map<string, Promise<void>>();

  constructor(
    private readonly rootfs: OverlayRootfs,
    private readonly guest?: GuestArchive,
  ) {}

  /** Block mode: the guest that serves the container's root (BlockModeError without one). */
  private guestFor(id: string): GuestArchive | undefined {
    if (!this.rootfs.diskOf?.(id)) return undefined;
    if (!this.guest) throw new BlockModeError(id);
    return this.guest;
  }

  /**
   * The guest serves `p` (block mode, and `p` is not under a host directory mount that is
   * reached with no symlink followed, as openFor reaches it: a bind source swapped for a
   * symlink is left to the guest, which resolves it inside the container). `root`: the
   * deepest mount holding `p` is the guest's own, mounted there.
   */
  private async guestServes(
    id: string,
    p: string,
    mounts: readonly ArchiveMount[],
  ): Promise<{ g: GuestArchive; root?: GuestMount } | undefined> {
    const g = this.guestFor(id);
    if (!g) return undefined;
    const hit = mountFor(p, mounts);
    const m = hit?.mount;
    if (m?.inGuest) return { g, root: m };
    const root = m && (await openMountRoot(m));
    if (root) {
      await root.close();
      return undefined;
    }
    return { g };
  }

  /**
   * At daemon start: detach the `archive-mnt` mounts an earlier daemon left (it died or was
   * stopped during a request). Returns how many there were.
   */
  async reclaimStale(): Promise<number> {
    let n = 0;
    let ids: string[] = [];
    try {
      ids = await fs.promises.readdir(this.rootfs.root);
    } catch {
      return 0;
    }
    for (const id of ids) {
      const target = path.join(this.rootfs.root, id, 'archive-mnt');
      if (!isMountPoint(target)) continue;
      await this.rootfs.unmountDetached(target).catch(() => undefined);
      n++;
    }
    return n;
  }

  /** At daemon shutdown: detach the mounts of requests still under way (their clients are gone). */
  async close(): Promise<void> {
    const open = [...this.mounts.values()];
    this.mounts.clear();
    for (const m of open) {
      const target = await m.ready.catch(() => undefined);
      if (target) await this.rootfs.unmountDetached(target).catch(() => undefined);
    }
  }

  /**
   * The container's root, mounted for as long as the caller holds it. `imageOnly`: a caller
   * that needs only what the image holds (a new volume's copy-up at create, before the
   * container ran) is also served for a block-mode container, from its image layers.
   */
  async open(id: string, opts: { imageOnly?: boolean } = {}): Promise<OpenRoot> {
    const paths = await this.rootfs.paths(id).catch((e: unknown) => {
      throw e instanceof NotFoundError ? new NotFoundError(`No such container: ${id}`) : e;
    });
    // Block mode: the host's mount has the image layers only; the writable layer is the guest's.
    if (paths.disk && !opts.imageOnly) throw new BlockModeError(id);
    if (paths.mergedDir && isMountPoint(paths.mergedDir)) {
      // A running container's root, in its VM's share: never reached through a symlink there.
      const root = paths.mergedBeneath
        ? await RootDir.openBeneath(paths.mergedBeneath)
        : await RootDir.open(paths.mergedDir);
      // A container just stopped has its root unmounted in the background: when that came
      // between the check and the open, what was opened is the empty directory under the
      // mount, and the root is mounted on its own below, as for any stopped container.
      const base = paths.mergedBeneath ? paths.mergedBeneath.root : path.dirname(paths.mergedDir);
      if (await isOwnMount(root, base)) return { root, close: () => root.close() };
      await root.close();
    }
    let m = this.mounts.get(id);
    if (!m) {
      const target = path.join(this.rootfs.root, id, 'archive-mnt');
      const before = this.unmounting.get(id) ?? Promise.resolve();
      const ready = before.catch(() => undefined).then(() => this.rootfs.mountDetached(id, target, opts));
      m = { refs: 0, ready: ready.then(() => target) };
      this.mounts.set(id, m);
    }
    m.refs++;
    const entry = m;
    const release = async () => {
      if (--entry.refs > 0) return;
      this.mounts.delete(id);
      const unmounted = entry.ready.then(
        (target) => this.rootfs.unmountDetached(target),
        () => undefined,
      );
      this.unmounting.set(id, unmounted);
      try {
        await unmounted;
      } finally {
        if (this.unmounting.get(id) === unmounted) this.unmounting.delete(id);
      }
    };
    try {
      const root = await RootDir.open(await entry.ready);
      return {
        root,
        close: async () => {
          await root.close();
          await release();
        },
      };
    } catch (e) {
      await release();
      // Removed while this request mounted its root (a `docker rm` beside a `docker export`):
      // the container is gone, as a request after the removal would find.
      if (this.rootfs.isRemoved(id)) throw new NotFoundError(`No such container: ${id}`);
      throw e;
    }
  }

  /**
   * The root that holds container path `p`: the directory of the mount it is under (see
   * ./mounts.ts; a mount whose source is not a directory, or no longer reached without a
   * symlink, is left to the root filesystem) or the container's root.
   */
  private async openFor(id: string, p: string, mounts: readonly ArchiveMount[]): Promise<OpenFor> {
    const hit = mountFor(p, await this.onHost(id, mounts));
    const root = hit && (await openMountRoot(hit.mount));
    if (hit && root) return { root, rel: hit.rel, mounted: hit.mount, close: () => root.close() };
    return { ...(await this.open(id)), rel: p };
  }

  /**
   * The mounts the host serves when no guest does: its host directory mounts, and a volume
   * kept on a disk still to be made as its seed directory (the guest's own once the disk is
   * made at the container's first start).
   */
  private async onHost(id: string, mounts: readonly ArchiveMount[]): Promise<HostMount[]> {
    const out: HostMount[] = [];
    for (const m of mounts) {
      if (!m.inGuest) out.push(m);
      else if (this.rootfs.diskVolumeSeed && !this.rootfs.diskOf?.(id))
        out.push({ target: m.target, source: await this.rootfs.diskVolumeSeed(id, m.volume), readOnly: m.readOnly });
    }
    return out;
  }

  private async withRoot<T>(
    id: string,
    p: string,
    mounts: readonly ArchiveMount[],
    fn: (o: OpenFor) => Promise<T>,
  ): Promise<T> {
    const o = await this.openFor(id, p, mounts);
    try {
      return await fn(o);
    } finally {
      await o.close();
    }
  }

  /** Stat `o.rel` in `o.root`; `p` (the container path) names it and the errors. */
  private async statIn(o: OpenFor, p: string, ref: string): Promise<ContainerPathStat> {
    const root = o.root;
    const r = await root.resolve(o.rel, { followLast: followsLast(o.rel) }).catch((e: unknown) => {
      throw e instanceof NotFoundError ? notFound(p, ref) : e;
    });
    try {
      if (!r.stat) throw notFound(p, ref);
      let linkTarget = '';
      if (r.stat.isSymbolicLink()) {
        const t = await root.resolve(r.path, { followLast: true }).catch(() => undefined);
        linkTarget = t?.path ?? '';
        await t?.release();
      }
      const named = r.name !== undefined || o.mounted !== undefined;
      return pathStat(named ? path.posix.basename(p.replace(/\/+\.?$/, '')) || '/' : '/', r.stat, linkTarget);
    } finally {
      await r.release();
    }
  }

  /**
   * HEAD /archive: the stat of container path `p` of container `id` (`ref` names it in
   * errors). `mounts`: the container's host directory mounts and the volumes its guest keeps
   * on its disk, which hold the paths under them.
   */
  async stat(id: string, ref: string, p: string, mounts: readonly ArchiveMount[] = []): Promise<ContainerPathStat> {
    checkAbs(p);
    const s = await this.guestServes(id, p, mounts);
    if (s) return s.g.stat(id, ref, p, s.root?.target);
    return this.withRoot(id, p, mounts, (o) => this.statIn(o, p, ref));
  }

  /** GET /archive: the stat of `p` and a tar stream of it (the root stays mounted until it ends). */
  async get(
    id: string,
    ref: string,
    p: string,
    mounts: readonly ArchiveMount[] = [],
  ): Promise<{ stat: ContainerPathStat; tar: Readable }> {
    checkAbs(p);
    const s = await this.guestServes(id, p, mounts);
    if (s) return s.g.get(id, ref, p, s.root?.target);
    const o = await this.openFor(id, p, mounts);
    try {
      const stat = await this.statIn(o, p, ref);
      const r = await o.root.resolve(o.rel, { followLast: followsLast(o.rel) });
      const base = p.endsWith('/.') ? '.' : stat.name;
      // An entry's path in the container is `p` less its last name, then the entry's tar name
      // (a byte or two longer for a `p` that ends in `/` or `/.`: bounded a little sooner).
      const prefixBytes = Math.max(0, Buffer.byteLength(p) - Buffer.byteLength(base));
      const tar = packTree(r.dir, r.name, base === '/' ? '.' : base, { prefixBytes });
      tar.once('close', () => void r.release().finally(() => o.close()));
      return { stat, tar };
    } catch (e) {
      await o.close();
      throw e;
    }
  }

  /** PUT /archive: extract tar stream `input` into directory `p` of the container. */
  async put(
    id: string,
    ref: string,
    p: string,
    input: Readable,
    opts: PutOptions = {},
    mounts: readonly ArchiveMount[] = [],
  ): Promise<void> {
    checkAbs(p);
    const s = await this.guestServes(id, p, mounts);
    const user = opts.copyUIDGID?.user;
    if (s) {
      // dockerd answers this one with a 500 too.
      if (s.root?.readOnly) throw new UnavailableError('mounted volume is marked read-only');
      return s.g.put(
        id,
        ref,
        p,
        input,
        {
          noOverwriteDirNonDir: opts.noOverwriteDirNonDir,
          ...(user !== undefined ? { owner: (read) => resolveOwnerWith(read, user) } : {}),
        },
        s.root?.target,
      );
    }
    await this.withRoot(id, p, mounts, async (o) => {
      // dockerd answers this one with a 500 too.
      if (o.mounted?.readOnly) throw new UnavailableError('mounted volume is marked read-only');
      const root = o.root;
      const r = await root.resolve(o.rel, { followLast: true }).catch((e: unknown) => {
        throw e instanceof NotFoundError ? notFound(p, ref) : e;
      });
      let dest: string;
      try {
        if (!r.stat) throw notFound(p, ref);
        // dockerd answers this one with a 500.
        if (!r.stat.isDirectory()) throw new UnavailableError('extraction point is not a directory');
        dest = r.path;
      } finally {
        await r.release();
      }
      const x: ExtractIntoOptions = { noOverwriteDirNonDir: opts.noOverwriteDirNonDir };
      // The user is looked up in the container's own /etc, also for a path in a mount.
      if (user !== undefined)
        x.chown = !o.mounted
          ? await resolveOwner(root, user)
          : this.guestFor(id)
            ? await this.guestOwner(id, user)
            : await this.withRoot(id, '/', [], (c) => resolveOwner(c.root, user));
      await extractInto(root, dest, input, x);
    });
  }

  /**
   * GET /changes: the writable layer's changes, less the files of `hidden` (absolute paths the
   * daemon writes there itself; see withoutDaemonFiles).
   */
  async changes(id: string, hidden: readonly string[] = []): Promise<Change[]> {
    const paths = await this.rootfs.paths(id);
    const g = this.guestFor(id);
    if (g) return g.changes(id, paths.lowerDirs, hidden);
    return withoutDaemonFiles(await listChanges(paths.upperDir, paths.lowerDirs), hidden);
  }

  /** GET /export: a tar of the whole root (the root stays mounted until the stream ends). */
  async export(id: string): Promise<Readable> {
    const g = this.guestFor(id);
    if (g) return g.export(id);
    const o = await this.open(id);
    const tar = packTree(o.root.handle, undefined, '', { prefixBytes: 1 });
    tar.once('close', () => void o.close());
    return tar;
  }

  /** A block-mode container's user, looked up in its /etc through its guest. */
  private guestOwner(id: string, user: string): Promise<{ uid: number; gid: number }> {
    return (this.guestFor(id) as GuestArchive).withReader(id, (read) => resolveOwnerWith(read, user));
  }

  /**
   * Block mode: the writable layer as an image layer tar for a commit (`lowerDirs`: the
   * image's layers, top first), and how many entries it holds once it has ended. `freeze`:
   * the container's processes are frozen meanwhile (commit's pause).
   */
  async guestLayer(
    id: string,
    lowerDirs: string[],
    opts: { freeze?: boolean } = {},
  ): Promise<{ stream: Readable; entries: Promise<number> }> {
    const g = this.guestFor(id);
    if (!g) throw new InvalidArgumentError(`container ${id.slice(0, 12)} keeps its writable layer on the host`);
    return g.layer(id, lowerDirs, opts.freeze ?? false);
  }
}

function checkAbs(p: string): void {
  if (p === '') throw new InvalidArgumentError('bad parameter: pathcannot be empty'); // sic, as dockerd
  if (p.includes('\0')) throw new InvalidArgumentError('invalid path');
}

/**
 * Whether `root` is a filesystem mounted where it was opened (its device differs from that of
 * `base`, a directory the daemon holds above it: the share's root, never a path the guest
 * could have replaced), not the directory under a mount that went meanwhile.
 */
async function isOwnMount(root: RootDir, base: string): Promise<boolean> {
  const [own, above] = await Promise.all([root.handle.stat(), fs.promises.stat(base)]);
  return own.dev !== above.dev;
}

/**
 * A mount's source directory as a root for `docker cp`, opened with no symlink followed on its
 * canonical path (a bind source's pinned path; a volume's resolved first); undefined when it
 * is not a directory reached that way.
 */
async function openMountRoot(m: HostMount): Promise<RootDir | undefined> {
  const canonical = m.pinned ? m.source : await fs.promises.realpath(m.source).catch(() => undefined);
  if (!canonical || canonical === '/') return canonical ? RootDir.open('/') : undefined;
  return RootDir.openBeneath({ root: '/', rel: canonical.slice(1) }).catch(() => undefined);
}
