/**
 * `docker save` and `docker load` in dockerd 20.10's wire format: GET /images/get?names=...
 * and GET /images/{name}/get answer an application/x-tar docker-archive; POST /images/load
 * reads one from the request body and streams JSON messages (progress unless quiet, then
 * `Loaded image: ...`). A save's errors found before the first byte is written (an unknown
 * name) are plain API errors, later ones end the tar early; a load always answers 200 and
 * reports a failure (a malformed archive too) as an errorDetail message, as dockerd does.
 */
import type { Request, Response, Router } from 'express';
import type { ApiServices } from './services';
import type { ImageService } from '../../storage/service';
import { prepareSave, writeSaveArchive } from '../../storage/archive-image/save';
import { dockerLoadMessages } from './json/image-archive';
import { goJson, progressLine, writeProgressError } from './kit/progress';
import { svc } from './kit/params';
import { typed } from './schema/routes';
import { logger } from '../../util/log';

const log = logger('api');

async function sendArchive(images: ImageService, names: string[], res: Response): Promise<void> {
  const items = await prepareSave(images.store, images.layers, names);
  res.status(200).setHeader('Content-Type', 'application/x-tar');
  try {
    await writeSaveArchive(images.content, images.layers, items, res);
  } catch (err) {
    // The tar is half written: cutting the connection is the only way to say so.
    log.warn(`docker save of ${names.join(', ')} failed: ${(err as Error).message}`);
    res.destroy();
  }
}

async function loadArchive(images: ImageService, quiet: boolean, req: Request, res: Response): Promise<void> {
  const start = () => {
    if (res.headersSent) return;
    res.status(200).setHeader('Content-Type', 'application/json');
    res.flushHeaders();
  };
  try {
    const ids = await images.loader.load(req, (e) => {
      for (const m of dockerLoadMessages(e, quiet)) {
        start();
        res.write('progress' in m ? progressLine(m.progress) : goJson({ stream: m.stream }) + '\r\n');
      }
    });
    for (const id of ids) await images.prepareImageDisk(id);
  } catch (err) {
    // dockerd answers load with a 200 whatever happens and reports a failure, a malformed
    // archive included, as the stream's errorDetail line (docker-py raises ImageLoadError on it).
    start();
    writeProgressError(res, err);
  }
  start();
  res.end();
}

/** Register the save and load routes. */
export function register(router: Router, services: ApiServices): void {
  router.get(
    '/images/get',
    typed('GET /images/get', async ({ query }, _req, res) => {
      await sendArchive(svc(services, 'images'), query.names, res);
    }),
  );
  router.get(
    '/images/*name/get',
    typed('GET /images/*name/get', async ({ params }, _req, res) => {
      await sendArchive(svc(services, 'images'), [params.name], res);
    }),
  );
  router.post(
    '/images/load',
    typed('POST /images/load', async ({ query }, req, res) => {
      await loadArchive(svc(services, 'images'), query.quiet, req, res);
    }),
  );
}
