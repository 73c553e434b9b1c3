/**
 * The creation service (src/engine) as the daemon builds it, over the pod layer and no front:
 * every front's creates (Docker, CRI, native, builder) go through it. It reads the pods
 * through src/engine/container-names.ts, so a create's references (links, --volumes-from, a
 * container to join, a taken name) reach every container of a pod.
 */
import { containerNameView } from '../engine/container-names';
import { PodEngine } from '../engine/engine';
import type { EngineDeps } from '../engine/plan';
import type { PodService } from '../pod/service';

/** What the creation service is built over: the pod layer itself, and the rest of EngineDeps. */
export interface CreationEngineParts extends Omit<EngineDeps, 'pods'> {
  pods: Pick<PodService, 'get' | 'list' | 'create'>;
}

/** The daemon's creation service (see the module comment). */
export function openCreationEngine(parts: CreationEngineParts): PodEngine {
  return new PodEngine({ ...parts, pods: containerNameView(parts.pods) });
}
