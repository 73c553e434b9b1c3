/**
 * The creation service's builder entry: a step's container (RUN, COPY/ADD into a root, a
 * config-only step) -> a CreationPlan, made from the neutral request of the container
 * dockerd's builder creates (../translate/request/container-request.ts): the step's command with no
 * entrypoint, its env, user and working directory, and the build's settings for RUN
 * containers (network, extra hosts, cpuset, memory, shm size).
 */
import type { ContainerRequest, LogRequest } from '../translate/request/container-request';
import { newPodId, type CreationPlan, type EngineDeps } from './plan';
import { neutralPod } from './request';
import type { BuildStepRequest } from './service';

/**
 * The log of every step container: the builder reads RUN output from the container's log, so
 * it is json-file whatever the daemon's default driver (which may keep nothing readable).
 */
export const BUILD_STEP_LOG: LogRequest = { kind: 'json-file' };

/** Plan a build step's container (see the module comment). */
export async function planBuildStep(deps: EngineDeps, step: BuildStepRequest): Promise<CreationPlan> {
  const settings = step.settings ?? {};
  const req: ContainerRequest = {
    image: step.image,
    entrypoint: [],
    args: step.cmd,
    env: step.env,
    user: step.user ?? '',
    workingDir: step.workingDir ?? '',
    labels: {},
    ...(settings.network ? { network: settings.network } : {}),
    ...(settings.extraHosts ? { extraHosts: settings.extraHosts } : {}),
    ...(settings.resources ? { resources: settings.resources } : {}),
    log: BUILD_STEP_LOG,
  };
  const t = await neutralPod(deps, req, newPodId());
  // COPY/ADD write into the step's root on the host, so only a RUN step's layer may be a
  // guest-local disk (block mode: --rootfs-disk); its commit then reads it through a guest.
  return { spec: step.run ? t.spec : { ...t.spec, writableLayer: 'host' } };
}
