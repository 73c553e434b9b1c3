/**
 * Container routes of the Docker Engine API v1.41. Thin handlers: parse the query and body
 * (dockerd's messages for bad input), apply Docker-only meanings, call the creation service
 * (create: src/engine) or the pod service (the rest), and write Docker's JSON. The wait stream
 * is here; update and rename are in container-update.ts, removal and prune in
 * container-remove.ts; logs, top, stats and attach are in container-streams.ts.
 */
import { discardBlkioWeights, hostBlkioWeightSupport } from './docker/blkio-weight';
import { createDockerContainer } from './create/docker-front';
import type { Router } from 'express';
import type { ApiServices, ContainerServices } from './services';
import { ConflictError, InvalidArgumentError } from '../../errors';
import { sendJson, svc } from './kit/params';
import { labelsMatch } from './kit/filters';
import { containerFilter, type SummaryForFilters } from './container-filters';
import { openStream } from './kit/streams';
import { typed } from './schema/routes';
import { refuseCheckpointDir } from './checkpoints';
import { createWarnings, parseCreateBody } from './docker/create-body';
import { withEmbeddedHostConfig } from './docker/embedded-host-config';
import { validateContainerName } from '../../translate/request/policy/container-name';
import { containerJson, containerSummary, type NetworkView } from './json/inspect';
import { HEALTH_FILTER_WORDS, healthWord } from './docker/health';
import { stateErrorText } from '../../translate/pod-errors';
import { parseSignal } from '../../translate/signals';
import type { WaitCondition } from '../../pod/service';
import { mainContainer, type PodRecord } from '../../pod/types';
import { renameContainer, updateContainer } from './container-update';
import { apiVersionOf } from './versions';
import { createBodyFor } from './versions/create';
import { checkWaitCondition, stopSignalOf } from './versions/queries';
import { containerInspectFor, containerSummaryFor, waitResponseFor } from './versions/views';
import { deleteContainer, deleteLink, pruneContainers } from './container-remove';
import { claimDiskVolumes } from './disk-volumes';
import { logger } from '../../util/log';

const STATUSES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'];

const log = logger('api');
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

/** POST /containers/create. */
function createContainer(services: ApiServices) {
  return typed('POST /containers/create', async ({ query, body: sent }, _req, res) => {
    const c = svc(services, 'containers');
    // dockerd's order: the name's form, then the body (translate's checks), then the rest at the
    // creation door, with the Docker front's part (./create/docker-front.ts).
    const name = query.name || undefined;
    if (name) validateContainerName(name);
    const versionedBody = createBodyFor(withEmbeddedHostConfig(sent), apiVersionOf(res));
    const { warnings, multipleEndpoints, asDockerd26 } = versionedBody;
    const blkio = discardBlkioWeights(versionedBody.body.HostConfig ?? {}, c.blkioWeight ?? hostBlkioWeightSupport());
    const body = versionedBody.body.HostConfig
      ? { ...versionedBody.body, HostConfig: blkio.hostConfig }
      : versionedBody.body;
    const parsed = parseCreateBody(body, c.hostCpus);
    const versioned = {
      ...parsed,
      ...(multipleEndpoints ? { multipleEndpoints } : {}),
      ...(asDockerd26 ? { asDockerd26 } : {}),
    };
    const r = await createDockerContainer(c.engine, versioned, name);
    // A volume it mounts that is still on the disk of a container that is not running moves
    // off that disk now (two containers created with it share it); a failure is its start's.
    await claimDiskVolumes(services, r.id, true).catch((e: Error) =>
      log.warn(`container ${r.id.slice(0, 12)}: taking its volumes off another container's disk: ${e.message}`),
    );
    // dockerd's warnings for what the guest's cgroup v2 lacks (memory swappiness), what the
    // host's cgroups cannot weigh (block I/O), then the version's.
    sendJson(res, 201, { Id: r.id, Warnings: [...createWarnings(body), ...blkio.warnings, ...warnings] });
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
      const entry = size ? containerSummary(r, { size: await sizes(c, r), ...(network ? { network } : {}) }) : summary;
      out.push(containerSummaryFor(entry, apiVersionOf(res)));
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
    const json = containerJson(r, {
      ...(network ? { network } : {}),
      dataRoot: services.system.dataRoot,
      execIds: c.pods.execIds(r.id),
      ...(graph ? { graph } : {}),
      ...(query.size ? { size: await sizes(c, r) } : {}),
    });
    sendJson(res, 200, containerInspectFor(json, apiVersionOf(res)));
  });
}

/** POST /containers/:id/start (`checkpoint`: from that checkpoint: ./checkpoints.ts). */
function startContainer(services: ApiServices) {
  return typed('POST /containers/:id/start', async ({ params, query }, _req, res) => {
    const c = svc(services, 'containers');
    if (query.checkpoint) refuseCheckpointDir(query['checkpoint-dir']);
    await claimDiskVolumes(services, params.id);
    await c.pods.start(params.id, query.checkpoint ? { checkpoint: query.checkpoint } : undefined);
    res.status(204).end();
  });
}

/** POST /containers/:id/stop. */
function stopContainer(services: ApiServices) {
  return typed('POST /containers/:id/stop', async ({ params, query }, _req, res) => {
    const c = svc(services, 'containers');
    await c.pods.stop(params.id, query.t, stopSignalOf(query.signal, apiVersionOf(res)));
    res.status(204).end();
  });
}

/** POST /containers/:id/restart. */
function restartContainer(services: ApiServices) {
  return typed('POST /containers/:id/restart', async ({ params, query }, _req, res) => {
    const c = svc(services, 'containers');
    await claimDiskVolumes(services, params.id);
    await c.pods.restart(params.id, query.t, stopSignalOf(query.signal, apiVersionOf(res)));
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

/** POST /containers/:id/wait. */
function waitContainer(services: ApiServices) {
  return typed('POST /containers/:id/wait', async ({ params, query }, _req, res) => {
    const c = svc(services, 'containers');
    const cond = query.condition;
    checkWaitCondition(cond, apiVersionOf(res));
    const r = c.pods.get(params.id);
    const condition: WaitCondition = cond === 'next-exit' || cond === 'removed' ? cond : 'not-running';
    const waiting = c.pods.wait(r.id, condition);
    const stream = openStream(res, 'application/json');
    const result = await waiting;
    if (stream.gone || res.writableEnded) return;
    const error = result.error ? { Message: stateErrorText({ error: result.error, failure: result.failure }) } : null;
    res.end(JSON.stringify(waitResponseFor(result.exitCode, error, apiVersionOf(res))) + '\n');
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
