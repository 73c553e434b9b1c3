/**
 * Container routes of the Docker Engine API v1.41. Thin handlers: parse the query and body
 * (dockerd's messages for bad input), apply Docker-only meanings, call the creation service
 * (create: src/engine) or the pod service (the rest), and write Docker's JSON. The wait stream is here; logs, top, stats and attach are in
 * container-streams.ts.
 */
import { parseLinks } from '../../translate/links';
import type { Router } from 'express';
import type { ApiServices, ContainerServices } from './services';
import { ConflictError, InvalidArgumentError, NotFoundError } from '../../errors';
import { sendJson, svc } from './kit/params';
import { labelsMatch, pruneLabelsMatch } from './kit/filters';
import { containerFilter, type SummaryForFilters } from './container-filters';
import { openStream } from './kit/streams';
import { pruneUntilSeconds } from './kit/time';
import { typed } from './schema/routes';
import { refuseCheckpointDir } from './checkpoints';
import {
  createWarnings,
  parseRestartPolicy,
  validateContainerName,
  validateResources,
} from '../../translate/create-body';
import { containerJson, containerSummary, hostConfigLinks, type NetworkView } from '../../translate/inspect';
import { HEALTH_FILTER_WORDS, healthWord } from '../../translate/health';
import { stateErrorText } from '../../translate/pod-errors';
import { dockerFrontend, type DockerHostConfig } from '../../translate/docker-types';
import { parseSignal } from '../../translate/signals';
import { cgroupLimitsFor, vmSizeFor } from '../../translate/resources';
import { refuseUnhonoured } from '../../translate/unhonoured';
import type { PodUpdate, WaitCondition } from '../../pod/service';
import { mainContainer, type PodRecord } from '../../pod/types';
import { anonymousVolumesOf, removeVolumesAfter } from './volumes';
import { logger } from '../../util/log';
import { parseRfc3339 } from '../../util/time';

const log = logger('api');

const STATUSES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'];

/** A container's endpoints and published ports from the network manager (none: no network). */
async function networkView(services: ApiServices, id: string): Promise<NetworkView | undefined> {
  const nets = await services.networks?.manager;
  const eps = nets?.endpointsOf(id) ?? [];
  if (!nets || eps.length === 0) return undefined;
  const endpoints = eps.map((e) => {
    const n = nets.get(e.networkId);
    return { ...e, networkName: n.name, isDefault: n.isDefault };
  });
  return { endpoints, ports: eps.flatMap((e) => e.ports) };
}

/** Register the container routes: one named handler per route, below. */
export function register(router: Router, services: ApiServices): void {
  router.post('/containers/create', createContainer(services));
  router.get('/containers/json', listContainers(services));
  router.get('/containers/:id/json', inspectContainer(services));
  router.post('/containers/:id/start', startContainer(services));
  router.post('/containers/:id/stop', stopContainer(services));
  router.post('/containers/:id/restart', restartContainer(services));
  router.post('/containers/:id/kill', killContainer(services));
  router.post('/containers/:id/pause', pauseContainer(services));
  router.post('/containers/:id/unpause', unpauseContainer(services));
  router.post('/containers/:id/rename', renameContainer(services));
  router.post('/containers/:id/resize', resizeContainer(services));
  router.post('/containers/:id/update', updateContainer(services));
  router.delete('/containers/:id', deleteContainer(services));
  router.delete('/containers/:id/:alias', deleteLink(services));
  router.post('/containers/prune', pruneContainers(services));
  router.post('/containers/:id/wait', waitContainer(services));
}

/** Remove container `ref`, and with `v` its anonymous volumes after it. */
async function removeContainer(
  services: ApiServices,
  ref: string,
  query: { force: boolean; v: boolean },
): Promise<void> {
  const c = svc(services, 'containers');
  const anonymous = query.v ? anonymousVolumesOf(services, ref) : [];
  await c.pods.remove(ref, { force: query.force });
  await removeVolumesAfter(services, anonymous);
}

/** POST /containers/create. */
function createContainer(services: ApiServices) {
  return typed('POST /containers/create', async ({ query, body }, _req, res) => {
    const r = await svc(services, 'containers').engine.createFromDocker(body, query.name || undefined);
    // dockerd's warnings for what the guest's cgroup v2 lacks (memory swappiness).
    sendJson(res, 201, { Id: r.id, Warnings: createWarnings(body) });
  });
}

