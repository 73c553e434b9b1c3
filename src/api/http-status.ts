/**
 * The HTTP transport's one table from error classes to status codes, shared by both HTTP
 * fronts: the Docker API (src/api/v1.41/errors.ts) and the native pod API
 * (src/api/native/errors.ts). Each front still renders its own body from the status.
 *
 * The error classes (src/errors.ts) know no transport; each transport has its own table, as
 * containerd's errdefs has ToHTTP beside ToGRPC: this one for HTTP, and the CRI front's gRPC
 * codes in a table of its own beside that front. The statuses are those dockerd's
 * httpstatus.FromError answers for the matching errdefs kind, so the Docker API answers as
 * dockerd does.
 *
 * The two errors of the HTTP transport itself (a body over its limit, a body that did not come
 * in time) are defined here too: no service below the fronts throws them.
 */
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
  UnavailableError,
  PlainError,
} from '../errors';

/** A request body over its limit (HTTP 413: a failure of the transport, not of a service). */
export class PayloadTooLargeError extends PodvisorError {}

/** A request body that did not arrive in time (HTTP 408). */
export class RequestTimeoutError extends PodvisorError {}

/** An error class, abstract or not, as the table names it. */
export type ErrorClass = abstract new (...args: never[]) => PodvisorError;

/**
 * Error class -> HTTP status, first match wins (a subclass matches its parent's row).
 * NotModified is dockerd's bodiless 304; a front that must always carry a message may render
 * it otherwise (the native API: ./native/errors.ts).
 */
export const HTTP_STATUS_OF: ReadonlyArray<readonly [ErrorClass, number]> = [
  [NotFoundError, 404],
  [ConflictError, 409],
  [InvalidArgumentError, 400],
  [NotModifiedError, 304],
  [UnauthorizedError, 401],
  [ForbiddenError, 403],
  [NotImplementedError, 501],
  [ResourceExhaustedError, 429],
  [UnavailableError, 500],
  [PlainError, 500],
  [PayloadTooLargeError, 413],
  [RequestTimeoutError, 408],
];

/** The HTTP status of a podvisor error (500 for a class the table does not name). */
export function httpStatusOf(err: PodvisorError): number {
  for (const [cls, status] of HTTP_STATUS_OF) if (err instanceof cls) return status;
  return 500;
}
