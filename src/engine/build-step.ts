/**
 * The creation service's builder entry: a step's container (RUN, COPY/ADD into a root, a
 * config-only step) -> a CreationPlan, made as the Docker create dockerd's builder sends: the
 * step's command with no entrypoint, its env, user and working directory, and the build's
 * HostConfig for RUN containers (network, extra hosts, cpuset, memory, shm size).
 */
import { parseCreateBody } from '../translate/create-body';
import { translateCreate } from '../translate/create';
import { CreateBodySchema, type CreateBody } from '../translate/docker-schema';
import { decodeBody } from '../translate/go-decode';
import type { LogConfig } from '../translate/log-config';
import { newPodId, translateOptions, type CreationPlan, type EngineDeps } from './plan';
import type { BuildStepRequest } from './service';

/**
 * The log of every step container: the builder reads RUN output from the container's log, so
 * it is json-file whatever the daemon's default driver (which may keep nothing readable).
 */
export const BUILD_STEP_LOG: LogConfig = { Type: 'json-file', Config: {} };

/** Plan a build step's container (see the module comment). */
export async function planBuildStep(deps: EngineDeps, step: BuildStepRequest): Promise<CreationPlan> {
  const body = decodeBody<CreateBody>(CreateBodySchema, {
    HostConfig: step.hostConfig ?? {},
    Image: step.image,
    Cmd: step.cmd,
    Entrypoint: [],
    Env: step.env,
    User: step.user ?? '',
    WorkingDir: step.workingDir ?? '',
    Labels: {},
  });
  const request = parseCreateBody(body, deps.hostCpus);
  request.entrypointSet = true;
  const image = await deps.images.resolve(step.image);
  const t = translateCreate(request, image, newPodId(), await translateOptions(deps, BUILD_STEP_LOG));
  // COPY/ADD write into the step's root on the host, so only a RUN step's layer may be a
  // guest-local disk (block mode: --rootfs-disk); its commit then reads it through a guest.
  return { spec: step.run ? t.spec : { ...t.spec, writableLayer: 'host' }, frontend: t.frontend };
}
