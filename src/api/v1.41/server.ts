/**
 * The Docker Engine API v1.41 application: version prefix handling, one route module per
 * Docker resource (each `register(router, services)`), and the error middleware last.
 * This layer only speaks the wire format; it calls services and never touches src/vm.
 */
import express from 'express';
import type { ApiServices } from './services';
import { API_VERSION, versionPrefix } from './version';
import { closeUnreadBodies } from './limits';
import { dockerErrorHandler } from './errors';
import { NotFoundError } from '../../errors';
import { logger } from '../../util/log';
import * as system from './system';
import * as imageArchive from './image-archive';
import * as imagePush from './image-push';
import * as images from './images';
import * as auth from './auth';
import * as containers from './containers';
import * as checkpoints from './checkpoints';
import * as containerStreams from './container-streams';
import * as exec from './exec';
import * as networks from './networks';
import * as archive from './archive';
import * as commit from './commit';
import * as build from './build';
import * as volumes from './volumes';
import * as swarm from './swarm';

const log = logger('api');

/** Route modules in registration order. Each adds its routes to the shared router. */
const ROUTE_MODULES: Array<{ register(router: express.Router, services: ApiServices): void }> = [
  system,
  imageArchive,
  imagePush,
  images,
  auth,
  containers,
  checkpoints,
  containerStreams,
  exec,
  networks,
  archive,
  volumes,
  commit,
  build,
  swarm,
];

/** Build the express app for the given services. */
export function createApiApp(services: ApiServices): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use((req, res, next) => {
    // At debug level, one line per request with its duration (profiling `docker run`).
    const t0 = process.hrtime.bigint();
    res.once('close', () => {
      const ms = (Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1);
      log.debug(`${req.method} ${req.originalUrl} -> ${res.statusCode} in ${ms} ms`);
    });
    // dockerd names itself in every answer; some clients log it.
    res.set('Server', `Docker/${services.system.version} (linux)`);
    res.set('Api-Version', API_VERSION);
    // As dockerd's middleware, on every answer (the CLI reads them from /_ping).
    res.set('OSType', 'linux');
    res.set('Docker-Experimental', services.system.experimental ? 'true' : 'false');
    next();
  });
  app.use(closeUnreadBodies);
  app.use(versionPrefix);
  const router = express.Router();
  for (const mod of ROUTE_MODULES) mod.register(router, services);
  app.use(router);
  app.use((_req, _res, next) => {
    // dockerd's answer for an unknown route.
    next(new NotFoundError('page not found'));
  });
  app.use(dockerErrorHandler);
  return app;
}
