/**
 * Volumes kept on a container's own disk (an `--storage-opt image=disk` container's anonymous
 * volumes, and the named ones it alone mounted at its create: docs/checkpoint.md) leave it for
 * the volume's host directory, read by a guest, when their container is removed, or when
 * another container that mounts them is created or starts while their container is not
 * running. One move of a volume at a time. A step every front can take (the Docker front
 * takes it at create, start, `docker cp` and rm: src/api/v1.41/disk-volumes.ts).
 */
import { UnavailableError } from '../errors';
import { containerName, mainContainer, type PodVolumeMount } from '../pod/types';
import type { PodService } from '../pod/service';
import type { ContainerArchive } from '../storage/archive/service';
import type { VolumeStore } from '../storage/volumes';
import { VolumeOnContainerDiskError } from '../storage/volumes-errors';
import { copyOutOfContainer } from '../storage/volumes-copy';

/** What moving volumes off containers' disks works with. */
export interface DiskVolumeDeps {
  pods: PodService;
  /** The volumes, each with the container whose disk holds it, if any. */
  store: VolumeStore;
  /** Reads a stopped container's files (through a short-lived VM). */
  archive: ContainerArchive;
}

/**
 * Before container `ref` is removed: each of its volumes kept on its own disk that outlives it
 * (a named volume always; an anonymous one unless `anonymousToo` is false, as `docker rm -v`
 * takes those along, and one of a `--rm` container never) is moved into the volume's host
 * directory, read by a guest (a running container that `force` removes is stopped first), and
 * is an ordinary volume from then on. A volume that cannot be moved keeps the container: the
 * removal fails with the reason, and nothing is lost.
 */
export async function moveDiskVolumesOff(
  deps: DiskVolumeDeps,
  ref: string,
  force: boolean,
  anonymousToo = true,
): Promise<void> {
  const { pods, store } = deps;
  const rec = pods.get(ref);
  const spec = mainContainer(rec).spec;
  const owned = (name: string) => store.has(name) && store.get(name).onDiskOf === spec.id;
  const kept = (spec.mounts ?? []).filter(
    (m): m is PodVolumeMount =>
      m.type === 'volume' &&
      !!m.diskDir &&
      (anonymousToo || !m.anonymous) &&
      owned(m.name) &&
      !store.get(m.name).removeWith,
  );
  if (!kept.length) return;
  if (pods.isRunning(rec.id)) {
    if (!force) return; // the removal itself refuses it
    await pods.stop(rec.id, 0);
  }
  for (const m of kept) {
    try {
      await oneMoveAtATime(m.name, async () => {
        if (owned(m.name)) await moveOff(deps, rec.id, m);
      });
    } catch (e) {
      throw new UnavailableError(`${(e as Error).message} (the container is kept)`);
    }
  }
}

/**
 * Container `ref` mounts over the volume share each volume whose data is on another
 * container's own disk (it was asked for by name or with --volumes-from, as Compose's recreate
 * does). Each such volume whose container is not running is moved into the volume's host
 * directory, read by a guest, and that container mounts it over the share too from its next
 * start (its disk keeps a stale copy, which nothing mounts any more). While that container
 * runs, the volume stays on its disk: at `ref`'s create (`atCreate`) it is left for `ref`'s
 * start, and a start is refused (409): two VMs never mount one filesystem.
 */
export async function claimDiskVolumes(deps: DiskVolumeDeps, ref: string, atCreate = false): Promise<void> {
  const { pods, store } = deps;
  const rec = pods.get(ref);
  const shared = (mainContainer(rec).spec.mounts ?? []).filter(
    (m): m is PodVolumeMount => m.type === 'volume' && !m.diskDir && !!m.name,
  );
  for (const m of shared) {
    if (!store.has(m.name) || !store.get(m.name).onDiskOf) continue;
    await oneMoveAtATime(m.name, async () => {
      // Read again once the moves under way are done: one of them may have moved it.
      const owner = store.has(m.name) ? store.get(m.name).onDiskOf : undefined;
      if (!owner || owner === rec.id) return;
      if (pods.isRunning(owner)) {
        if (atCreate) return;
        const o = pods.get(owner);
        throw new VolumeOnContainerDiskError(m.name, owner, containerName(o, mainContainer(o)));
      }
      const onDisk = (mainContainer(pods.get(owner)).spec.mounts ?? []).find(
        (o): o is PodVolumeMount => o.type === 'volume' && o.name === m.name && !!o.diskDir,
      );
      if (!onDisk) throw new UnavailableError(`volume ${m.name} is on no mount of container ${owner.slice(0, 12)}`);
      await moveOff(deps, owner, onDisk);
      await pods.update(owner, { volumesOffDisk: [m.name] });
    });
  }
}

/** Moves of volumes off containers' disks under way, by volume name. */
const moves = new Map<string, Promise<void>>();

/** Run `fn` once the moves of volume `name` under way have ended (two never move it at once). */
async function oneMoveAtATime(name: string, fn: () => Promise<void>): Promise<void> {
  const mine = (moves.get(name) ?? Promise.resolve()).catch(() => undefined).then(fn);
  moves.set(name, mine);
  try {
    await mine;
  } finally {
    if (moves.get(name) === mine) moves.delete(name);
  }
}

/** Copy volume mount `m` of stopped container `owner` off its disk into the volume's `_data`, read by a guest. */
async function moveOff(deps: DiskVolumeDeps, owner: string, m: PodVolumeMount): Promise<void> {
  try {
    await copyOutOfContainer(deps.archive, owner, { target: m.target, volume: m.name }, deps.store.dataDir(m.name));
  } catch (e) {
    throw new UnavailableError(
      `volume ${m.name} cannot be moved off the disk of container ${owner.slice(0, 12)}: ${(e as Error).message}`,
    );
  }
  await deps.store.moveOffDisk(m.name);
}
