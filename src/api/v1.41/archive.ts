/**
 * Files in and out of containers: HEAD, GET and PUT /containers/{id}/archive (docker cp),
 * GET /containers/{id}/changes (docker diff) and GET /containers/{id}/export, in dockerd's
 * wire shapes. The work is done on the host by src/storage/archive (paths resolved inside the
 * container's root); this module decodes, looks the container up and streams.
 */
import type { Response, Router } from 'express';
import type { Readable } from 'node:stream';
import type { ApiServices } from './services';
import { sendJson, svc } from './kit/params';
import { typed } from './schema/routes';
import { UnavailableError } from '../../errors';
import { encodePathStat } from '../../storage/archive/stat';
import type { ArchiveMount, ContainerArchive } from '../../storage/archive/service';
import { mainContainer } from '../../pod/types';
import { ETC_FILES_AT_START } from '../../pod/service';
import { claimDiskVolumes } from './disk-volumes';

const STAT_HEADER = 'X-Docker-Container-Path-Stat';

function archiveOf(services: ApiServices): ContainerArchive {
  const a = svc(services, 'containers').archive;
  if (!a) throw new UnavailableError('the archive service is not available');
  return a;
}

/** Send a tar stream; a failure after the first byte can only end the response. */
function sendTar(res: Response, tar: Readable): void {
  res.status(200).setHeader('Content-Type', 'application/x-tar');
  tar.on('error', () => res.destroy());
  res.on('close', () => tar.destroy());
  tar.pipe(res);
}

/** Register the archive, changes and export routes. */
export function register(router: Router, services: ApiServices): void {
  const container = (ref: string) => {
    const rec = svc(services, 'containers').pods.get(ref);
    const spec = mainContainer(rec).spec;
    // Paths under a bind mount or a volume are served from the mounted directory, as dockerd;
    // under a volume kept on the container's disk, by its guest from that volume's mount.
    const mounts: ArchiveMount[] = [];
    for (const m of spec.mounts ?? [])
      if (m.type === 'volume' && m.diskDir)
        mounts.push({ target: m.target, volume: m.name, inGuest: true, readOnly: m.readOnly });
      else if (m.type === 'bind' && m.resolvedSource)
        mounts.push({ target: m.target, source: m.resolvedSource, pinned: true, readOnly: m.readOnly });
      else if ((m.type === 'bind' || m.type === 'volume') && m.source)
        mounts.push({ target: m.target, source: m.source, readOnly: m.readOnly });
    return { id: rec.id, user: spec.user, mounts };
  };
  // A volume it mounts whose data is still on another container's disk moves off that disk
  // first (refused, 409, while that container runs), as its start would move it.
  const reachable = async (ref: string) => {
    await claimDiskVolumes(services, ref);
    return container(ref);
  };

  router.head(
    '/containers/:id/archive',
    typed('HEAD /containers/:id/archive', async ({ params, query }, _req, res) => {
      const c = await reachable(params.id);
      const stat = await archiveOf(services).stat(c.id, params.id, query.path, c.mounts);
      res.status(200).setHeader(STAT_HEADER, encodePathStat(stat));
      res.end();
    }),
  );

  router.get(
    '/containers/:id/archive',
    typed('GET /containers/:id/archive', async ({ params, query }, _req, res) => {
      const c = await reachable(params.id);
      const { stat, tar } = await archiveOf(services).get(c.id, params.id, query.path, c.mounts);
      res.setHeader(STAT_HEADER, encodePathStat(stat));
      sendTar(res, tar);
    }),
  );

  router.put(
    '/containers/:id/archive',
    typed('PUT /containers/:id/archive', async ({ params, query }, req, res) => {
      const c = await reachable(params.id);
      await archiveOf(services).put(
        c.id,
        params.id,
        query.path,
        req,
        {
          noOverwriteDirNonDir: query.noOverwriteDirNonDir,
          ...(query.copyUIDGID ? { copyUIDGID: { user: c.user } } : {}),
        },
        c.mounts,
      );
      res.status(200).end();
    }),
  );

  router.get(
    '/containers/:id/changes',
    typed('GET /containers/:id/changes', async ({ params }, _req, res) => {
      const c = container(params.id);
      // The hosts files podvisor writes at each start are not the user's changes (dockerd mounts them).
      const changes = await archiveOf(services).changes(c.id, ETC_FILES_AT_START);
      // dockerd answers null, not [], when nothing changed.
      sendJson(res, 200, changes.length ? changes : null);
    }),
  );

  router.get(
    '/containers/:id/export',
    typed('GET /containers/:id/export', async ({ params }, _req, res) => {
      const c = container(params.id);
      sendTar(res, await archiveOf(services).export(c.id));
    }),
  );
}
