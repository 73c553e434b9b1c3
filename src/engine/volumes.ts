/**
 * The volume half of the creation service's sequence, around the pod layer's create: a Docker
 * create's volumes resolved and made first (src/translate/request/volumes.ts), a `create` event for
 * each, the pod created, and each new volume filled from the image (copy-up needs the
 * container's root). When the create fails, the volumes it made are removed again (with a
 * `destroy` event each), so a refused request leaves no volume behind. Without a volume store,
 * a volume mount is refused and the image's VOLUME paths stay plain directories of the rootfs.
 */
import { ConflictError, NotImplementedError } from '../errors';
import { mainContainer, podSpecOf, volumeUsers, type PodRecord } from '../pod/types';
import { copyUpVolumes } from '../storage/volumes-copy';
import { resolveVolumes, type VolumeCreate } from '../translate/request/volumes';
import { logger } from '../util/log';
import type { CreationPlan, EngineDeps } from './plan';

const log = logger('engine');

/**
 * A container started from a saved state has its named volumes on the saved disk: each must
 * have gone on its disk (new or empty, mounted by no other container). One that did not (it
 * holds data, or another container mounts it, since the plan was made) is a conflict: nothing
 * is made.
 */
function refuseSavedStateOffDisk(plan: CreationPlan): void {
  if (!plan.spec.savedState) return;
  for (const m of plan.spec.containers[0]?.mounts ?? [])
    if (m.type === 'volume' && !m.anonymous && !m.diskDir)
      throw new ConflictError(
        `volume ${m.name} holds data or is mounted by another container: a container started from a saved state takes its named volumes new or empty`,
      );
}

/** Run `create` for `plan` with its volumes made first and removed again if it fails (see the module comment). */
export async function createWithVolumes(
  deps: EngineDeps,
  plan: CreationPlan,
  create: () => Promise<PodRecord>,
): Promise<PodRecord> {
  // Only a Docker create has volumes to resolve (native pods and build steps mount none).
  if (plan.volumesFrom === undefined) return create();
  const vs = deps.volumes;
  if (!vs) {
    if (plan.spec.containers.some((c) => (c.mounts ?? []).some((m) => m.type === 'volume')))
      throw new NotImplementedError('volumes are not available in this daemon');
    return create();
  }
  const t: VolumeCreate = {
    spec: plan.spec,
    ...(plan.anonymousVolumes ? { anonymousVolumes: plan.anonymousVolumes } : {}),
    ...(plan.anonymousVolumeDriver ? { anonymousDriver: plan.anonymousVolumeDriver } : {}),
    ...(plan.volumePlacement ? { placement: plan.volumePlacement } : {}),
  };
  const resolved = await resolveVolumes(t, plan.volumesFrom ?? [], {
    ...(plan.anonymousVolumeLabels ? { anonymousLabels: plan.anonymousVolumeLabels } : {}),
    store: vs.store,
    mountsOf: (ref) => mainContainer(deps.pods.get(ref)).spec.mounts ?? [],
    usersOf: (name) =>
      volumeUsers(
        deps.pods.list().map((r) => ({ id: r.id, spec: podSpecOf(r) })),
        name,
      ),
  });
  // dockerd sends the volumes' `create` before the container's.
  for (const name of resolved.asked) vs.events?.emit('volume', 'create', name, { driver: 'local' });
  let record: PodRecord;
  try {
    refuseSavedStateOffDisk(plan);
    record = await create();
  } catch (e) {
    for (const name of resolved.created) {
      const removed = await vs.store.remove(name).then(
        () => true,
        () => false,
      );
      if (removed) vs.events?.emit('volume', 'destroy', name, { driver: 'local' });
    }
    for (const name of resolved.keptOnDisk) await vs.store.moveOffDisk(name).catch(() => undefined);
    throw e;
  }
  if (deps.archive && resolved.copyUp.length) {
    const id = plan.spec.id;
    const { archive } = deps;
    await (async () => {
      // A volume kept on the container's disk is filled in the directory its disk is made from.
      const targets = await Promise.all(
        resolved.copyUp.map(async (m) => ({
          path: m.target,
          dataDir: m.diskDir && deps.diskVolumeSeed ? await deps.diskVolumeSeed(id, m.name) : m.source,
        })),
      );
      await copyUpVolumes(archive, id, targets);
    })().catch((e: Error) => {
      log.warn(`container ${id.slice(0, 12)}: filling its new volumes from the image: ${e.message}`);
    });
  }
  return record;
}
