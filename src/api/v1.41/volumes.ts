/**
 * The /volumes routes in dockerd's JSON shape: create, list (filters), inspect, remove and
 * prune, over the volume store (src/storage/volumes.ts). Who uses a volume is read from the
 * pods' records (any container, running or not, that mounts it), as dockerd counts its
 * references; a volume in use is not removed (409) and not pruned.
 */
import type { Router } from 'express';
import type { ApiServices, VolumeServices } from './services';
import { sendJson } from './kit/params';
import { exactBoolFilter, filterMatch, labelsMatch, pruneLabelsMatch, type FilterMap } from './kit/filters';
import { typed } from './schema/routes';
import { NotFoundError, UnavailableError } from '../../errors';
import { mainContainer, podSpecOf } from '../../pod/types';
import { volumeUsers } from '../../pod/types';
import { logger } from '../../util/log';
import type { PodService } from '../../pod/service';
import type { VolumeRecord, VolumeStore } from '../../storage/volumes';
import { apiVersionOf } from './versions';
import { pruneAllVolumes, unnamedVolumeCreate, volumeUpdateRefusal } from './versions/queries';

/** dockerd's JSON of one volume. */
export function volumeJson(v: VolumeRecord, store: VolumeStore): Record<string, unknown> {
  return {
    CreatedAt: v.createdAt,
    Driver: v.driver,
    Labels: v.labels,
    Mountpoint: store.dataDir(v.name),
    Name: v.name,
    Options: v.options,
    Scope: 'local',
  };
}

/** IDs of the containers that use volume `name`. */
export function usersOf(pods: PodService | undefined, name: string): string[] {
  if (!pods) return [];
  return volumeUsers(
    pods.list().map((r) => ({ id: r.id, spec: podSpecOf(r) })),
    name,
  );
}

function anyOf(values: string[] | undefined, test: (v: string) => boolean): boolean {
  return !values || values.length === 0 || values.some(test);
}

/** The filters of GET /volumes, as dockerd applies them: `name` a regular expression (filterMatch), `driver` exact. */
export function matchesVolumeFilters(v: VolumeRecord, f: FilterMap, inUse: (name: string) => boolean): boolean {
  const dangling = exactBoolFilter(f, 'dangling', [
    ['true', true],
    ['1', true],
    ['false', false],
    ['0', false],
  ]);
  return (
    (dangling === undefined || dangling === !inUse(v.name)) &&
    anyOf(f.driver, (d) => d === v.driver) &&
    filterMatch(f.name, v.name) &&
    labelsMatch(v.labels, f.label ?? [])
  );
}

/** Remove volume `name` unless containers use it; a `destroy` event when it went. */
export async function removeVolume(vs: VolumeServices, name: string): Promise<void> {
  const v = await vs.store.remove(name, usersOf(vs.pods, name));
  vs.events?.emit('volume', 'destroy', v.name, { driver: v.driver });
}

const log = logger('api');

/** The anonymous volumes of container `ref` (`docker rm -v` removes them with it). */
export function anonymousVolumesOf(services: ApiServices, ref: string): string[] {
  const pods = services.containers?.pods;
  if (!services.volumes || !pods) return [];
  return (mainContainer(pods.get(ref)).spec.mounts ?? []).flatMap((m) =>
    m.type === 'volume' && m.anonymous && m.name ? [m.name] : [],
  );
}

/** Remove the volumes `names` after their container went (a volume still used elsewhere stays). */
export async function removeVolumesAfter(services: ApiServices, names: string[]): Promise<void> {
  const vs = services.volumes;
  if (!vs) return;
  for (const name of names) {
    await removeVolume(vs, name).catch((e: Error) => log.warn(`removing volume ${name}: ${e.message}`));
  }
}

/**
 * Anonymous volumes of `--rm` containers go when their container is destroyed, however it
 * went (its exit, or a plain `docker rm`), as dockerd's auto-removal removes them.
 */
export function removeWithContainers(vs: VolumeServices): () => void {
  if (!vs.events) return () => undefined;
  return vs.events.subscribe((e) => {
    if (e.type !== 'container' || e.action !== 'destroy') return;
    const names = vs.store
      .list()
      .filter((v) => v.removeWith === e.id)
      .map((v) => v.name);
    for (const name of names)
      void removeVolume(vs, name).catch((err: Error) => log.warn(`removing volume ${name}: ${err.message}`));
  });
}

/** Register the /volumes routes. */
export function register(router: Router, services: ApiServices): void {
  const vs = (): VolumeServices => {
    if (!services.volumes) throw new UnavailableError('volumes are not available in this daemon');
    return services.volumes;
  };

  router.get(
    '/volumes',
    typed('GET /volumes', ({ query }, _req, res) => {
      const v = vs();
      const inUse = (name: string) => usersOf(v.pods, name).length > 0;
      const list = v.store.list().filter((r) => matchesVolumeFilters(r, query.filters, inUse));
      sendJson(res, 200, { Volumes: list.map((r) => volumeJson(r, v.store)), Warnings: null });
    }),
  );

  router.post(
    '/volumes/create',
    typed('POST /volumes/create', async ({ body }, _req, res) => {
      const v = vs();
      const b = body ?? {};
      const kind = unnamedVolumeCreate(b.Name, b.Labels ?? null, apiVersionOf(res));
      const r = await v.store.create({
        name: b.Name,
        driver: b.Driver,
        labels: kind.labels,
        options: b.DriverOpts ?? null,
        ...(kind.anonymous ? { anonymous: true } : {}),
      });
      // dockerd's volume service sends `create` for an existing name too.
      v.events?.emit('volume', 'create', r.volume.name, { driver: r.volume.driver });
      sendJson(res, 201, volumeJson(r.volume, v.store));
    }),
  );

  router.get(
    '/volumes/:name',
    typed('GET /volumes/:name', ({ params }, _req, res) => {
      const v = vs();
      sendJson(res, 200, volumeJson(v.store.get(params.name), v.store));
    }),
  );

  router.delete(
    '/volumes/:name',
    typed('DELETE /volumes/:name', async ({ params, query }, _req, res) => {
      try {
        await removeVolume(vs(), params.name);
      } catch (e) {
        // dockerd's force ignores a volume that is not there.
        if (!(query.force && e instanceof NotFoundError)) throw e;
      }
      res.status(204).end();
    }),
  );

  router.put(
    '/volumes/:name',
    typed('PUT /volumes/:name', (_input, _req, res) => {
      const refusal = volumeUpdateRefusal(apiVersionOf(res));
      sendJson(res, refusal.status, { message: refusal.message });
    }),
  );

  router.post(
    '/volumes/prune',
    typed('POST /volumes/prune', async ({ query }, _req, res) => {
      const v = vs();
      const all = pruneAllVolumes(query.filters, apiVersionOf(res));
      const deleted: string[] = [];
      let reclaimed = 0;
      for (const r of v.store.list()) {
        if (!all && !r.anonymous) continue;
        if (!pruneLabelsMatch(r.labels, query.filters) || usersOf(v.pods, r.name).length) continue;
        const size = await v.store.size(r.name);
        await v.store.remove(r.name, []);
        deleted.push(r.name);
        if (size > 0) reclaimed += size;
      }
      v.events?.emit('volume', 'prune', '', { reclaimed: String(reclaimed) });
      sendJson(res, 200, { VolumesDeleted: deleted, SpaceReclaimed: reclaimed });
    }),
  );
}
