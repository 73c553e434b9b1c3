/**
 * The creation service's native entry: a pod file (a Kubernetes v1 Pod or a hyper podfile,
 * already read by src/translate/podspec.ts) or the native API's single-container spec -> a
 * CreationPlan.
 *
 * The pod is also a Docker container (its id is its first app container's), so the Docker
 * front end's data is made for that main container as a `docker create` of it would have
 * made it: `docker ps`, `inspect`, `logs`, `exec`, `stop`, `port` read it. Its labels name
 * the pod and the API. Its network is a `docker run`'s: the default bridge (or, for the
 * single-container spec, the network it names: a user network, or "none" for loopback only),
 * with the file's host ports, or the spec's `ports`, published as `-p` publishes them. Unlike
 * a `docker run`, its containers get no seccomp filter (Kubernetes' default for a pod).
 */
import { InvalidArgumentError } from '../errors';
import { parseCreateBody, validateContainerName } from '../translate/create-body';
import { translateCreate } from '../translate/create';
import type { CreateBody } from '../translate/docker-schema';
import { buildPodSpec } from '../translate/podspec-build';
import type { PodManifest } from '../translate/podspec';
import { dockerPortsOf, dockerPortsOfSpecs } from '../translate/podspec-ports';
import { checkNameFree, newPodId, translateOptions, type CreationPlan, type EngineDeps } from './plan';
import type { NativeCreateRequest, NativeSpec } from './service';

/** The label naming the pod a container belongs to. */
export const POD_LABEL = 'io.podvisor.pod';
/** The label naming the API that made the pod ("native" here). */
export const API_LABEL = 'io.podvisor.api';

/** Plan a native pod (see the module comment). */
export function planNative(deps: EngineDeps, request: NativeCreateRequest): Promise<CreationPlan> {
  return request.kind === 'podfile' ? planPodFile(deps, request.manifest) : planSpec(deps, request.spec);
}

/** A Docker create body made by this module, through the same check and translation as the Docker API's. */
async function translated(deps: EngineDeps, id: string, create: Record<string, unknown>) {
  const request = parseCreateBody(create as unknown as CreateBody, deps.hostCpus);
  const image = await deps.images.resolve(request.config.Image);
  return translateCreate(request, image, id, await translateOptions(deps));
}

async function planSpec(deps: EngineDeps, n: NativeSpec): Promise<CreationPlan> {
  const name = n.name === undefined ? undefined : validateContainerName(n.name);
  if (name) checkNameFree(deps.pods, name);
  const id = newPodId();
  const ports = dockerPortsOfSpecs(n.ports ?? []);
  // A network that is not there is refused here (404); the Docker API leaves it to the start,
  // as dockerd does (src/translate/create.ts).
  if (n.network && !['default', 'none', 'host'].includes(n.network) && !n.network.startsWith('container:'))
    (await translateOptions(deps)).networks?.isUserNetwork(n.network);
  const t = await translated(deps, id, {
    Image: n.image,
    ...(n.command ? { Cmd: n.command } : {}),
    ...(n.env ? { Env: n.env } : {}),
    ...(n.workdir ? { WorkingDir: n.workdir } : {}),
    Tty: n.tty === true,
    OpenStdin: n.tty === true,
    Labels: { ...(n.labels ?? {}), [POD_LABEL]: name ?? id.slice(0, 12), [API_LABEL]: 'native' },
    ...(ports.ExposedPorts ? { ExposedPorts: ports.ExposedPorts } : {}),
    HostConfig: {
      ...(n.network ? { NetworkMode: n.network } : {}),
      ...(ports.PortBindings ? { PortBindings: ports.PortBindings } : {}),
    },
  });
  // A native pod runs without a seccomp filter, as a pod file's containers do (Kubernetes'
  // default): the Docker default profile is the Docker API's.
  for (const c of t.spec.containers) delete c.seccomp;
  return { spec: t.spec, frontend: t.frontend, ...(name ? { name } : {}) };
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
  // The Docker view of the main container, as `docker create` would record it. The pod's
  // network and log are planned there as a `docker run`'s (src/translate/podspec-ports.ts
  // for the ports); the containers share the VM's.
  const ports = dockerPortsOf(built.ports);
  const t = await translated(deps, id, {
    Image: main.imageRef,
    Entrypoint: main.args.slice(0, 1),
    Cmd: main.args.slice(1),
    Env: main.env,
    WorkingDir: main.workingDir,
    User: main.user,
    Hostname: spec.hostname,
    Tty: main.tty,
    OpenStdin: main.openStdin,
    StopTimeout: main.stopTimeout,
    Labels: labels,
    ...(ports.ExposedPorts ? { ExposedPorts: ports.ExposedPorts } : {}),
    ...(ports.PortBindings ? { HostConfig: { PortBindings: ports.PortBindings } } : {}),
  });
  if (t.spec.log) spec.log = t.spec.log;
  if (t.spec.network) spec.network = t.spec.network;
  return { spec, frontend: t.frontend, ...(built.name ? { name: built.name } : {}) };
}