/** GET /containers/json. */
function listContainers(services: ApiServices) {
  return typed('GET /containers/json', async ({ query }, _req, res) => {
    const c = svc(services, 'containers');
    const filters = query.filters;
    for (const s of filters.status ?? [])
      if (!STATUSES.includes(s)) throw new InvalidArgumentError(`Invalid filter 'status=${s}'`);
    for (const e of filters.exited ?? [])
      if (!/^-?\d+$/.test(e))
        throw new InvalidArgumentError(`strconv.Atoi: parsing ${JSON.stringify(e)}: invalid syntax`);
    for (const h of filters.health ?? [])
      if (!HEALTH_FILTER_WORDS.includes(h))
        throw new InvalidArgumentError(`Unrecognised filter value for health: ${h}`);
    const limit = query.limit ?? -1;
    let all = query.all || limit > 0;
    if (filters.status?.length || filters.exited?.length) all = true;
    const size = query.size;
    let records = c.pods.list();
    const matcher = containerFilter(
      filters,
      records.map((r) => r.id),
    );
    const ref = async (v: string) => {
      try {
        return c.pods.get(v);
      } catch {
        throw new InvalidArgumentError(`no such container ${v}`);
      }
    };
    if (filters.before?.length) {
      const b = await ref(filters.before[0]);
      records = records.filter((r) => r.created < b.created);
    }
    if (filters.since?.length) {
      const s = await ref(filters.since[0]);
      records = records.filter((r) => r.created > s.created);
    }
    let ancestorIds: string[] | undefined;
    if (filters.ancestor?.length) {
      ancestorIds = [];
      for (const a of filters.ancestor) {
        try {
          ancestorIds.push((await c.images.resolve(a)).id);
        } catch {
          // An unknown image matches nothing (dockerd answers an empty list).
        }
      }
    }
    const out: Record<string, unknown>[] = [];
    for (const r of records) {
      const main = mainContainer(r);
      const st = main.state.status;
      const running = st === 'running' || st === 'paused' || st === 'restarting';
      if (!all && !running) continue;
      if (filters.status?.length && !filters.status.includes(st)) continue;
      if (filters.exited?.length && !(st === 'exited' && filters.exited.map(Number).includes(main.state.exitCode)))
        continue;
      if (!labelsMatch(r.sandbox.spec.labels, filters.label ?? [])) continue;
      if (ancestorIds && !ancestorIds.includes(main.spec.image)) continue;
      if (filters.health?.length && !filters.health.includes(healthWord(main))) continue;
      // dockerd's volume filter: a mount's volume name, host source or destination.
      if (
        filters.volume?.length &&
        !filters.volume.some((v) =>
          (main.spec.mounts ?? []).some(
            (m) =>
              m.target === v ||
              ((m.type === 'bind' || m.type === 'volume') && m.source === v) ||
              (m.type === 'volume' && m.name === v),
          ),
        )
      )
        continue;
      const network = await networkView(services, r.id);
      const summary = containerSummary(r, { ...(network ? { network } : {}) });
      if (
        !matcher.matches({
          Id: r.id,
          name: r.name,
          Ports: summary.Ports as SummaryForFilters['Ports'],
          Networks: (summary.NetworkSettings as { Networks: SummaryForFilters['Networks'] }).Networks,
        })
      )
        continue;
      out.push(size ? containerSummary(r, { size: await sizes(c, r), ...(network ? { network } : {}) }) : summary);
      if (limit > 0 && out.length >= limit) break;
    }
    sendJson(res, 200, out);
  });
}

/** GET /containers/:id/json. */
function inspectContainer(services: ApiServices) {
  return typed('GET /containers/:id/json', async ({ params, query }, _req, res) => {
    const c = svc(services, 'containers');
    const r = c.pods.get(params.id);
    const graph = c.rootfsPaths ? await c.rootfsPaths(r.id).catch(() => undefined) : undefined;
    const network = await networkView(services, r.id);
    sendJson(
      res,
      200,
      containerJson(r, {
        ...(network ? { network } : {}),
        dataRoot: services.system.dataRoot,
        execIds: c.pods.execIds(r.id),
        ...(graph ? { graph } : {}),
        ...(query.size ? { size: await sizes(c, r) } : {}),
      }),
    );
  });
}

