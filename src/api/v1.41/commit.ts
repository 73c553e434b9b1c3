/**
 * `POST /commit` (docker commit): the container's writable layer becomes a new image layer on
 * top of its image, with the container's config changed by `changes` (Dockerfile
 * instructions), `author` and `comment` in the history entry. A running container is paused
 * for the time of the commit unless `pause=false`. Answers 201 `{"Id": "sha256:..."}`.
 */
import type { Router } from 'express';
import type { ApiServices, ContainerServices } from './services';
import type { ImageService } from '../../storage/service';
import { sendJson, svc } from './kit/params';
import { typed } from './schema/routes';
import { InvalidArgumentError, UnavailableError } from '../../errors';
import { mainContainer } from '../../pod/types';
import { commitConfig, commitReference } from './docker/commit';
import { commitWritableLayer } from '../../storage/commit';
import { BlockModeError } from '../../storage/errors';
import { dockerViewOf } from './docker/pod-view';

/** What a commit of a container reads and writes. */
export interface CommitParts {
  containers: Pick<ContainerServices, 'pods' | 'rootfsPaths' | 'archive'>;
  images: ImageService;
  /** The daemon's version (the image's DockerVersion). */
  version: string;
}

/** A commit's options, as POST /commit's query names them. */
export interface CommitQuery {
  container: string;
  repo: string;
  tag: string;
  changes: readonly string[];
  author?: string;
  comment?: string;
  pause: boolean;
}

/**
 * Commit container `q.container` (see the module comment); resolves with the new image's ID.
 * Also what a checkpoint image's filesystem is (src/engine/checkpoint-images.ts).
 */
export async function commitContainer(parts: CommitParts, q: CommitQuery): Promise<string> {
  const { containers: c, images } = parts;
  const rec = c.pods.get(q.container);
  const refs = commitReference(q.repo, q.tag);
  const fe = dockerViewOf(rec);
  const config = commitConfig(fe.config, q.changes);
  if (!c.rootfsPaths) throw new UnavailableError('the container storage is not available');
  const paths = await c.rootfsPaths(rec.id);
  // Block mode: the layer is packed in the guest (src/storage/archive/guest.ts).
  const archive = c.archive;
  if (paths.disk && !archive) throw new BlockModeError(rec.id);
  const running = c.pods.isRunning(rec.id) && mainContainer(rec).state.status === 'running';
  // Block mode: the guest packs the layer, so the VM is not paused; the agent freezes the
  // container's processes instead (their cgroup) while it reads the layer.
  const pause = q.pause && running && !paths.disk;
  const freeze = q.pause && running && Boolean(paths.disk);
  if (pause) await c.pods.pause(rec.id);
  let id: string;
  try {
    id = await commitWritableLayer(
      { content: images.content, layers: images.layers, images: images.store },
      {
        upperDir: paths.upperDir,
        lowerDirs: paths.lowerDirs,
        ...(paths.disk && archive ? { layerTar: () => archive.guestLayer(rec.id, paths.lowerDirs, { freeze }) } : {}),
        parentId: mainContainer(rec).spec.image,
        // dockerd records the container's image as the committed image's Parent.
        recordParent: true,
        config,
        createdBy: [...(fe.config.Entrypoint ?? []), ...(fe.config.Cmd ?? [])].join(' '),
        ...(q.author !== undefined ? { author: q.author } : {}),
        ...(q.comment !== undefined ? { comment: q.comment } : {}),
        container: { id: rec.id, config: fe.config as unknown as Record<string, unknown> },
        dockerVersion: parts.version,
        refs,
      },
    );
  } finally {
    if (pause) await c.pods.unpause(rec.id).catch(() => undefined);
  }
  await images.prepareImageDisk(id);
  return id;
}

/** Register POST /commit. */
export function register(router: Router, services: ApiServices): void {
  router.post(
    '/commit',
    typed('POST /commit', async ({ query }, _req, res) => {
      const c = svc(services, 'containers');
      const images = svc(services, 'images');
      if (!query.container) throw new InvalidArgumentError('No such container: ');
      const rec = c.pods.get(query.container);
      const id = await commitContainer(
        { containers: c, images, version: services.system.version },
        { ...query, container: query.container },
      );
      c.events.emit('container', 'commit', rec.id, {
        comment: query.comment,
        image: dockerViewOf(rec).imageRef,
        name: rec.name,
      });
      sendJson(res, 201, { Id: id });
    }),
  );
}
