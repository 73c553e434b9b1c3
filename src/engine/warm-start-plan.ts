/**
 * A create's warm start (./warm-starts.ts, docs/warm-starts.md), planned at the creation door
 * (./door.ts) for a front that allows saved states: the translated pod made a start from its
 * kind's state when there is one, marked by WARM_STATE_LABEL; else its run is expected to save
 * one. A container with links depends on others at its start: always cold. The named volumes
 * of a kind go on the container's disk (namedVolumesForDisk).
 */
import * as path from 'node:path';
import type { ImageRecord } from '../storage/types';
import type { ContainerRequest } from '../translate/request/container-request';
import { parseStorageOpt } from '../translate/request/policy/storage-opts';
import { namedMayGoOnDisk } from '../translate/request/volumes';
import type { Translated } from '../translate/translation';
import { podSpecOf, volumeUsers, type PodSpec, type PodVolumeMount } from '../pod/types';
import type { CreateFront } from './front';
import type { EngineDeps } from './plan';
import { planFromSavedState } from './saved-state-plan';
import { WARM_STATE_LABEL } from './warm-starts';

/**
 * The named volumes of the container of `spec` when every one of them may go on its disk now
 * (an empty set when it has none): each over one of its image's own VOLUME paths (`imageVolumes`:
 * the program's data, as a database's image declares it, not a directory that containers share,
 * such as a socket's, which must stay on the share where a later container sees it live), a
 * plain local one, mounted once in it, by no other container, the container not `--rm` nor
 * `volumes=share`, and new or empty in the store (its keepOnDisk rule, which the volume step
 * applies again). Undefined when one may not: its start depends on what the host holds.
 */
async function namedVolumesForDisk(
  deps: EngineDeps,
  spec: PodSpec,
  placement: 'disk' | 'share' | undefined,
  imageVolumes: ReadonlySet<string>,
): Promise<Set<string> | undefined> {
  const mounts = spec.containers[0]?.mounts ?? [];
  const named = mounts.filter((m): m is PodVolumeMount => m.type === 'volume' && !m.anonymous);
  if (named.length === 0) return new Set();
  const store = deps.volumes?.store;
  if (!store || placement === 'share') return undefined;
  const pods = deps.pods.list().map((r) => ({ id: r.id, spec: podSpecOf(r) }));
  const usersOf = (name: string) => volumeUsers(pods, name);
  for (const m of named) {
    if (!imageVolumes.has(volumePath(m.target))) return undefined;
    // The volume step's own rule (it applies it again), then the store's.
    if (!namedMayGoOnDisk(m, mounts, spec.autoRemove === true, { usersOf })) return undefined;
    if (!(await store.couldKeepOnDisk(m.name))) return undefined;
  }
  return new Set(named.map((m) => m.name));
}

/** A VOLUME path or mount target in one form (normalised, no trailing slash). */
function volumePath(p: string): string {
  return path.posix.normalize(p).replace(/(.)\/+$/, '$1');
}

/** The paths image `image` declares as VOLUMEs. */
function imageVolumePaths(image: ImageRecord): Set<string> {
  return new Set(Object.keys(image.config.config?.Volumes ?? {}).map(volumePath));
}

/**
 * With warm starts wanted: make translation `t` of `request` (image `image`) a start from its
 * kind's state when there is one, marked by WARM_STATE_LABEL (on the pod and, through
 * `front`, on its record); else have its run save one. The options the saved processes cannot
 * take are refused as for a checkpoint image (named by `front`). Resolves true when the
 * container's named volumes must go on its disk (its kind has some).
 */
export async function planWarmStart(
  deps: EngineDeps,
  request: ContainerRequest,
  t: Translated,
  image: ImageRecord,
  front: Pick<CreateFront, 'refusedBySavedState' | 'addLabels'>,
): Promise<boolean> {
  const warm = deps.warmStarts;
  if (!warm?.wanted(request.labels) || request.links?.length) return false;
  const imageId = image.id;
  const placement = parseStorageOpt(request.diskOptions).volumes;
  const named = await namedVolumesForDisk(deps, t.spec, placement, imageVolumePaths(image));
  if (!named) return false;
  const key = warm.keyOf(t.spec, imageId, t.anonymousVolumes, named);
  if (!key) return false;
  const state = await warm.stateFor(key);
  if (!state) {
    warm.expectFirst(t.spec.id, key, imageId);
    return named.size > 0;
  }
  planFromSavedState(t, state, { id: imageId, ref: request.image }, front.refusedBySavedState?.(t, state.container));
  const mark = { [WARM_STATE_LABEL]: key.slice(0, 12) };
  t.spec.labels = { ...t.spec.labels, ...mark };
  front.addLabels?.(mark);
  return named.size > 0;
}
