/**
 * `POST /commit` (docker commit): the container's writable layer becomes a new image layer on
 * top of its image, with the container's config changed by `changes` (Dockerfile
 * instructions), `author` and `comment` in the history entry. A running container is paused
 * for the time of the commit unless `pause=false`. Answers 201 `{"Id": "sha256:..."}`.
 */
import type { Router } from 'express';
import type { ApiServices } from './services';
import { sendJson, svc } from './kit/params';
import { typed } from './schema/routes';
import { InvalidArgumentError, UnavailableError } from '../../errors';
import { mainContainer } from '../../pod/types';
import { commitConfig, commitReference } from '../../translate/docker/commit';
import { commitWritableLayer } from '../../storage/commit';
import { BlockModeError } from '../../storage/errors';
import { dockerViewOf } from '../../translate/docker/pod-view';

/** Register POST /commit. */
export function register(router: Router, services: ApiServices): void {
  router.post(
    '/commit',
    typed('POST /commit', async ({ query }, _req, res) => {
      const c = svc(services, 'containers');
      const images = svc(services, 'images');
      if (!query.container) throw new InvalidArgumentError('No such container: ');
      const rec = c.pods.get(query.container);
      const refs = commitReference(query.repo, query.tag);
      const fe = dockerViewOf(rec);
      const config = commitConfig(fe.config, query.changes);
      if (!c.rootfsPaths) throw new UnavailableError('the container storage is not available');
      const paths = await c.rootfsPaths(rec.id);
      // Block mode: the layer is packed in the guest (src/storage/archive/guest.ts).
      const archive = c.archive;
      if (paths.disk && !archive) throw new BlockModeError(rec.id);
      const running = c.pods.isRunning(rec.id) && mainContainer(rec).state.status === 'running';
      // Block mode: the guest packs the layer, so the VM is not paused; the agent freezes the
      // container's processes instead (their cgroup) while it reads the layer.
      const pause = query.pause && running && !paths.disk;
      const freeze = query.pause && running && Boolean(paths.disk);
      if (pause) await c.pods.pause(rec.id);
      let id: string;
      try {
        id = await commitWritableLayer(
          { content: images.content, layers: images.layers, images: images.store },
          {
            upperDir: paths.upperDir,
            lowerDirs: paths.lowerDirs,
            ...(paths.disk && archive
              ? { layerTar: () => archive.guestLayer(rec.id, paths.lowerDirs, { freeze }) }
              : {}),
            parentId: mainContainer(rec).spec.image,
            // dockerd records the container's image as the committed image's Parent.
            recordParent: true,
            config,
            createdBy: [...(fe.config.Entrypoint ?? []), ...(fe.config.Cmd ?? [])].join(' '),
            author: query.author,
            comment: query.comment,
            container: { id: rec.id, config: fe.config as unknown as Record<string, unknown> },
            dockerVersion: services.system.version,
            refs,
          },
        );
      } finally {
        if (pause) await c.pods.unpause(rec.id).catch(() => undefined);
      }
      await images.prepareImageDisk(id);
      c.events.emit('container', 'commit', rec.id, { comment: query.comment, image: fe.imageRef, name: rec.name });
      sendJson(res, 201, { Id: id });
    }),
  );
}
