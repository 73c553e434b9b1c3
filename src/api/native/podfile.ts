/**
 * Pods from pod files on the native API: a Kubernetes v1 Pod or a hyper podfile, sent as a
 * JSON object (the request's `spec`) or as the file's text (a YAML request body), read by
 * src/translate/podspec.ts and built by src/translate/podspec-build.ts.
 *
 * The pod is also a Docker container (its id is its first app container's), so the Docker
 * front end's data is made for that main container as a `docker create` of it would have
 * made it: `docker ps`, `inspect`, `logs`, `exec`, `stop`, `port` read it. Its labels name
 * the pod and the API, like every native pod's. Its network is a `docker run`'s: the default
 * bridge, with the file's host ports published on it.
 */
import * as crypto from 'node:crypto';
import { InvalidArgumentError } from '../../errors';
import type { PodSpec } from '../../pod/types';
import { parseCreateBody, translateCreate, validateContainerName, type TranslateOptions } from '../../translate/create';
import type { CreateBody } from '../../translate/docker-schema';
import { buildPodSpec } from '../../translate/podspec-build';
import { parsePodFile, readPodObject, type PodManifest } from '../../translate/podspec';
import { dockerPortsOf } from '../../translate/podspec-ports';
import type { NativeServices } from './services';

/** The label naming the pod a container belongs to. */
export const POD_LABEL = 'io.podvisor.pod';
/** The label naming the API that made the pod ("native" here). */
export const API_LABEL = 'io.podvisor.api';

/** Whether a JSON spec is a pod file (Kubernetes `apiVersion`/`kind`, hyper `containers`) rather than the single-container spec. */
export function isPodFileObject(v: unknown): boolean {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return false;
  return 'apiVersion' in v || 'kind' in v || 'containers' in v;
}

/** A made pod: its spec, its name and the Docker front end's data. */
export interface MadePod {
  spec: PodSpec;
  name?: string;
  frontend: unknown;
}

/** translateCreate's options for a native pod: the daemon's defaults and the host's networks. */
export async function createOptions(s: NativeServices): Promise<TranslateOptions> {
  const networks = await s.networks;
  return {
    defaults: s.vmDefaults,
    hostCpus: s.hostCpus,
    logDefaults: s.logDefaults,
    ...(networks ? { networks } : {}),
  };
}

/** Read a pod file given as text (YAML or JSON) or as a parsed JSON object. */
export function manifestOf(file: string | object): PodManifest {
  return typeof file === 'string' ? parsePodFile(file) : readPodObject(file);
}

/** Build a pod from a read pod file, with the Docker data of its main container (see the module comment). */
export async function podFromManifest(m: PodManifest, s: NativeServices): Promise<MadePod> {
  if (m.name !== undefined) validateContainerName(m.name);
  const id = crypto.randomBytes(32).toString('hex');
  const built = await buildPodSpec(m, {
    id,
    resolveImage: (ref) => s.images.resolve(ref),
    defaults: s.vmDefaults,
    hostCpus: s.hostCpus,
  });
  const spec = built.spec;
  const labels = { ...spec.labels, [POD_LABEL]: built.name ?? id.slice(0, 12), [API_LABEL]: 'native' };
  spec.labels = labels;
  const main = spec.containers.find((c) => c.id === id);
  if (!main) throw new InvalidArgumentError('the pod file has no app container');
  // The Docker view of the main container, as `docker create` would record it. The pod's
  // network is planned there as a `docker run`'s: the default bridge, the file's host ports
  // published as `-p` would publish them (./podspec-ports.ts); the containers share the VM's.
  const ports = dockerPortsOf(built.ports);
  const create = {
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
  };
  const request = parseCreateBody(create as unknown as CreateBody, s.hostCpus);
  const image = await s.images.resolve(main.imageRef);
  const t = translateCreate(request, image, id, await createOptions(s));
  if (t.spec.log) spec.log = t.spec.log;
  if (t.spec.network) spec.network = t.spec.network;
  return { spec, ...(built.name ? { name: built.name } : {}), frontend: t.frontend };
}
