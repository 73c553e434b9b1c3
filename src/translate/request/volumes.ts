/**
 * The volume half of a container create, after its translation (./request-pod.ts): the mounts
 * `--volumes-from` takes from another container, an anonymous volume for each path of
 * `anonymousVolumes` (the image's VOLUME entries and a Docker create's `-v /path`) that no
 * other mount covers, and every volume the
 * mounts name made in the volume store when missing, as dockerd does at create. The pod's
 * volume mounts come out with their names and host data directories filled in. A container
 * whose image is on a disk keeps its anonymous volumes on its own disk (not with `--storage-opt
 * volumes=share`), and with `--storage-opt volumes=disk` the named ones no other container
 * mounts too (docs/design/storage.md, "Volumes on the container's disk").
 */
import * as path from 'node:path';
import { InvalidArgumentError, UnavailableError } from '../../errors';
import type { PodMount, PodVolumeMount } from '../../pod/types';
import type { VolumeStore } from '../../storage/volumes';
import type { Translated } from '../translation';
import { mountTarget, sortParentsFirst } from './policy/mount-order';

/** `--storage-opt volumes=disk` of a container whose image is not on a disk (500, as a storage option dockerd cannot honour). */
const VOLUMES_ON_DISK_NEED_IMAGE_DISK =
  '--storage-opt volumes=disk: only for a container that reads its image from a disk (image=disk, the default in block mode) in a VM of its own';

/** The create whose volumes are resolved: its pod (one container) and its anonymous volume paths. */
export interface VolumeCreate extends Translated {
  /** The driver of its anonymous volumes (a Docker create's --volume-driver); absent: the local one. */
  anonymousDriver?: string;
  /** Where its volumes live: its storage option `volumes=disk|share` (./policy/storage-opts.ts). */
  placement?: 'disk' | 'share';
}

/** What resolveVolumes needs besides the translated create. */
export interface VolumeResolveDeps {
  store: VolumeStore;
  /** The mounts of container `ref` (for --volumes-from); throws the pod layer's not-found. */
  mountsOf(ref: string): readonly PodMount[];
  /**
   * IDs of the existing containers that mount volume `name`. Given: a named volume that no
   * other container mounts goes on the own disk of a container whose image is on a disk, as
   * its anonymous volumes do; absent: named volumes stay on the volume share.
   */
  usersOf?(name: string): string[];
  /** Labels for the anonymous volumes made for Config.Volumes (none: unlabelled, as dockerd 20.10). */
  anonymousLabels?: Record<string, string>;
}

/** What resolveVolumes did. */
export interface ResolvedVolumes {
  /** Volumes made now (a failed create removes them again). */
  created: string[];
  /**
   * Every volume the create asked the store for, made now or found (not those of
   * --volumes-from): each gets a `create` event, as dockerd's volume service sends one for
   * every create, even of an existing volume.
   */
  asked: string[];
  /** Volume mounts to fill from the image (their volume is filled only while empty). */
  copyUp: PodVolumeMount[];
  /** Existing volumes put on the container's disk now (a failed create takes them off again). */
  keptOnDisk: string[];
}

/**
 * Whether named volume mount `m` of a container whose image is on a disk may go on that
 * container's disk: the local driver without options (no `type`/`device`/`o`), no `--rm`
 * (its removal would take the disk and the data with it), mounted once in the container, and
 * mounted by no other container (they share it over the volume share: Compose's shared socket
 * volume). The store checks the rest: a volume on no disk yet, whose host directory is empty.
 */
export function namedMayGoOnDisk(
  m: PodVolumeMount,
  mounts: readonly PodMount[],
  autoRemove: boolean,
  deps: Pick<VolumeResolveDeps, 'usersOf'>,
): boolean {
  if (m.anonymous || !m.name || !deps.usersOf || autoRemove) return false;
  if ((m.driver && m.driver !== 'local') || (m.options && Object.keys(m.options).length)) return false;
  if (mounts.filter((o) => o.type === 'volume' && o.name === m.name).length !== 1) return false;
  return deps.usersOf(m.name).length === 0;
}

/** One `--volumes-from` entry: `container[:ro|:rw]`. */
function parseVolumesFrom(spec: string): { ref: string; mode: '' | 'ro' | 'rw' } {
  const i = spec.lastIndexOf(':');
  if (i < 0) return { ref: spec, mode: '' };
  const mode = spec.slice(i + 1);
  if (mode !== 'ro' && mode !== 'rw') throw new InvalidArgumentError(`invalid mode for volumes-from: ${mode}`);
  return { ref: spec.slice(0, i), mode };
}

/**
 * Resolve the volumes of the (single) container of `t`, in place (see the module comment).
 * `volumesFrom` is HostConfig.VolumesFrom, `autoRemove` makes the anonymous volumes go with
 * the container.
 */
