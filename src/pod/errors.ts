/**
 * The pod layer's own failures: the generic classes of src/errors.ts, with a neutral message
 * and the facts as fields, so that each front end words them its own way (the Docker front
 * end renders dockerd's wording in src/translate/errors.ts).
 */
import { ConflictError, NotFoundError } from '../errors';

/** No pod has this id, name or id prefix. */
export class NoSuchPodError extends NotFoundError {
  constructor(readonly ref: string) {
    super(`no pod matches ${JSON.stringify(ref)}`);
  }
}

/** The operation needs a running pod. */
export class PodNotRunningError extends ConflictError {
  /** `operation`: the one refused, when its front end words the refusal its own way. */
  constructor(
    readonly podId: string,
    readonly operation?: 'kill',
  ) {
    super(`pod ${podId} is not running`);
  }
}

/** The operation is refused because the pod is paused (or, for pause, already is). */
export class PodPausedError extends ConflictError {
  constructor(
    readonly podId: string,
    readonly operation: 'start' | 'pause' | 'exec' | 'top',
  ) {
    super(`pod ${podId} is paused: ${operation} refused`);
  }
}

/** Unpause of a pod that is not paused. */
export class PodNotPausedError extends ConflictError {
  constructor(readonly podId: string) {
    super(`pod ${podId} is not paused`);
  }
}

/** The name belongs to another pod. */
export class NameInUseError extends ConflictError {
  /** `renaming`: the name was asked for by a rename (not a create). */
  constructor(
    readonly podName: string,
    readonly holderId: string,
    readonly renaming = false,
  ) {
    super(`name ${JSON.stringify(podName)} is in use by pod ${holderId}`);
  }
}

/** The pod has no container of this id or name. */
export class NoSuchContainerInPodError extends NotFoundError {
  constructor(
    readonly podId: string,
    readonly ref: string,
  ) {
    super(`pod ${podId} has no container ${JSON.stringify(ref)}`);
  }
}

/** The operation needs that container of the pod to be running. */
export class ContainerNotRunningError extends ConflictError {
  constructor(
    readonly podId: string,
    readonly containerId: string,
  ) {
    super(`container ${containerId} of pod ${podId} is not running`);
  }
}

/** A pod that runs in another pod's VM cannot start while that pod does not run. */
export class JoinTargetNotRunningError extends ConflictError {
  constructor(
    readonly podId: string,
    readonly targetId: string,
  ) {
    super(`pod ${podId} cannot join pod ${targetId}: it is not running`);
  }
}

/** A pod that runs in another pod's VM cannot pause it (the whole VM would freeze). */
export class JoinedPodPauseError extends ConflictError {
  constructor(readonly podId: string) {
    super(`pod ${podId} runs in another pod's VM: pausing it would freeze that pod too`);
  }
}
