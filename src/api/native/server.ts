/**
 * The native pod API: pods and VMs as the seeds describe them, versioned under `/v1`, on the
 * same sockets as the Docker API (docs/native-api.md). `isNativeRequest` tells the daemon's
 * handler which requests are ours: `/v1/pods...` and `/v1/vms...` (Docker's versions always
 * have a minor number, `/v1.41/...`, so the two never meet). Errors are `{"message": ...}`.
 */
import express from 'express';
import { NotFoundError } from '../../errors';
import { nativeErrorHandler } from './errors';
import * as pods from './pods';
import type { NativeServices } from './services';
import * as vms from './vms';
import * as checkpoints from './checkpoints';

/** The native API's version prefix. */
export const NATIVE_PREFIX = '/v1';

/** The content types of a YAML pod file body. */
export const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'];

function isYaml(contentType: string | undefined): boolean {
  return YAML_TYPES.includes((contentType ?? '').split(';')[0].trim().toLowerCase());
}

/** Whether a request URL belongs to the native API. */
export function isNativeRequest(url: string): boolean {
  return /^\/v1\/(pods|vms)(\/|\?|$)/.test(url);
}

/** The express app of the native API. */
export function createNativeApp(services: NativeServices): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // A pod file may come as YAML (its text is the body; the options are query parameters).
  app.use(express.text({ limit: '1mb', type: YAML_TYPES }));
  app.use(express.json({ limit: '1mb', type: (req) => !isYaml(req.headers['content-type']) }));
  const router = express.Router();
  pods.register(router, services);
  vms.register(router, services);
  checkpoints.register(router, services);
  app.use(NATIVE_PREFIX, router);
  app.use((req, _res, next) =>
    next(new NotFoundError(`no such route: ${req.method} ${req.path} (see docs/native-api.md)`)),
  );
  app.use(nativeErrorHandler);
  return app;
}
