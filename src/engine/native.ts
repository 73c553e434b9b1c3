/**
 * The creation service's native entry: a pod file, as the neutral pod request the native
 * front made of it (src/api/native/podspec/podspec-request.ts), or the native API's
 * single-container spec -> a CreationPlan, each translated once: the pod request by
 * ../translate/request/request-pods.ts (each container through request-pod.ts, the VM sized by
 * its policy/vm-size.ts), the spec as a neutral ContainerRequest by request-pod.ts.
 *
 * The pod is also a Docker container (its id is its first app container's): `docker ps`,
 * `inspect`, `logs`, `exec`, `stop`, `port` read its view, rendered from the PodSpec. Its
 * labels name the pod and the API. Its network is a `docker run`'s: the default bridge (or,
 * for the single-container spec, the network it names: a user network, or "none" for loopback
 * only), with the file's host ports, or the spec's `ports`, published as `-p` publishes them.
 * Unlike a `docker run`, its containers get no seccomp filter (Kubernetes' default for a pod).
 */
import type { ImageRecord } from '../storage/types';
import { portRequestsOfSpecs } from '../translate/network/port-specs';
import { validateContainerName } from '../translate/request/policy/container-name';
import { networkRequestOf } from '../translate/request/container-request';
import type { PodRequest } from '../translate/request/pod-request';
import { checkPodRequest, translatePodRequest } from '../translate/request/request-pods';
import {
  checkNameFree,
  defaultImageOnDisk,
  defaultImageOnDiskForAll,
  newPodId,
  translateOptions,
  type CreationPlan,
  type EngineDeps,
} from './plan';
import { neutralPod } from './request';
import type { NativeCreateRequest, NativeSpec } from './service';

/** The label naming the pod a container belongs to. */
export const POD_LABEL = 'io.podvisor.pod';
/** The label naming the API that made the pod ("native" here). */
export const API_LABEL = 'io.podvisor.api';

/** Plan a native pod (see the module comment). */
export function planNative(deps: EngineDeps, request: NativeCreateRequest): Promise<CreationPlan> {
  return request.kind === 'podfile' ? planPodFile(deps, request.pod) : planSpec(deps, request.spec);
}

async function planSpec(deps: EngineDeps, n: NativeSpec): Promise<CreationPlan> {
  const name = n.name === undefined ? undefined : validateContainerName(n.name);
  if (name) checkNameFree(deps.pods, name);
  const id = newPodId();
  const ports = portRequestsOfSpecs(n.ports ?? []);
  // A network that is not there is refused here (404); the Docker API leaves it to the start,
  // as dockerd does (src/api/v1.41/docker/create.ts).
  if (n.network && !['default', 'none', 'host'].includes(n.network) && !n.network.startsWith('container:'))
    (await translateOptions(deps)).networks?.isUserNetwork(n.network);
  // A native pod runs without a seccomp filter, as a pod file's containers do (Kubernetes'
  // default): the Docker default profile is the Docker API's.
  const t = await neutralPod(
    deps,
    {
      image: n.image,
      ...(n.command ? { args: n.command } : {}),
      ...(n.env ? { env: n.env } : {}),
      ...(n.workdir ? { workingDir: n.workdir } : {}),
      tty: n.tty === true,
      openStdin: n.tty === true,
      labels: { ...(n.labels ?? {}), [POD_LABEL]: name ?? id.slice(0, 12), [API_LABEL]: 'native' },
      ports,
      ...(n.network ? { network: networkRequestOf(n.network) } : {}),
      ...(n.cgroupParent ? { cgroupParent: n.cgroupParent } : {}),
      security: { noSeccompFilter: true },
    },
    id,
  );
  // As a `docker run`'s: its image read from the image's disk, so that it can be saved.
  defaultImageOnDisk(deps, t.spec);
  return { spec: t.spec, ...(name ? { name } : {}) };
}

async function planPodFile(deps: EngineDeps, pod: PodRequest): Promise<CreationPlan> {
  const name = pod.name === undefined ? undefined : validateContainerName(pod.name);
  if (name) checkNameFree(deps.pods, name);
  checkPodRequest(pod, deps.hostCpus);
  // Each image once, init containers' first, in the file's order (the first missing one is named).
  const images = new Map<string, ImageRecord>();
  for (const c of [...pod.initContainers, ...pod.containers])
    if (!images.has(c.image)) images.set(c.image, await deps.images.resolve(c.image));
  const id = newPodId();
  const labels = { ...pod.labels, [POD_LABEL]: pod.name ?? id.slice(0, 12), [API_LABEL]: 'native' };
  const spec = translatePodRequest({ ...pod, labels }, images, id, await translateOptions(deps), newPodId);
  // As a `docker run`'s: each container's image read from the image's disk, its layer on a
  // disk of its own.
  defaultImageOnDiskForAll(deps, spec);
  return { spec, ...(name ? { name } : {}) };
}
