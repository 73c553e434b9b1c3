/**
 * A neutral pod request (./pod-request.ts) + its containers' images -> the pod layer's
 * PodSpec, in one translation: each container through the one translation of a container
 * (./request-pod.ts), the pod's own settings over them.
 *
 *   network, log   the main container's (the first app container): the default bridge with
 *                  the pod's ports, the daemon's default log; the others share its VM's
 *   VM size        the pod's containers together (./policy/vm-size.ts podVmSizeOf)
 *   hostname       the pod's, else the first 12 characters of its id
 *   labels         the pod's (not its images')
 *   containers     init containers first, then the app containers; the main container's id is
 *                  the pod's; each with its name, probes and, for an init container, `init`
 *
 * A container of a pod runs as a Kubernetes pod's does: no seccomp filter, none of the
 * runtime's default sysctls, no health check of its image's and no anonymous volume for its
 * image's volumes (the request says so). checkPodRequest checks a pod request before its images
 * are looked up.
 */
import { InvalidArgumentError } from '../../errors';
import type { PodContainerSpec, PodSpec } from '../../pod/types';
import type { ImageRecord } from '../../storage/types';
import type { ContainerRequest } from './container-request';
import type { PodContainerRequest, PodRequest } from './pod-request';
import { podVmSizeOf } from './policy/vm-size';
import { checkContainerRequest } from './request-check';
import { translateContainerRequest } from './request-pod';
import type { TranslateOptions } from '../translation';

/**
 * Check each container of `req` as any neutral request is checked (./request-check.ts), but for
 * its limits: a pod's limits and requests are Kubernetes' quantities, which its reader checked
 * (a container may ask less memory than dockerd's 6MB, or more CPUs than the host has: the VM
 * is then the host's size). Throws InvalidArgumentError.
 */
export function checkPodRequest(req: PodRequest, hostCpus: number): void {
  if (req.containers.length === 0) throw new InvalidArgumentError('the pod has no app container');
  for (const c of [...req.initContainers, ...req.containers])
    checkContainerRequest({ ...c, resources: undefined }, hostCpus);
}

/**
 * The pod of a checked pod request (see the module comment): `images` holds each container's
 * image by the reference it names, `id` is the pod's (and its main container's), `newId` makes
 * the other containers' ids.
 */
export function translatePodRequest(
  req: PodRequest,
  images: ReadonlyMap<string, ImageRecord>,
  id: string,
  opts: TranslateOptions,
  newId: () => string,
): PodSpec {
  const hostname = req.hostname || id.slice(0, 12);
  let main: PodSpec | undefined;
  const containerOf = (c: PodContainerRequest, cid: string, init: boolean): PodContainerSpec => {
    const isMain = cid === id;
    const asked: ContainerRequest = {
      ...c,
      hostname,
      // The pod's network is planned once, with the main container; the others share its VM's.
      network: isMain ? { mode: 'default' } : { mode: 'none' },
      ports: isMain ? req.ports : [],
      restartPolicy: undefined,
      log: undefined,
      // A Kubernetes pod's container: no seccomp filter, no default sysctls, no image health check.
      security: { ...c.security, noSeccompFilter: true, defaultSysctls: false },
      health: { probe: { kind: 'none' } },
    };
    const image = images.get(c.image);
    if (!image) throw new InvalidArgumentError(`container ${c.name}: no image ${c.image}`);
    let spec: PodSpec;
    try {
      spec = translateContainerRequest(asked, image, cid, opts).spec;
    } catch (e) {
      if (e instanceof InvalidArgumentError && e.message === 'No command specified')
        throw new InvalidArgumentError(
          `container ${c.name}: no command (neither the file nor image ${c.image} gives one)`,
        );
      throw e;
    }
    if (isMain) main = spec;
    return {
      ...spec.containers[0],
      name: c.name,
      ...(init ? { init: true } : {}),
      ...(c.probes ? { probes: c.probes } : {}),
    };
  };
  const containers = [
    ...req.initContainers.map((c) => containerOf(c, newId(), true)),
    ...req.containers.map((c, i) => containerOf(c, i === 0 ? id : newId(), false)),
  ];
  const amounts = (c: PodContainerRequest) => ({ limits: c.resources, requests: c.requests });
  const spec: PodSpec = {
    id,
    hostname,
    domainname: '',
    labels: { ...req.labels },
    vm: podVmSizeOf(req.containers.map(amounts), req.initContainers.map(amounts), req.vm, opts.defaults, opts.hostCpus),
    restartPolicy: { ...req.restartPolicy },
    ...(req.restartInPlace ? { restartInPlace: true } : {}),
    autoRemove: false,
    ...(main?.log ? { log: main.log } : {}),
    ...(main?.network ? { network: main.network } : {}),
    containers,
  };
  return spec;
}
