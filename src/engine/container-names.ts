/**
 * The names a create refers to (a link, --volumes-from, a container to join, a name that must
 * be free) reach every container of a pod, not only the pod itself: a pod of several
 * containers (a native pod made from a pod file) has each of them known by its own id (64
 * hex), by its name `POD.CONTAINER` (the pod layer's containerName) and by a prefix of its id.
 *
 * resolveContainerRef is that lookup; containerNameView is the pod layer seen through it, as
 * the creation service reads it (the daemon hands it in: src/daemon/creation-engine.ts). The
 * Docker front resolves its references with the same lookup (src/api/v1.41/pod-containers.ts).
 */
import { InvalidArgumentError, NotFoundError } from '../errors';
import type { PodService } from '../pod/service';
import { containerName, containersOf, mainContainer, type ContainerRecord, type PodRecord } from '../pod/types';

/** A reference resolved: the pod, and the container of it named (undefined: the pod's main container). */
export interface ResolvedContainer {
  pod: PodRecord;
  other?: ContainerRecord;
}

/** The pods as the lookup reads them. */
export type ContainerLookupPods = Pick<PodService, 'get' | 'list'>;

/** Whether a pod has containers of its own beside its main one. */
export function hasSeveralContainers(pod: PodRecord): boolean {
  return containersOf(pod).length > 1;
}

/**
 * What `ref` names: a pod by the pod layer's own lookup (its id, name or id prefix), else a
 * container of a pod of several by its id, its name or a prefix of its id. NotFoundError (the
 * pod layer's) when nothing is; InvalidArgumentError for a prefix of several containers.
 */
export function resolveContainerRef(pods: ContainerLookupPods, ref: string): ResolvedContainer {
  let notFound: unknown;
  try {
    return { pod: pods.get(ref) };
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
    notFound = err;
  }
  const clean = ref.replace(/^\//, '');
  const hits: ResolvedContainer[] = [];
  for (const pod of pods.list()) {
    if (!hasSeveralContainers(pod)) continue;
    const main = mainContainer(pod);
    for (const c of containersOf(pod)) {
      if (c === main) continue;
      if (c.spec.id === clean || containerName(pod, c) === clean) return { pod, other: c };
      if (clean.length > 0 && /^[0-9a-f]+$/.test(clean) && c.spec.id.startsWith(clean)) hits.push({ pod, other: c });
    }
  }
  if (hits.length === 1) return hits[0];
  if (hits.length > 1) throw new InvalidArgumentError(`multiple IDs found with provided prefix: ${ref}`);
  throw notFound;
}

/**
 * The record of container `c` of `pod` as a pod of its own: the container's id and name, and
 * that container only (so its mounts are the ones --volumes-from takes).
 */
export function containerAsPod(pod: PodRecord, c: ContainerRecord): PodRecord {
  if (c === mainContainer(pod)) return pod;
  return { ...pod, id: c.spec.id, name: containerName(pod, c), containers: { [c.spec.id]: c } };
}

/** The pods as the creation service reads them (./plan.ts EngineDeps.pods). */
export type EnginePods = Pick<PodService, 'get' | 'list' | 'create'>;

/** `pods` with `get` reaching every container of a pod of several (see the module comment). */
export function containerNameView(pods: Pick<PodService, 'get' | 'list' | 'create'>): EnginePods {
  return {
    get: (ref) => {
      const r = resolveContainerRef(pods, ref);
      return r.other ? containerAsPod(r.pod, r.other) : r.pod;
    },
    list: () => pods.list(),
    create: (spec, name, frontend) => pods.create(spec, name, frontend),
  };
}
