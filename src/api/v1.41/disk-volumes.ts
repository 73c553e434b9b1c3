/**
 * The Docker front's side of volumes kept on a container's disk (the workflow is
 * src/engine/disk-volumes.ts): the step taken with this daemon's pods, volumes and archive,
 * and nothing where it has none of them (a front served without volumes).
 */
import type { ApiServices } from './services';
import * as diskVolumes from '../../engine/disk-volumes';

/** The workflow's dependencies out of `services`, or undefined when one is missing. */
function depsOf(services: ApiServices): diskVolumes.DiskVolumeDeps | undefined {
  const store = services.volumes?.store;
  const c = services.containers;
  if (!store || !c?.archive) return undefined;
  return { pods: c.pods, store, archive: c.archive };
}

/** src/engine/disk-volumes.ts moveDiskVolumesOff, with this daemon's services. */
export async function moveDiskVolumesOff(
  services: ApiServices,
  ref: string,
  force: boolean,
  anonymousToo = true,
): Promise<void> {
  const deps = depsOf(services);
  if (deps) await diskVolumes.moveDiskVolumesOff(deps, ref, force, anonymousToo);
}

/** src/engine/disk-volumes.ts claimDiskVolumes, with this daemon's services. */
export async function claimDiskVolumes(services: ApiServices, ref: string, atCreate = false): Promise<void> {
  const deps = depsOf(services);
  if (deps) await diskVolumes.claimDiskVolumes(deps, ref, atCreate);
}
