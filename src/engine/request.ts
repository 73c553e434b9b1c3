/**
 * The creation service's neutral entry: a ContainerRequest (../translate/container-request.ts;
 * the CRI front's sandboxes and containers, made in src/api/cri/create-request.ts) -> a
 * CreationPlan. The request is checked as the Docker create body that states it would be
 * (createRequestOf), then goes through the Docker entry's checks in dockerd's order
 * (./docker.ts: the container to join, the image, a taken name) and the neutral translation
 * (translateContainerRequest: the CNI plan, the CRI log file and the rest of what has no
 * Docker twin applied to the pod).
 */
import { validateContainerName } from '../translate/create-body';
import { createRequestOf, translateContainerRequest, type ContainerRequest } from '../translate/container-request';
import { planParsed } from './docker';
import type { CreationPlan, EngineDeps } from './plan';

/** Plan the pod of a neutral request named `name` (see the module comment). */
export async function planRequest(deps: EngineDeps, req: ContainerRequest, name?: string): Promise<CreationPlan> {
  if (name) validateContainerName(name);
  const request = createRequestOf(req, deps.hostCpus);
  return planParsed(deps, request, name, (image, id, opts) => translateContainerRequest(req, request, image, id, opts));
}
