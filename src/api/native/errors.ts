/**
 * The native API's one error middleware: the pod layer's error classes -> an HTTP status and
 * `{"message": ...}` (the same body shape as the Docker API, so one client reads both). A pod
 * already in the asked state is a 409 with a message here (the Docker API's bodiless 304
 * tells a person nothing). A spec naming an image that is not local is a 404 that also names
 * the image (`{"message": ..., "image": "busybox:latest"}`), which a client pulls before
 * sending the spec again (the `podvisor` CLI does).
 */
import type { ErrorRequestHandler } from 'express';
import {
  ConflictError,
  ForbiddenError,
  InvalidArgumentError,
  NotFoundError,
  NotImplementedError,
  NotModifiedError,
  PodvisorError,
  ResourceExhaustedError,
  UnauthorizedError,
} from '../../errors';
import { NoSuchImageError } from '../../storage/errors';
import { logger } from '../../util/log';

const log = logger('api');

const STATUS_OF: Array<[abstract new (...a: never[]) => PodvisorError, number]> = [
  [NotFoundError, 404],
  [ConflictError, 409],
  [NotModifiedError, 409],
  [InvalidArgumentError, 400],
  [UnauthorizedError, 401],
  [ForbiddenError, 403],
  [NotImplementedError, 501],
  [ResourceExhaustedError, 429],
];

/** The status of an error of ours (500 for the rest: unavailable, unexpected). */
export function nativeStatusOf(err: PodvisorError): number {
  for (const [cls, status] of STATUS_OF) if (err instanceof cls) return status;
  return 500;
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
  res.status(status).json({ message, ...(err instanceof NoSuchImageError ? { image: err.ref } : {}) });
};
