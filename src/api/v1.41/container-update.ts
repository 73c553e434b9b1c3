/**
 * The routes that change a container's settings (Docker Engine API v1.41): update (its restart
 * policy and resources, with dockerd's conflict rules) and rename. Registered by ./containers.ts.
 */
import { discardBlkioWeights, hostBlkioWeightSupport } from './docker/blkio-weight';
import type { ApiServices } from './services';
import { ConflictError, InvalidArgumentError } from '../../errors';
import { sendJson, svc } from './kit/params';
import { typed } from './schema/routes';
import { parseRestartPolicy, validateResources } from './docker/create-body';
import { validateContainerName } from '../../translate/request/policy/container-name';
import { type DockerHostConfig } from './docker/docker-types';
import { cgroupLimitsFor, vmSizeFor } from './docker/resources';
import { refuseUnhonoured } from './docker/unhonoured';
import type { PodUpdate } from '../../pod/service';
import { dockerViewOf } from './docker/pod-view';

/** POST /containers/:id/rename. */
export function renameContainer(services: ApiServices) {
  return typed('POST /containers/:id/rename', async ({ params, query }, _req, res) => {
    const c = svc(services, 'containers');
    const r = c.pods.get(params.id);
    const name = query.name;
    if (!name) throw new InvalidArgumentError('Neither old nor new names may be empty');
    try {
      validateContainerName(name);
    } catch (err) {
      throw new InvalidArgumentError(
        `Error when allocating new name: ${(err as Error).message.replace(`(${name})`, `(/${name.replace(/^\//, '')})`)}`,
      );
    }
    await c.pods.rename(r.id, name);
    res.status(204).end();
  });
}

/** POST /containers/:id/update. */
export function updateContainer(services: ApiServices) {
  return typed('POST /containers/:id/update', async ({ params, body }, _req, res) => {
    const c = svc(services, 'containers');
    const r = c.pods.get(params.id);
    const fe = dockerViewOf(r);
    const hc: DockerHostConfig = { ...fe.hostConfig };
    const change: PodUpdate = {};
    if (body.RestartPolicy) {
      change.restartPolicy = parseRestartPolicy(body.RestartPolicy);
      hc.RestartPolicy = {
        Name: body.RestartPolicy.Name ?? '',
        MaximumRetryCount: body.RestartPolicy.MaximumRetryCount ?? 0,
      };
    }
    const resourceKeys = [
      'Memory',
      'MemorySwap',
      'MemoryReservation',
      'NanoCpus',
      'CpuShares',
      'CpuPeriod',
      'CpuQuota',
      'CpusetCpus',
      'CpusetMems',
      'BlkioWeight',
      'PidsLimit',
      'CpuCount',
    ] as const;
    // A weight the host cannot honour is dropped with dockerd's warning, as dockerd drops it.
    const blkio = discardBlkioWeights({ BlkioWeight: body.BlkioWeight }, c.blkioWeight ?? hostBlkioWeightSupport());
    const asked = { ...body, BlkioWeight: blkio.hostConfig.BlkioWeight };
    const changed = resourceKeys.filter(
      (k) => k !== 'PidsLimit' && asked[k] !== undefined && asked[k] !== null && asked[k] !== 0 && asked[k] !== '',
    );
    const values: Partial<DockerHostConfig> = Object.fromEntries(changed.map((k) => [k, asked[k]]));
    // As dockerd: a PIDs limit of 0 or below in an update lifts the limit (and is shown as 0).
    if (typeof body.PidsLimit === 'number') values.PidsLimit = Math.max(0, body.PidsLimit);
    if (Object.keys(values).length) {
      const conflict = updateConflict(body, hc);
      if (conflict?.startsWith('Memory')) throw new ConflictError(`Cannot update container ${r.id}: ${conflict}`);
      if (conflict) throw new ConflictError(`Cannot update container ${r.id}: Conflicting options: ${conflict}`);
      const merged = { ...hc, ...values } as DockerHostConfig;
      validateResources(merged, c.hostCpus);
      refuseUnhonoured(values);
      // Applied live in the guest's cgroup when the container runs (up to its VM's size).
      change.resources = { size: vmSizeFor(merged, c.vmDefaults, c.hostCpus), limits: cgroupLimitsFor(merged) };
      Object.assign(hc, values);
    }
    // One step under the pod's lock: checked first, persisted once.
    change.frontend = { ...fe, hostConfig: hc };
    await c.pods.update(r.id, change);
    sendJson(res, 200, { Warnings: blkio.warnings.length ? blkio.warnings : null });
  });
}

/**
 * dockerd's update rules: NanoCpus and CpuPeriod/CpuQuota exclude each other across the update
 * and what the container has already; a memory limit above the swap limit it has needs a new
 * swap limit with it. The conflict's words, or undefined.
 */
function updateConflict(
  u: {
    NanoCpus?: number | null;
    CpuPeriod?: number | null;
    CpuQuota?: number | null;
    Memory?: number | null;
    MemorySwap?: number | null;
  },
  had: DockerHostConfig,
): string | undefined {
  if ((u.NanoCpus ?? 0) > 0 && had.CpuPeriod > 0)
    return 'Nano CPUs cannot be updated as CPU Period has already been set';
  if ((u.NanoCpus ?? 0) > 0 && had.CpuQuota > 0) return 'Nano CPUs cannot be updated as CPU Quota has already been set';
  if ((u.CpuPeriod ?? 0) > 0 && had.NanoCpus > 0)
    return 'CPU Period cannot be updated as NanoCPUs has already been set';
  if ((u.CpuQuota ?? 0) > 0 && had.NanoCpus > 0) return 'CPU Quota cannot be updated as NanoCPUs has already been set';
  if ((u.Memory ?? 0) !== 0 && (u.Memory ?? 0) > had.MemorySwap && (u.MemorySwap ?? 0) === 0)
    return 'Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time';
  return undefined;
}
