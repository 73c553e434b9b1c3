/**
 * `POST /containers/create`, after its body was checked (./create-body.ts) and its image
 * found: the body as the neutral request with its Docker record (./docker-request.ts), then
 * the one translation of every front into the pod (../request/request-pod.ts). Pure: no I/O.
 * The creation door (src/engine/door.ts) makes these same steps, with its lookups between
 * them; this is them alone, for what needs a Docker create's pod without a daemon (the pod
 * layer's fakes, the tables of what each body gives).
 *
 *   const req = parseCreateBody(body, hostCpus);      // 400s with dockerd's messages
 *   const image = await images.resolve(req.config.Image);
 *   const { spec, frontend } = translateCreate(req, image, id, { defaults, hostCpus });
 */
import type { ImageRecord } from '../../../storage/types';
import { translateContainerRequest } from '../../../translate/request/request-pod';
import type { TranslateOptions, Translated } from '../../../translate/translation';
import type { DockerFrontend } from './docker-types';
import type { CreateRequest } from './create-body';
import { completeDockerRequest, containerOf } from './docker-request';
import { mergeWithImage } from '../../../translate/request/image-merge';

export { DEFAULT_STOP_TIMEOUT, type TranslateOptions, type Translated } from '../../../translate/translation';

/** A Docker create's translation: the pod, with its Docker record (Config and HostConfig as created). */
export interface DockerTranslated extends Translated {
  frontend: DockerFrontend;
}

/** The pod of a checked create and its image, with the Docker record inspect shows. */
export function translateCreate(
  req: CreateRequest,
  image: ImageRecord,
  id: string,
  opts: TranslateOptions,
): DockerTranslated {
  const container = containerOf(req);
  const merged = mergeWithImage(container, image, id);
  const { request, record } = completeDockerRequest(req, container, merged, image, opts);
  return { ...translateContainerRequest(request, image, id, opts, merged), frontend: record };
}