/** POST /containers/:id/start (`checkpoint`: from that checkpoint: ./checkpoints.ts). */
function startContainer(services: ApiServices) {
  return typed('POST /containers/:id/start', async ({ params, query }, _req, res) => {
    const c = svc(services, 'containers');
    if (query.checkpoint) refuseCheckpointDir(query['checkpoint-dir']);
    await c.pods.start(params.id, query.checkpoint ? { checkpoint: query.checkpoint } : undefined);
    res.status(204).end();
  });
}

/** POST /containers/:id/stop. */
function stopContainer(services: ApiServices) {
  return typed('POST /containers/:id/stop', async ({ params, query }, _req, res) => {
    const c = svc(services, 'containers');
    await c.pods.stop(params.id, query.t);
    res.status(204).end();
  });
}

/** POST /containers/:id/restart. */
function restartContainer(services: ApiServices) {
  return typed('POST /containers/:id/restart', async ({ params, query }, _req, res) => {
    const c = svc(services, 'containers');
    await c.pods.restart(params.id, query.t);
    res.status(204).end();
  });
}

/** POST /containers/:id/kill. */
function killContainer(services: ApiServices) {
  return typed('POST /containers/:id/kill', async ({ params, query }, _req, res) => {
    const c = svc(services, 'containers');
    const r = c.pods.get(params.id);
    const sig = query.signal ? parseSignal(query.signal) : 9;
    await c.pods.kill(r.id, sig);
    res.status(204).end();
  });
}

/** POST /containers/:id/pause. */
function pauseContainer(services: ApiServices) {
  return typed('POST /containers/:id/pause', async ({ params }, _req, res) => {
    await svc(services, 'containers').pods.pause(params.id);
    res.status(204).end();
  });
}

/** POST /containers/:id/unpause. */
function unpauseContainer(services: ApiServices) {
  return typed('POST /containers/:id/unpause', async ({ params }, _req, res) => {
    await svc(services, 'containers').pods.unpause(params.id);
    res.status(204).end();
  });
}

