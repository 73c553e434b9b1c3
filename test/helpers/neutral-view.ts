/**
 * The Docker view (Config and HostConfig, src/api/v1.41/docker/pod-view.ts) of the pod a
 * translation made, as `docker inspect` shows it: a Docker create's record, or the rendering of
 * a pod that keeps no Docker record (one made from a neutral request).
 */
import { dockerViewOf } from '../../src/api/v1.41/docker/pod-view';
import type { DockerFrontend } from '../../src/api/v1.41/docker/docker-types';
import type { PodRecord } from '../../src/pod/types';
import type { Translated } from '../../src/translate/translation';
import type { DockerTranslated } from '../../src/api/v1.41/docker/create';

/** The Docker view of `t`'s pod, before it is stored (see the module comment). */
export function neutralView(t: Translated | DockerTranslated): DockerFrontend {
  return dockerViewOf({
    id: t.spec.id,
    frontend: 'frontend' in t ? t.frontend : undefined,
    sandbox: { spec: t.spec },
    containers: Object.fromEntries(t.spec.containers.map((c) => [c.id, { spec: c }])),
  } as unknown as PodRecord);
}
