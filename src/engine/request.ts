/**
 * The creation service's neutral entry: a ContainerRequest (../translate/request/container-request.ts;
 * the CRI front's sandboxes and containers, made in src/api/cri/create-request.ts) -> a
 * CreationPlan, checked in the order the Docker entry checks the same request (./docker.ts):
 * the name's form, the request itself (../translate/request/request-check.ts), the image, the pod
 * whose PID namespace it joins (it must exist now), a taken name, then the translation into
 * the pod (../translate/request/request-pod.ts), with no Docker body on the way. The native and
 * builder entries translate their requests with neutralPod.
 */
import { InvalidArgumentError } from '../errors';
import { CGROUP_PARENT_NEEDS_OWN_VM } from '../translate/request/policy/cgroup-parent';
import type { ContainerRequest } from '../translate/request/container-request';
import { validateContainerName } from '../translate/request/policy/container-name';
import { checkContainerRequest } from '../translate/request/request-check';
import { translateContainerRequest } from '../translate/request/request-pod';
import type { Translated } from '../translate/translation';
import {
  checkNameFree,
  defaultImageOnDisk,
  newPodId,
  translateOptions,
  yieldLoop,
  type CreationPlan,
  type EngineDeps,
} from './plan';

/** Plan the pod of a neutral request named `name` (see the module comment). */
export async function planRequest(deps: EngineDeps, req: ContainerRequest, name?: string): Promise<CreationPlan> {
  if (name) validateContainerName(name);
  checkContainerRequest(req, deps.hostCpus);
  await yieldLoop();
  const image = await deps.images.resolve(req.image);
  const join = req.network?.mode === 'join' ? req.network : undefined;
  if (join?.pid) deps.pods.get(join.pod); // a PID namespace to join must be there now (404)
  if (name) checkNameFree(deps.pods, name);
  const t = translateContainerRequest(req, image, newPodId(), await translateOptions(deps));
  if (join && t.spec.hostCgroupParent !== undefined) throw new InvalidArgumentError(CGROUP_PARENT_NEEDS_OWN_VM);
  if (join) {
    t.spec.joinPod = { pod: join.pod, pid: join.pid === true };
    // A CRI container (it joins its sandbox's VM) reads its image from the image's disk where
    // the daemon does so by default and the sandbox's VM can take its disks (the pod layer
    // decides: src/pod/lifecycle/joined-disks.ts).
    defaultImageOnDisk(deps, t.spec);
  }
  return {
    spec: t.spec,
    ...(t.anonymousVolumes ? { anonymousVolumes: t.anonymousVolumes } : {}),
    ...(name ? { name } : {}),
    volumesFrom: [],
  };
}

/** A neutral request checked, its image found, and translated into pod `id` (the native and builder entries'). */
export async function neutralPod(deps: EngineDeps, req: ContainerRequest, id: string): Promise<Translated> {
  checkContainerRequest(req, deps.hostCpus);
  const image = await deps.images.resolve(req.image);
  return translateContainerRequest(req, image, id, await translateOptions(deps));
}
