/**
 * The small set of error classes that storage, VM, pod and API code throw.
 *
 * Code below the HTTP layer never picks a status code: it throws one of these, and the
 * single error middleware in src/api/v1.41/errors.ts maps the class to the status dockerd
 * would use and writes Docker's `{"message": "..."}` body. Anything that is not a
 * PodvisorError is unexpected: it is logged and answered with a 500.
 */
export abstract class PodvisorError extends Error {
  /** HTTP status dockerd uses for this class of failure. */
  abstract readonly status: number;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A named object (container, image, exec, VM, layer...) does not exist. 404. */
export class NotFoundError extends PodvisorError {
  readonly status = 404;
}

/** The request conflicts with current state (name taken, container running...). 409. */
export class ConflictError extends PodvisorError {
  readonly status = 409;
}

/** The caller's input is invalid (bad JSON, bad value, unknown signal...). 400. */
export class InvalidArgumentError extends PodvisorError {
  readonly status = 400;
}

/** Nothing to do: the object is already in the asked state (stop of a stopped container). 304. */
export class NotModifiedError extends PodvisorError {
  readonly status = 304;
}

/** The caller is not allowed (bad registry credentials...). 401. */
export class UnauthorizedError extends PodvisorError {
  readonly status = 401;
}

/** The caller may not do this (e.g. registry denied access). 403. */
export class ForbiddenError extends PodvisorError {
  readonly status = 403;
}

/** A feature Docker has that podvisor does not (yet). 501 with a message saying what. */
export class NotImplementedError extends PodvisorError {
  readonly status = 501;
}

/**
 * A resource the daemon depends on is unavailable or failed: a VM that did not boot, an
 * agent that stopped answering, a registry that is unreachable. 500, with a message the user
 * can act on (what failed, and the last lines of the VM console where there are any).
 */
export class UnavailableError extends PodvisorError {
  readonly status = 500;
}

/** True when `err` is a PodvisorError of the given class (works across module copies). */
export function isErrorOf<T extends PodvisorError>(
  err: unknown,
  cls: abstract new (...args: never[]) => T,
): err is T {
  return err instanceof cls;
}
