/**
 * The CRI transport's one error mapper: the transport-neutral classes of src/errors.ts to gRPC
 * status codes, as containerd's CRI plugin reports the same kinds of failure (a missing object
 * NOT_FOUND, bad input INVALID_ARGUMENT, a state that forbids the call FAILED_PRECONDITION...).
 * Anything that is not a PodvisorError is unexpected: logged with its stack, and answered
 * INTERNAL with its message.
 */
import * as grpc from '@grpc/grpc-js';
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
} from '../../errors';
import { logger } from '../../util/log';

const log = logger('cri');

/** A conflict that is about a name or object already there (ALREADY_EXISTS, not FAILED_PRECONDITION). */
export class AlreadyExistsError extends ConflictError {}

/** An ExecSync that ran past its timeout (DEADLINE_EXCEEDED, as containerd answers). */
export class ExecTimeoutError extends PodvisorError {}

const CODES: Array<[abstract new (...args: never[]) => PodvisorError, grpc.status]> = [
  [NotFoundError, grpc.status.NOT_FOUND],
  [ExecTimeoutError, grpc.status.DEADLINE_EXCEEDED],
  [InvalidArgumentError, grpc.status.INVALID_ARGUMENT],
  [AlreadyExistsError, grpc.status.ALREADY_EXISTS],
  [ConflictError, grpc.status.FAILED_PRECONDITION],
  [NotModifiedError, grpc.status.FAILED_PRECONDITION],
  [NotImplementedError, grpc.status.UNIMPLEMENTED],
  [UnavailableError, grpc.status.UNAVAILABLE],
  [UnauthorizedError, grpc.status.UNAUTHENTICATED],
  [ForbiddenError, grpc.status.PERMISSION_DENIED],
  [ResourceExhaustedError, grpc.status.RESOURCE_EXHAUSTED],
];

/** The gRPC status code of an error. */
export function grpcCodeOf(err: unknown): grpc.status {
  if (err instanceof PodvisorError) {
    for (const [Kind, code] of CODES) if (err instanceof Kind) return code;
  }
  return grpc.status.INTERNAL;
}

/** The error a handler passes to its callback (or emits on a stream) for `err`. */
export function toServiceError(err: unknown, method: string): Partial<grpc.ServiceError> {
  const code = grpcCodeOf(err);
  const message = err instanceof Error ? err.message : String(err);
  if (code === grpc.status.INTERNAL) log.error(`${method}: ${err instanceof Error ? (err.stack ?? message) : message}`);
  else log.debug(`${method}: ${grpc.status[code]}: ${message}`);
  return { code, details: message, message };
}
