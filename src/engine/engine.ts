/**
 * PodEngine, the creation service (./service.ts) over the pod layer: each entry point makes a
 * plan (./door.ts for every front's neutral request, ./native.ts, ./build-step.ts), and one
 * sequence carries it out:
 *
 *   volumes   a Docker create's volumes made (./volumes.ts), removed again if a later step fails;
 *   binds     bind sources pinned: resolved through the user's symlinks, the path recorded (a
 *             missing `--mount` source: 400, as dockerd; nothing made);
 *   create    the pod layer records the pod (Created), under its own checks (a name taken meanwhile);
 *   fill      new volumes filled from the image.
 */
import { pinBindSources } from '../pod/service';
import type { PodRecord } from '../pod/types';
import { planBuildStep } from './build-step';
import { planCreate } from './door';
import type { CreateOptions } from './front';
import { planNative } from './native';
import { yieldLoop, type CreationPlan, type EngineDeps } from './plan';
import type { BuildStepRequest, ContainerRequest, CreationService, NativeCreateRequest } from './service';
import { createWithVolumes } from './volumes';

export type { EngineDeps };

/** The creation service on the pod layer (see the module comment). */
export class PodEngine implements CreationService {
  constructor(private readonly deps: EngineDeps) {}

  async create(request: ContainerRequest, options?: CreateOptions): Promise<PodRecord> {
    return this.carryOut(await planCreate(this.deps, request, options));
  }

  async createNative(request: NativeCreateRequest): Promise<PodRecord> {
    return this.carryOut(await planNative(this.deps, request));
  }

  async createBuildStep(step: BuildStepRequest): Promise<PodRecord> {
    return this.carryOut(await planBuildStep(this.deps, step));
  }

  /** The one sequence every plan goes through (see the module comment). */
  private carryOut(plan: CreationPlan): Promise<PodRecord> {
    return createWithVolumes(this.deps, plan, async () => {
      await pinBindSources(plan.spec);
      await yieldLoop();
      return this.deps.pods.create(plan.spec, plan.name, plan.frontend);
    });
  }
}
