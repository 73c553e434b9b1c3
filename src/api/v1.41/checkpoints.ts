/**
 * Checkpoint routes of the Docker Engine API v1.41 (`docker checkpoint create|ls|rm`; the
 * start from one is POST /containers/:id/start?checkpoint=, in containers.ts). As dockerd
 * serves them: only in experimental mode (the stock CLI shows `docker checkpoint` only when
 * /_ping says Docker-Experimental: true), else 501 with dockerd's words. The pod layer's
 * checkpoints (src/pod/checkpoints/checkpoints.ts) live in each container's own directory: another
 * directory (`dir`, the CLI's --checkpoint-dir) is refused.
 */
import type { Router } from 'express';
import type { ApiServices } from './services';
import { InvalidArgumentError, NotImplementedError } from '../../errors';
import { sendJson, svc } from './kit/params';
import { typed } from './schema/routes';

/** dockerd's answer to an experimental route of a daemon not in experimental mode. */
const EXPERIMENTAL_OFF =
  'This experimental feature is disabled by default. Start the Docker daemon in experimental mode in order to enable it.';

/** Refuse what dockerd refuses before its checkpoint handlers run: experimental mode off. */
function experimentalOnly(services: ApiServices): void {
  if (!services.system.experimental) throw new NotImplementedError(EXPERIMENTAL_OFF);
}

/** Refuse a checkpoint directory other than the container's own. */
export function refuseCheckpointDir(dir: string | undefined): void {
  if (dir)
    throw new InvalidArgumentError(
      "checkpoints are kept in the container's own directory: --checkpoint-dir is not supported",
    );
}

/** Register the checkpoint routes. */
export function register(router: Router, services: ApiServices): void {
  router.get('/containers/:id/checkpoints', listCheckpoints(services));
  router.post('/containers/:id/checkpoints', createCheckpoint(services));
  router.delete('/containers/:id/checkpoints/:name', deleteCheckpoint(services));
}

/** GET /containers/:id/checkpoints: `[{"Name": ...}]`, or null for none (as dockerd 20.10 answers). */
function listCheckpoints(services: ApiServices) {
  return typed('GET /containers/:id/checkpoints', async ({ params, query }, _req, res) => {
    experimentalOnly(services);
    const { pods } = svc(services, 'containers');
    refuseCheckpointDir(query.dir);
    const names = pods.checkpoints ? await pods.checkpoints(params.id) : (pods.get(params.id), []);
    sendJson(res, 200, names.length > 0 ? names.map((Name) => ({ Name })) : null);
  });
}

/** POST /containers/:id/checkpoints: body CheckpointID, CheckpointDir, Exit; 201 when saved. */
function createCheckpoint(services: ApiServices) {
  return typed('POST /containers/:id/checkpoints', async ({ params, body }, _req, res) => {
    experimentalOnly(services);
    const { pods } = svc(services, 'containers');
    const b = body ?? {};
    pods.get(params.id);
    refuseCheckpointDir(b.CheckpointDir);
    if (!pods.checkpoint) throw new NotImplementedError('checkpoints are not available');
    if (b.Image !== undefined) {
      // A podvisor extension: a checkpoint image (docs/checkpoint-images.md), answered with its ID.
      const images = svc(services, 'containers').checkpointImages;
      if (!images) throw new NotImplementedError('checkpoint images are not available');
      const id = await images.make(params.id, b.Image, {
        ...(b.CheckpointID ? { name: b.CheckpointID } : {}),
        exit: b.Exit ?? false,
      });
      sendJson(res, 201, { Id: id });
      return;
    }
    await pods.checkpoint(params.id, b.CheckpointID ?? '', { exit: b.Exit ?? false });
    res.status(201).end();
  });
}

/** DELETE /containers/:id/checkpoints/:name. */
function deleteCheckpoint(services: ApiServices) {
  return typed('DELETE /containers/:id/checkpoints/:name', async ({ params, query }, _req, res) => {
    experimentalOnly(services);
    const { pods } = svc(services, 'containers');
    pods.get(params.id);
    refuseCheckpointDir(query.dir);
    if (!pods.removeCheckpoint) throw new NotImplementedError('checkpoints are not available');
    await pods.removeCheckpoint(params.id, params.name);
    res.status(204).end();
  });
}
