/**
 * Pods from pod files on the native API: a Kubernetes v1 Pod or a hyper podfile, sent as a
 * JSON object (the request's `spec`) or as the file's text (a YAML request body), read by
 * src/translate/podspec.ts and built by src/translate/podspec-build.ts.
 *
 * The pod is also a Docker container (its id is its first app container's), so the Docker
 * front end's data is made for that main container as a `docker create` of it would have
 * made it: `docker ps`, `inspect`, `logs`, `exec`, `stop` read it. Its labels name the pod
 * and the API, like every native pod's.
 */
import * as crypto from 'node:crypto';
import { InvalidArgumentError } from '../../errors';
import type { PodSpec } from '../../pod/types';
import { parseCreateBody, translateCreate, validateContainerName } from '../../translate/create';
import type { CreateBody } from '../../translate/docker-schema';
import { buildPodSpec } from '../../translate/podspec-build';
import { parsePodFile, readPodObject, type PodManifest } from '../../translate/podspec';
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

/** Read a pod file given as text (YAML or JSON) or as a parsed JSON object. */
export function manifestOf(file: string | object): PodManifest {
  return typeof file === 'string' ? parsePodFile(file) : readPodObject(file);
}

/** Build a pod from a read pod file, with the Docker data of its main container (see the module comment). */
export async function podFromManifest(m: PodManifest, s: NativeServices): Promise<MadePod> {
  const refused = m.containers.flatMap((c) => c.ports.filter((p) => p.hostPort).map((p) => `container ${JSON.stringify(c.name)}: hostPort ${p.hostPort}`));
  if (refused.length) throw new InvalidArgumentError(`publishing ports from a pod file is not supported (${refused.join(', ')}); leave hostPort out`);
  if (m.name !== undefined) validateContainerName(m.name);
  const id = crypto.randomBytes(32).toString('hex');
  const built = await buildPodSpec(m, { id, resolveImage: (ref) => s.images.resolve(ref), defaults: s.vmDefaults, hostCpus: s.hostCpus });
  const spec = built.spec;
  const labels = { ...spec.labels, [POD_LABEL]: built.name ?? id.slice(0, 12), [API_LABEL]: 'native' };
  spec.labels = labels;
  const main = spec.containers.find((c) => c.id === id);
  if (!main) throw new InvalidArgumentError('the pod file has no app container');
  // The Docker view of the main container, as `docker create` would record it.
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
  };
  const request = parseCreateBody(create as unknown as CreateBody, s.hostCpus);
  const image = await s.images.resolve(main.imageRef);
  const t = translateCreate(request, image, id, { defaults: s.vmDefaults, hostCpus: s.hostCpus, logDefaults: s.logDefaults });
  if (t.spec.log) spec.log = t.spec.log;
  return { spec, ...(built.name ? { name: built.name } : {}), frontend: t.frontend };
}