/** POST /containers/:id/rename. */
function renameContainer(services: ApiServices) {
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

/** POST /containers/:id/resize. */
function resizeContainer(services: ApiServices) {
  return typed('POST /containers/:id/resize', async ({ params, query }, _req, res) => {
    const c = svc(services, 'containers');
    const h = query.h ?? 0;
    const w = query.w ?? 0;
    const r = c.pods.get(params.id);
    if (!c.pods.isRunning(r.id)) throw new ConflictError(`Container ${r.id} is not running`);
    if (h > 0 && w > 0) await c.pods.resize(r.id, h, w);
    res.status(200).end();
  });
}

/** POST /containers/:id/update. */
function updateContainer(services: ApiServices) {
  return typed('POST /containers/:id/update', async ({ params, body }, _req, res) => {
    const c = svc(services, 'containers');
    const r = c.pods.get(params.id);
    const fe = dockerFrontend(r.frontend);
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
    const changed = resourceKeys.filter(
      (k) => body[k] !== undefined && body[k] !== null && body[k] !== 0 && body[k] !== '',
    );
    if (changed.length) {
      const conflict = updateConflict(body, hc);
      if (conflict?.startsWith('Memory')) throw new ConflictError(`Cannot update container ${r.id}: ${conflict}`);
      if (conflict) throw new ConflictError(`Cannot update container ${r.id}: Conflicting options: ${conflict}`);
      const merged = { ...hc, ...Object.fromEntries(changed.map((k) => [k, body[k]])) } as DockerHostConfig;
      validateResources(merged, c.hostCpus);
      refuseUnhonoured(Object.fromEntries(changed.map((k) => [k, body[k]])));
      // Applied live in the guest's cgroup when the container runs (up to its VM's size).
      change.resources = { size: vmSizeFor(merged, c.vmDefaults, c.hostCpus), limits: cgroupLimitsFor(merged) };
      Object.assign(hc, Object.fromEntries(changed.map((k) => [k, body[k]])));
    }
    // One step under the pod's lock: checked first, persisted once.
    change.frontend = { ...fe, hostConfig: hc };
    await c.pods.update(r.id, change);
    sendJson(res, 200, { Warnings: null });
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

/** DELETE /containers/:id. */
function deleteContainer(services: ApiServices) {
  return typed('DELETE /containers/:id', async ({ params, query }, _req, res) => {
    if (query.link) throw new InvalidArgumentError('Conflict, cannot remove the default link name of the container');
    await removeContainer(services, params.id, query);
    res.status(204).end();
  });
}

/**
 * DELETE /containers/:id/:alias. A link's name, PARENT/ALIAS, names the linked container too
 * (dockerd's name registry): with link=1 (`docker rm --link`) the link goes, from PARENT's next
 * start on; without, the linked container is removed. Links on user networks have no such name
 * (404, as dockerd).
 */
function deleteLink(services: ApiServices) {
  return typed('DELETE /containers/:id/:alias', async ({ params, query }, _req, res) => {
    const c = svc(services, 'containers');
    const notFound = new NotFoundError(`No such container: ${params.id}/${params.alias}`);
    let r: PodRecord;
    try {
      r = c.pods.get(params.id);
    } catch {
      throw notFound;
    }
    const fe = dockerFrontend(r.frontend);
    const link = fe?.hostConfig ? hostConfigLinks(fe.hostConfig).find((l) => l.alias === params.alias) : undefined;
    if (!link) throw notFound;
    if (!query.link) {
      await removeContainer(services, link.name, query);
      res.status(204).end();
      return;
    }
    const kept = (fe.hostConfig.Links ?? []).filter((l) => parseLinks([l])[0]?.alias !== params.alias);
    const planned = (r.sandbox.spec.network?.links ?? []).filter((l) => l.alias !== params.alias);
    await c.pods.update(r.id, {
      links: planned,
      frontend: { ...fe, hostConfig: { ...fe.hostConfig, Links: kept.length ? kept : null } },
    });
    res.status(204).end();
  });
}

/** POST /containers/prune. */
function pruneContainers(services: ApiServices) {
  return typed('POST /containers/prune', async ({ query }, _req, res) => {
    const c = svc(services, 'containers');
    const filters = query.filters;
    const until = filters.until?.length ? pruneUntilSeconds(filters.until[0]) : undefined;
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const r of c.pods.list()) {
      const st = mainContainer(r).state.status;
      if (st !== 'exited' && st !== 'created' && st !== 'dead') continue;
      if (!pruneLabelsMatch(r.sandbox.spec.labels, filters)) continue;
      if (until !== undefined && parseRfc3339(r.created) / 1000 >= until) continue;
      const size = await c.pods.sizeRw(r.id);
      try {
        await c.pods.remove(r.id, { force: false });
        deleted.push(r.id);
        reclaimed += size;
      } catch (err) {
        log.warn(`prune: ${r.id}: ${(err as Error).message}`);
      }
    }
    sendJson(res, 200, { ContainersDeleted: deleted.length ? deleted : null, SpaceReclaimed: reclaimed });
  });
}

/** POST /containers/:id/wait. */
function waitContainer(services: ApiServices) {
  return typed('POST /containers/:id/wait', async ({ params, query }, _req, res) => {
    const c = svc(services, 'containers');
    const r = c.pods.get(params.id);
    const cond = query.condition;
    const condition: WaitCondition = cond === 'next-exit' || cond === 'removed' ? cond : 'not-running';
    const waiting = c.pods.wait(r.id, condition);
    const stream = openStream(res, 'application/json');
    const result = await waiting;
    if (stream.gone || res.writableEnded) return;
    res.end(
      JSON.stringify({
        Error: result.error ? { Message: stateErrorText({ error: result.error, failure: result.failure }) } : null,
        StatusCode: result.exitCode,
      }) + '\n',
    );
  });
}

async function sizes(c: ContainerServices, r: PodRecord): Promise<{ rw: number; rootFs: number }> {
  const rw = await c.pods.sizeRw(r.id);
  let base = 0;
  try {
    base = (await c.images.resolve(mainContainer(r).spec.image)).size;
  } catch {
    // The image may be gone (forced removal).
  }
  return { rw, rootFs: rw + base };
}
