/**
 * A neutral request checked, its image found, and translated into a pod of a given id: what
 * the native and builder entries (./native.ts, ./build-step.ts) make their pods of. The
 * fronts' creates go through the door (./door.ts), which adds the name, the front's part and
 * the volume step's options.
 */
import type { ContainerRequest } from '../translate/request/container-request';
import { checkContainerRequest } from '../translate/request/request-check';
import { translateContainerRequest } from '../translate/request/request-pod';
import type { Translated } from '../translate/translation';
import { translateOptions, type EngineDeps } from './plan';

/** A neutral request checked, its image found, and translated into pod `id` (the native and builder entries'). */
export async function neutralPod(deps: EngineDeps, req: ContainerRequest, id: string): Promise<Translated> {
  checkContainerRequest(req, deps.hostCpus);
  const image = await deps.images.resolve(req.image);
  return translateContainerRequest(req, image, id, await translateOptions(deps));
}
