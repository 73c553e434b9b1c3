/**
 * The native API's one error middleware: the error classes -> an HTTP status (the HTTP
 * transport's table, ../http-status.ts, shared with the Docker API) and
 * `{"message": ...}` (the same body shape as the Docker API, so one client reads both). A pod
 * already in the asked state is a 409 with a message here (the Docker API's bodiless 304
 * tells a person nothing). A spec naming an image that is not local is a 404 that also names
 * the image (`{"message": ..., "image": "busybox:latest"}`), which a client pulls before
 * sending the spec again (the `podvisor` CLI does).
 */
import type { ErrorRequestHandler } from 'express';
import { NotModifiedError, PodvisorError } from '../../errors';
import { httpStatusOf } from '../http-status';
import { NoSuchImageError } from '../../storage/errors';
import { logger } from '../../util/log';
import type { NativeErrorBody } from './wire';

const log = logger('api');

/**
 * The status of an error of ours: the HTTP transport's table (../http-status.ts), but for an
 * object already in the asked state, which is a 409 with a message here, not a bodiless 304.
 */
export function nativeStatusOf(err: PodvisorError): number {
  return err instanceof NotModifiedError ? 409 : httpStatusOf(err);
}

/** Express error middleware of the native API. */
export const nativeErrorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  let status = 500;
  let message = err instanceof Error ? err.message : String(err);
  if (err instanceof PodvisorError) {
    status = nativeStatusOf(err);
  } else if (err && typeof err === 'object' && (err as { type?: string }).type === 'entity.parse.failed') {
    status = 400;
    message = `the request body is not valid JSON: ${message}`;
  } else if (
    err &&
    typeof err === 'object' &&
    typeof (err as { status?: unknown }).status === 'number' &&
    (err as { status: number }).status < 500
  ) {
    status = (err as { status: number }).status;
  } else {
    log.error(`${req.method} ${req.originalUrl}: unexpected error: ${err instanceof Error ? err.stack : message}`);
  }
  if (res.headersSent) {
    res.end();
    return;
  }
  const body: NativeErrorBody = { message, ...(err instanceof NoSuchImageError ? { image: err.ref } : {}) };
  res.status(status).json(body);
};