export async function resolveVolumes(
  t: VolumeCreate,
  volumesFrom: readonly string[],
  deps: VolumeResolveDeps,
): Promise<ResolvedVolumes> {
  const c = t.spec.containers[0];
  const mounts: PodMount[] = [...(c.mounts ?? [])];
  const taken = new Set(mounts.map((m) => m.target));
  for (const spec of volumesFrom) {
    const { ref, mode } = parseVolumesFrom(spec);
    for (const m of deps.mountsOf(ref)) {
      if (m.type === 'tmpfs' || m.type === 'emptyDir' || taken.has(m.target)) continue;
      const readOnly = mode === '' ? m.readOnly : mode === 'ro';
      // A volume on the source's own disk is mounted over the volume share here: its data
      // moves there once the source is not running (claimDiskVolumes, src/api/v1.41/disk-volumes.ts).
      if (m.type === 'volume') {
        const shared: PodVolumeMount = { ...m, readOnly, anonymous: false, noCopy: true };
        delete shared.diskDir;
        mounts.push(shared);
      } else mounts.push({ ...m, readOnly, createSource: false });
      taken.add(m.target);
    }
  }
  for (const p of t.anonymousVolumes ?? []) {
    if (!path.posix.isAbsolute(p))
      throw new InvalidArgumentError(
        `invalid mount config for type "volume": invalid mount path: '${p}' mount path must be absolute`,
      );
    const target = mountTarget(p);
    if (taken.has(target)) continue;
    // An anonymous volume is made by --volume-driver too, as dockerd makes it.
    const driver = t.anonymousDriver;
    mounts.push({
      type: 'volume',
      name: '',
      source: '',
      target,
      readOnly: false,
      anonymous: true,
      ...(driver ? { driver } : {}),
      ...(deps.anonymousLabels ? { labels: { ...deps.anonymousLabels } } : {}),
    });
    taken.add(target);
  }
  const created: string[] = [];
  const asked: string[] = [];
  const copyUp: PodVolumeMount[] = [];
  const keptOnDisk: string[] = [];
  // A container that joins another's VM keeps its volumes on the volume share, as before: its
  // disks there are decided later, by the pod layer (src/pod/lifecycle/joined-disks.ts), and
  // may not come.
  const imageOnDisk = c.imageOnDisk === true && !t.spec.joinPod;
  const placement = t.placement;
  if (placement === 'disk' && !imageOnDisk) throw new UnavailableError(VOLUMES_ON_DISK_NEED_IMAGE_DISK);
  try {
    for (const m of mounts) {
      if (m.type !== 'volume' || m.source) continue;
      // A container whose image is on a disk keeps its anonymous volumes (unless it chose to
      // share them), and with volumes=disk a named one that it alone mounts, on its own disk
      // too, so that its VM can be saved and forked with them.
      const onDisk = m.anonymous && !m.driver && imageOnDisk && placement !== 'share';
      const namedOnDisk =
        imageOnDisk && placement === 'disk' && namedMayGoOnDisk(m, mounts, t.spec.autoRemove === true, deps);
      const r = await deps.store.create({
        ...(m.name ? { name: m.name } : {}),
        ...(m.driver ? { driver: m.driver } : {}),
        ...(m.labels ? { labels: m.labels } : {}),
        ...(m.options ? { options: m.options } : {}),
        anonymous: m.anonymous,
        ...(m.anonymous && t.spec.autoRemove ? { removeWith: c.id } : {}),
        ...(onDisk ? { onDiskOf: c.id } : {}),
      });
      if (r.created) created.push(r.volume.name);
      if (namedOnDisk && (await deps.store.keepOnDisk(r.volume.name, c.id)) && !r.created)
        keptOnDisk.push(r.volume.name);
      // A volume on another container's disk is mounted over the volume share: its data moves
      // there once that container is not running (claimDiskVolumes, at this container's create
      // or start); nothing to copy up now.
      const owner = r.volume.onDiskOf;
      if (owner === c.id) m.diskDir = `volumes/${r.volume.name}`;
      asked.push(r.volume.name);
      m.name = r.volume.name;
      m.source = deps.store.dataDir(r.volume.name);
      delete m.labels;
      delete m.driver;
      delete m.options;
      if (!m.noCopy && !(owner && owner !== c.id)) copyUp.push(m);
    }
  } catch (e) {
    for (const name of created) await deps.store.remove(name).catch(() => undefined);
    for (const name of keptOnDisk) await deps.store.moveOffDisk(name).catch(() => undefined);
    throw e;
  }
  c.mounts = sortParentsFirst(mounts);
  return { created, asked, copyUp, keptOnDisk };
}
