/**
 * The creation service's native entry: a pod file (a Kubernetes v1 Pod or a hyper podfile,
 * already read by src/translate/podspec/podspec.ts) or the native API's single-container spec -> a
 * CreationPlan.
 *
 * The pod is also a Docker container (its id is its first app container's), so the Docker
 * front end's data is made for that main container, from a neutral request of it
 * (src/translate/request/container-request.ts), as a `docker create` of it would have recorded it:
 * `docker ps`, `inspect`, `logs`, `exec`, `stop`, `port` read it. Its labels name
 * the pod and the API. Its network is a `docker run`'s: the default bridge (or, for the
 * single-container spec, the network it names: a user network, or "none" for loopback only),
 * with the file's host ports, or the spec's `ports`, published as `-p` publishes them. Unlike
 * a `docker run`, its containers get no seccomp filter (Kubernetes' default for a pod).
 */
import { InvalidArgumentError } from '../errors';
import { validateContainerName } from '../translate/request/policy/container-name';
import { networkRequestOf } from '../translate/request/container-request';
import { buildPodSpec } from '../translate/podspec/podspec-build';
import type { PodManifest } from '../translate/podspec/podspec';
import { portRequestsOf, portRequestsOfSpecs } from '../translate/podspec/podspec-ports';
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
  return request.kind === 'podfile' ? planPodFile(deps, request.manifest) : planSpec(deps, request.spec);
}

async function planSpec(deps: EngineDeps, n: NativeSpec): Promise<CreationPlan> {
  const name = n.name === undefined ? undefined : validateContainerName(n.name);
  if (name) checkNameFree(deps.pods, name);
  const id = newPodId();
  const ports = portRequestsOfSpecs(n.ports ?? []);
  // A network that is not there is refused here (404); the Docker API leaves it to the start,
  // as dockerd does (src/translate/docker/create.ts).
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

async function planPodFile(deps: EngineDeps, m: PodManifest): Promise<CreationPlan> {
  if (m.name !== undefined) checkNameFree(deps.pods, validateContainerName(m.name));
  const id = newPodId();
  const built = await buildPodSpec(m, {
    id,
    resolveImage: (ref) => deps.images.resolve(ref),
    defaults: deps.vmDefaults,
    hostCpus: deps.hostCpus,
  });
  const spec = built.spec;
  const labels = { ...spec.labels, [POD_LABEL]: built.name ?? id.slice(0, 12), [API_LABEL]: 'native' };
  spec.labels = labels;
  const main = spec.containers.find((c) => c.id === id);
  if (!main) throw new InvalidArgumentError('the pod file has no app container');
  // The Docker view of the main container, as `docker create` would record it, from a neutral
  // request of it. The pod's network and log are planned there as a `docker run`'s
  // (src/translate/podspec/podspec-ports.ts for the ports); the containers share the VM's.
  const t = await neutralPod(
    deps,
    {
      image: main.imageRef,
      entrypoint: main.args.slice(0, 1),
      args: main.args.slice(1),
      env: main.env,
      workingDir: main.workingDir,
      user: main.user,
      hostname: spec.hostname,
      tty: main.tty,
      openStdin: main.openStdin,
      stopTimeout: main.stopTimeout,
      labels,
      ports: portRequestsOf(built.ports),
    },
    id,
  );
  if (t.spec.log) spec.log = t.spec.log;
  if (t.spec.network) spec.network = t.spec.network;
  // As a `docker run`'s: each container's image read from the image's disk, its layer on a
  // disk of its own.
  defaultImageOnDiskForAll(deps, spec);
  return { spec, ...(built.name ? { name: built.name } : {}) };
}
