/**
 * The creation door: every front's neutral request (../translate/request/container-request.ts)
 * -> a CreationPlan, through one sequence of checks in dockerd's order, so that the same
 * request fails with the same error whatever front sent it:
 *
 *   the name's form, the request's own checks (../translate/request/request-check.ts);
 *   the image; the pod whose PID namespace it joins (it must exist now); the front's checks
 *   of what must exist (./front.ts: Docker's container to join, its links); a taken name;
 *   the merge with the image, once, and the front's completion of the request from it (its
 *   faults, its record); the one translation (../translate/request/request-pod.ts); the VM it
 *   joins; a start from a saved state (a checkpoint image's: ./saved-state-plan.ts; a warm
 *   start's: ./warm-start-plan.ts) where the front allows one; the default image disk; the
 *   volume step's options.
 *
 * The CRI front's sandboxes and containers come whole; the Docker front's create comes as its
 * container's settings with the Docker front's part (src/api/v1.41/create/docker-front.ts).
 */
import { InvalidArgumentError } from '../errors';
import { ANONYMOUS_VOLUME_LABEL } from '../storage/volumes';
import type { ImageRecord } from '../storage/types';
import { CGROUP_PARENT_NEEDS_OWN_VM } from '../translate/request/policy/cgroup-parent';
import type { ContainerRequest } from '../translate/request/container-request';
import { validateContainerName } from '../translate/request/policy/container-name';
import { parseStorageOpt } from '../translate/request/policy/storage-opts';
import { checkContainerRequest } from '../translate/request/request-check';
import { mergeWithImage } from '../translate/request/image-merge';
import { translateContainerRequest } from '../translate/request/request-pod';
import type { CreateFront, CreateOptions } from './front';
import { planFromSavedState, savedNamedVolumes, wantsColdStart } from './saved-state-plan';
import { planWarmStart } from './warm-start-plan';
import {
  checkNameFree,
  defaultImageOnDisk,
  newPodId,
  translateOptions,
  yieldLoop,
  type CreationPlan,
  type EngineDeps,
} from './plan';

export { ANONYMOUS_VOLUME_LABEL };

/** Plan the pod of `request` (see the module comment). */
export async function planCreate(
  deps: EngineDeps,
  request: ContainerRequest,
  options: CreateOptions = {},
): Promise<CreationPlan> {
  const { name, front } = options;
  if (name) validateContainerName(name);
  checkContainerRequest(request, deps.hostCpus);
  await yieldLoop();
  const image = await deps.images.resolve(request.image);
  const networkJoin = request.network?.mode === 'join' ? request.network : undefined;
  if (networkJoin?.pid) deps.pods.get(networkJoin.pod); // a PID namespace to join must be there now (404)
  front?.checkAfterImage?.(deps.pods);
  if (name) checkNameFree(deps.pods, name);
  const id = newPodId();
  const opts = await translateOptions(deps);
  const merged = mergeWithImage(request, image, id);
  const completed = front?.complete?.(merged, image, opts);
  const whole = completed?.request ?? request;
  const t = translateContainerRequest(whole, image, id, opts, merged);
  const join = front?.joinPod ?? (networkJoin ? { pod: networkJoin.pod, pid: networkJoin.pid === true } : undefined);
  if (join && t.spec.hostCgroupParent !== undefined) throw new InvalidArgumentError(CGROUP_PARENT_NEEDS_OWN_VM);
  if (join) t.spec.joinPod = { pod: join.pod, pid: join.pid, ...(join.ipc ? { ipc: true } : {}) };
  // The daemon's --storage-opt image=disk, for a container that did not choose (before a
  // warm start's kind is read: it is part of it); a CRI sandbox (on the node's CNI network)
  // keeps its pause image on the layers.
  if (!whole.cni) defaultImageOnDisk(deps, t.spec, chosenImagePlacement(whole));
  const namedToDisk = await savedStatePlan(deps, whole, front, t, image);
  const placement = namedToDisk ? 'disk' : parseStorageOpt(whole.diskOptions).volumes;
  const volumes = front?.volumes;
  return {
    spec: t.spec,
    ...(completed ? { frontend: completed.record } : {}),
    ...(t.anonymousVolumes ? { anonymousVolumes: t.anonymousVolumes } : {}),
    ...(name ? { name } : {}),
    volumesFrom: volumes?.from ?? [],
    ...(volumes?.anonymousDriver ? { anonymousVolumeDriver: volumes.anonymousDriver } : {}),
    ...(placement ? { volumePlacement: placement } : {}),
    ...(volumes?.anonymousLabels ? { anonymousVolumeLabels: volumes.anonymousLabels } : {}),
  };
}

/**
 * Where the front allows it, make translation `t` a start from a saved state: a checkpoint
 * image's (a fork of it, unless the request asks for a cold start), else a warm start's when
 * its kind has one (or have its run save one). Resolves true when the container's named
 * volumes must go on its disk (the saved disk has them).
 */
async function savedStatePlan(
  deps: EngineDeps,
  request: ContainerRequest,
  front: CreateFront | undefined,
  t: Parameters<typeof planFromSavedState>[0],
  image: ImageRecord,
): Promise<boolean> {
  if (!front?.refusedBySavedState) return false;
  const saved = wantsColdStart(request.labels) ? undefined : await deps.checkpointImages?.savedStateFor(image.id);
  if (saved) {
    planFromSavedState(t, saved, { id: image.id, ref: request.image }, front.refusedBySavedState(t, saved.container));
    return savedNamedVolumes(t.spec);
  }
  return planWarmStart(deps, request, t, image, front);
}

/** Whether a request named its own `image` storage option (then the daemon's default does not apply). */
function chosenImagePlacement(request: ContainerRequest): boolean {
  return Object.keys(request.diskOptions ?? {}).some((k) => k.toLowerCase() === 'image');
}
