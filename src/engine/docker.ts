/**
 * The creation service's Docker entry: a parsed `POST /containers/create` body (the Docker
 * front checked and parsed it with ../translate/docker/create-body.ts) -> a CreationPlan, checked in
 * dockerd's order so the same request fails with the same error: the name's form, the body,
 * the container to join (--network/--pid/--ipc container:), the image, a --pid or --ipc
 * container that must exist now, the links, a taken name, then the translation. The checks
 * after the body's are shared with the neutral entry (./request.ts).
 */
import * as path from 'node:path';
import { ANONYMOUS_VOLUME_LABEL } from '../storage/volumes';
import { InvalidArgumentError, NotFoundError } from '../errors';
import type { ImageRecord } from '../storage/types';
import { parseLinks } from '../translate/network/links';
import type { CreateRequest } from '../translate/docker/create-body';
import { validateContainerName } from '../translate/request/policy/container-name';
import { translateCreate, type DockerTranslated, type TranslateOptions } from '../translate/docker/create';
import { joinRequestOf } from '../translate/docker/join';
import { CGROUP_PARENT_NEEDS_OWN_VM } from '../translate/request/policy/cgroup-parent';
import { parseStorageOpt } from '../translate/request/policy/storage-opts';
import { namedMayGoOnDisk } from '../translate/request/volumes';
import { planFromSavedState, savedNamedVolumes, wantsColdStart } from './saved-state-plan';
import { podSpecOf, volumeUsers, type PodSpec, type PodVolumeMount } from '../pod/types';
import { WARM_STATE_LABEL } from './warm-starts';
import {
  checkNameFree,
  defaultImageOnDisk,
  newPodId,
  translateOptions,
  yieldLoop,
  type CreationPlan,
  type EngineDeps,
} from './plan';

/** The translation of a checked request, once its image is found. */
export type Translate = (image: ImageRecord, id: string, opts: TranslateOptions) => DockerTranslated;

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
 * With warm starts wanted (./warm-starts.ts): make translation `t` of `request` (image
 * `image`) a start from its kind's state when there is one, marked by WARM_STATE_LABEL; else
 * have its run save one. A container with links depends on others at its start: always cold.
 * Resolves true when the container's named volumes must go on its disk (its kind has some).
 */
async function planWarmStart(
  deps: EngineDeps,
  request: CreateRequest,
  t: DockerTranslated,
  image: ImageRecord,
): Promise<boolean> {
  const warm = deps.warmStarts;
  if (!warm?.wanted(request.config.Labels ?? undefined) || request.hostConfig.Links?.length) return false;
  const imageId = image.id;
  const placement = parseStorageOpt(request.hostConfig.StorageOpt).volumes;
  const named = await namedVolumesForDisk(deps, t.spec, placement, imageVolumePaths(image));
  if (!named) return false;
  const key = warm.keyOf(t.spec, imageId, t.anonymousVolumes, named);
  if (!key) return false;
  const state = await warm.stateFor(key);
  if (!state) {
    warm.expectFirst(t.spec.id, key, imageId);
    return named.size > 0;
  }
  planFromSavedState(request, t, state, { id: imageId, ref: request.config.Image });
  const mark = { [WARM_STATE_LABEL]: key.slice(0, 12) };
  t.spec.labels = { ...t.spec.labels, ...mark };
  if (t.frontend) t.frontend.config.Labels = { ...t.frontend.config.Labels, ...mark };
  return named.size > 0;
}

/** Plan the pod of a Docker create, parsed by the Docker front (see the module comment); `name` is the query's, if any. */
export function planDockerCreate(deps: EngineDeps, request: CreateRequest, name?: string): Promise<CreationPlan> {
  if (name) validateContainerName(name);
  return planParsed(deps, request, name, (image, id, opts) => translateCreate(request, image, id, opts));
}

/**
 * The checks after the body's, and the translation `translate` (see the module comment): the
 * Docker entry's, and the neutral entry's (./request.ts).
 */
export async function planParsed(
  deps: EngineDeps,
  request: CreateRequest,
  name: string | undefined,
  translate: Translate,
): Promise<CreationPlan> {
  await yieldLoop();
  const join = joinRequestOf(request.config, request.hostConfig);
  const image = await deps.images.resolve(request.config.Image);
  if (join?.checkAtCreate) containerToJoin(deps, join.target);
  for (const l of parseLinks(request.hostConfig.Links)) {
    try {
      deps.pods.get(l.name);
    } catch {
      throw new InvalidArgumentError(`could not get container for ${l.name}: No such container: ${l.name}`);
    }
  }
  if (name) checkNameFree(deps.pods, name);
  const t = translate(image, newPodId(), await translateOptions(deps));
  if (join && t.spec.hostCgroupParent !== undefined) throw new InvalidArgumentError(CGROUP_PARENT_NEEDS_OWN_VM);
  if (join) t.spec.joinPod = { pod: join.target, pid: join.pid, ...(join.ipc ? { ipc: true } : {}) };
  // A checkpoint image: a fork of its saved state (./saved-state-plan.ts).
  const saved = wantsColdStart(request) ? undefined : await deps.checkpointImages?.savedStateFor(image.id);
  if (saved) planFromSavedState(request, t, saved, { id: image.id, ref: request.config.Image });
  // The daemon's --storage-opt image=disk, for a container that did not choose.
  const ownImageOpt = Object.keys(request.hostConfig.StorageOpt ?? {}).some((k) => k.toLowerCase() === 'image');
  defaultImageOnDisk(deps, t.spec, ownImageOpt);
  // Named volumes go on the disk of a container of a saved state that has some (they are on
  // the saved disk), and of a warm start's kind that has some (the first run's are saved).
  const namedToDisk = saved ? savedNamedVolumes(t.spec) : await planWarmStart(deps, request, t, image);
  return {
    spec: t.spec,
    frontend: t.frontend,
    ...(t.anonymousVolumes ? { anonymousVolumes: t.anonymousVolumes } : {}),
    ...(name ? { name } : {}),
    volumesFrom: t.frontend.hostConfig.VolumesFrom ?? [],
    ...(t.frontend.hostConfig.VolumeDriver ? { anonymousVolumeDriver: t.frontend.hostConfig.VolumeDriver } : {}),
    ...(namedToDisk ? { volumePlacement: 'disk' as const } : volumePlacementOf(t.frontend.hostConfig.StorageOpt)),
    // dockerd 26 labels the anonymous volumes of Config.Volumes at every version; podvisor
    // from API 1.42, so that 1.41 stays as dockerd 20.10.
    ...(request.asDockerd26 ? { anonymousVolumeLabels: { [ANONYMOUS_VOLUME_LABEL]: '' } } : {}),
  };
}

/** Check that the container a --pid or --ipc names is there: dockerd's 400 "No such container: X" when it is not. */
/** The `volumes` storage option of a create (checked already by its translation), for the volume step. */
function volumePlacementOf(opts: Record<string, string> | undefined): Pick<CreationPlan, 'volumePlacement'> {
  const placement = parseStorageOpt(opts).volumes;
  return placement ? { volumePlacement: placement } : {};
}

function containerToJoin(deps: EngineDeps, target: string): void {
  try {
    deps.pods.get(target);
  } catch (err) {
    if (err instanceof NotFoundError) throw new InvalidArgumentError(`No such container: ${target}`);
    throw err;
  }
}
