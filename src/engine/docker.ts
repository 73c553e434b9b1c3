/**
 * The creation service's Docker entry: a `POST /containers/create` body -> a CreationPlan,
 * checked in dockerd's order so the same request fails with the same error: the name's form,
 * the body, the container to join (--network/--pid/--ipc container:), the image, a --pid or
 * --ipc container that must exist now, the links, a taken name, then the translation.
 */
import { InvalidArgumentError } from '../errors';
import { parseLinks } from '../translate/links';
import { parseCreateBody, validateContainerName } from '../translate/create-body';
import { translateCreate } from '../translate/create';
import type { CreateBody } from '../translate/docker-schema';
import { joinRequestOf } from '../translate/join';
import { checkNameFree, newPodId, translateOptions, yieldLoop, type CreationPlan, type EngineDeps } from './plan';

/**
 * Plan the pod of a Docker create (see the module comment); `name` is the query's, if any;
 * `dockerdSysctls` false leaves out the sysctls dockerd adds (a CRI sandbox).
 */
export async function planDockerCreate(
  deps: EngineDeps,
  body: CreateBody,
  name?: string,
  dockerdSysctls = true,
): Promise<CreationPlan> {
  if (name) validateContainerName(name);
  const request = parseCreateBody(body, deps.hostCpus);
  await yieldLoop();
  const join = joinRequestOf(request.config, request.hostConfig);
  const image = await deps.images.resolve(request.config.Image);
  if (join?.checkAtCreate) deps.pods.get(join.target); // dockerd: "No such container: X" (404)
  for (const l of parseLinks(request.hostConfig.Links)) {
    try {
      deps.pods.get(l.name);
    } catch {
      throw new InvalidArgumentError(`could not get container for ${l.name}: No such container: ${l.name}`);
    }
  }
  if (name) checkNameFree(deps.pods, name);
  const t = translateCreate(request, image, newPodId(), { ...(await translateOptions(deps)), dockerdSysctls });
  if (join) t.spec.joinPod = { pod: join.target, pid: join.pid };
  return {
    spec: t.spec,
    frontend: t.frontend,
    ...(name ? { name } : {}),
    volumesFrom: t.frontend.hostConfig.VolumesFrom ?? [],
  };
}
