/**
 * `docker push` in dockerd 20.10's wire format: POST /images/{name}/push?tag=... with the
 * X-Registry-Auth header passed to the registry, answered by a stream of progress JSON
 * (src/api/v1.41/json/push-progress.ts). An unknown image is a 404 before the stream starts;
 * registry failures during the push come as an errorDetail message, as dockerd sends them.
 */
import type { Router } from 'express';
import type { ApiServices } from './services';
import { decodeRegistryAuth } from '../../storage/registry/auth';
import { isValidTag, parseReference } from '../../storage/reference';
import { dockerPushMessages } from './json/push-progress';
import { InvalidArgumentError } from '../../errors';
import { goJson, progressLine, writeProgressError } from './kit/progress';
import { svc } from './kit/params';
import { typed } from './schema/routes';

/** Register the push route. */
export function register(router: Router, services: ApiServices): void {
  router.post(
    '/images/*name/push',
    typed('POST /images/*name/push', async ({ params, query }, req, res) => {
      const images = svc(services, 'images');
      const ref = parseReference(params.name);
      if (ref.digest !== undefined) throw new InvalidArgumentError('cannot push a digest reference');
      if (query.tag) {
        if (!isValidTag(query.tag)) throw new InvalidArgumentError('invalid tag format');
        ref.tag = query.tag;
      }
      const auth = decodeRegistryAuth(req.get('X-Registry-Auth'));
      const start = () => {
        if (res.headersSent) return;
        res.status(200).setHeader('Content-Type', 'application/json');
        res.flushHeaders();
      };
      try {
        await images.pusher.push(ref, {
          auth,
          onProgress: (e) => {
            start();
            for (const m of dockerPushMessages(e))
              res.write(
                'progress' in m ? progressLine(m.progress) : goJson({ progressDetail: {}, aux: m.aux }) + '\r\n',
              );
          },
        });
      } catch (err) {
        writeProgressError(res, err);
      }
      start();
      res.end();
    }),
  );
}
