/**
 * The small set of error classes that storage, VM, pod and API code throw.
 *
 * They say what kind of failure happened, not how a transport reports it: code below a
 * front end never picks a status code. Each transport maps the classes to its own codes in
 * one table: HTTP's is src/api/http-status.ts (the statuses dockerd would use), shared by the
 * Docker API and the native API, which each write their own body; a gRPC front has a table
 * of its own. Anything that is not a PodvisorError is unexpected: a front end logs it and
 * reports an internal error.
 */
export abstract class PodvisorError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A named object (container, image, exec, VM, layer...) does not exist. */
export class NotFoundError extends PodvisorError {}

/** The request conflicts with current state (name taken, container running...). */
export class ConflictError extends PodvisorError {}

/** The caller's input is invalid (bad JSON, bad value, unknown signal...). */
export class InvalidArgumentError extends PodvisorError {}

/** Nothing to do: the object is already in the asked state (stop of a stopped container). */
export class NotModifiedError extends PodvisorError {}

/** The caller is not authenticated (bad registry credentials...). */
export class UnauthorizedError extends PodvisorError {}

/** The caller may not do this (e.g. registry denied access). */
export class ForbiddenError extends PodvisorError {}

/** A feature Docker has that podvisor does not (yet), with a message saying what. */
export class NotImplementedError extends PodvisorError {}

/** The caller holds too much of a bounded resource (open attach/exec sessions...); retry later. */
export class ResourceExhaustedError extends PodvisorError {}

/**
 * A resource the daemon depends on is unavailable or failed: a VM that did not boot, an
 * agent that stopped answering, a registry that is unreachable. The message is one the user
 * can act on (what failed, and the last lines of the VM console where there are any).
 */
export class UnavailableError extends PodvisorError {}

/**
 * A fault reported as a plain error: 500 whoever is at fault, in its own words, as dockerd
 * answers its Go errors of no errdefs kind (a Binds entry or a link it cannot read). Thrown
 * where the request's own wording decides it, so that every front answers as dockerd does.
 */
export class PlainError extends PodvisorError {}
