/**
 * The routes that remove containers (Docker Engine API v1.41): DELETE of a container (with its
 * anonymous volumes on `v`), DELETE of a legacy link's name, and prune. Registered by
 * ./containers.ts.
 */
import { parseLinks } from '../../translate/network/links';
import type { ApiServices } from './services';
import { InvalidArgumentError, NotFoundError } from '../../errors';
import { sendJson, svc } from './kit/params';
import { pruneLabelsMatch } from './kit/filters';
import { pruneUntilSeconds } from './kit/time';
import { typed } from './schema/routes';
import { hostConfigLinks } from './json/inspect';
import { mainContainer, type PodRecord } from '../../pod/types';
import { anonymousVolumesOf, removeVolumesAfter } from './volumes';
import { moveDiskVolumesOff } from './disk-volumes';
import { logger } from '../../util/log';
import { parseRfc3339 } from '../../util/time';
import { dockerViewOf } from './docker/pod-view';

const log = logger('api');

/** Remove container `ref`, and with `v` its anonymous volumes after it. */
async function removeContainer(
  services: ApiServices,
  ref: string,
  query: { force: boolean; v: boolean },
): Promise<void> {
  const c = svc(services, 'containers');
  const anonymous = query.v ? anonymousVolumesOf(services, ref) : [];
  // `-v` takes the anonymous volumes along; a named one on the container's disk outlives it.
  await moveDiskVolumesOff(services, ref, query.force, !query.v);
  await c.pods.remove(ref, { force: query.force });
  await removeVolumesAfter(services, anonymous);
}

/** DELETE /containers/:id. */
export function deleteContainer(services: ApiServices) {
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
export function deleteLink(services: ApiServices) {
  return typed('DELETE /containers/:id/:alias', async ({ params, query }, _req, res) => {
    const c = svc(services, 'containers');
    const notFound = new NotFoundError(`No such container: ${params.id}/${params.alias}`);
    let r: PodRecord;
    try {
      r = c.pods.get(params.id);
    } catch {
      throw notFound;
    }
    const fe = dockerViewOf(r);
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
export function pruneContainers(services: ApiServices) {
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
        await moveDiskVolumesOff(services, r.id, false);
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
