/**
 * The pod layer's own failures: the generic classes of src/errors.ts, with a neutral message
 * and the facts as fields, so that each front end words them its own way (the Docker front
 * end renders dockerd's wording in src/translate/errors.ts).
 */
import { ConflictError, ForbiddenError, InvalidArgumentError, NotFoundError, UnavailableError } from '../errors';
import type { LinkFailure, PodFailure } from './types';

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
    readonly operation: 'start' | 'pause' | 'exec' | 'top' | 'archive',
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

/** A running pod is not removed without `force`. */
export class RemoveRunningPodError extends ConflictError {
  constructor(readonly podId: string) {
    super(`pod ${podId} is running: stop it first, or remove it with force`);
  }
}

/** A start, or a pending restart, that a kill or a forced removal overtook. */
export class OperationPreemptedError extends ConflictError {
  constructor(
    readonly podId: string,
    readonly operation: 'start' | 'restart',
    readonly by: 'kill' | 'remove',
  ) {
    super(`pod ${podId}: the ${operation} was overtaken by a ${by === 'kill' ? 'kill' : 'forced removal'}`);
  }
}

/** A connect of a pod whose network mode is none (loopback only) to a network. */
export class NoneModeConnectError extends InvalidArgumentError {
  constructor(readonly podId: string) {
    super(`pod ${podId} has no networks (mode none): it cannot be connected to one`);
  }
}

/** Network-scoped aliases asked on the default network, which has none. */
export class DefaultNetworkAliasError extends InvalidArgumentError {
  constructor(readonly network: string) {
    super(`the default network ${network} has no network-scoped aliases`);
  }
}

/** A connect of a pod to a network it is on (or planned to join) already. */
export class AlreadyConnectedError extends ForbiddenError {
  constructor(
    readonly podName: string,
    readonly network: string,
  ) {
    super(`pod ${podName} is on network ${network} already`);
  }
}

/** A connect of a running pod whose VM has no network interface left. */
export class NoSpareNicError extends ConflictError {
  constructor(
    readonly podName: string,
    readonly nics: number,
  ) {
    super(`pod ${podName} has no spare network interface: its VM has ${nics}, all in use`);
  }
}

/** A disconnect of a pod from a network it is not on. */
export class NotConnectedError extends UnavailableError {
  constructor(
    readonly podId: string,
    readonly network: string,
  ) {
    super(`pod ${podId} is not on network ${network}`);
  }
}

/** A rename to the name the pod has already. */
export class RenameToSameNameError extends InvalidArgumentError {
  constructor(
    readonly podId: string,
    readonly podName: string,
  ) {
    super(`pod ${podId} is named ${JSON.stringify(podName)} already`);
  }
}

/** An update of the restart policy of a pod that is removed when it exits. */
export class AutoRemoveRestartPolicyError extends InvalidArgumentError {
  constructor(readonly podId: string) {
    super(`pod ${podId} is removed when it exits: its restart policy cannot be updated`);
  }
}

/** An update the running pod's VM cannot take; `reason` says why, in the pod layer's words. */
export class PodUpdateRefusedError extends ConflictError {
  constructor(
    readonly podId: string,
    readonly reason: string,
  ) {
    super(`pod ${podId} cannot be updated: ${reason}`);
  }
}

/**
 * A failure kept with a container's state (PodState.failure) besides its neutral message, so
 * that a front end can word it its own way when it shows the state later (see ./types.ts).
 */
export function failureMessage(f: PodFailure): string {
  switch (f.kind) {
    case 'process-start':
      return `${f.exec ? 'exec' : 'process'} could not start: ${f.detail}`;
    case 'log-config':
      return `the log settings cannot be used: ${f.detail}`;
    case 'link':
      return f.reason === 'no-such-pod'
        ? `link to ${f.target}: no such pod`
        : f.reason === 'not-running'
          ? `link to ${f.target} as ${f.alias}: it is not running`
          : `link to ${f.target}: it is not on the default network`;
    case 'bind-source':
      return f.changed
        ? `bind source ${f.source} has changed since the container was created (${f.changed}): the host binds only the path resolved at create and follows no symlink in it; create the container again to bind a new target`
        : `bind source ${f.source} does not exist`;
    case 'container-setup':
      return `the container could not be set up: ${f.detail}`;
  }
}

/** The guest could not start a process (the container's init or an exec): facts in `failure`. */
export class ProcessStartError extends InvalidArgumentError {
  readonly failure: PodFailure & { kind: 'process-start' };
  constructor(detail: string, exec: boolean, guestExec: boolean, options?: { cause?: unknown }) {
    const failure = { kind: 'process-start' as const, detail, exec, guestExec };
    super(failureMessage(failure), options);
    this.failure = failure;
  }
}

/**
 * The guest refused or failed a container's settings before its command ran (a sysctl outside
 * its namespaces, one that cannot be written: ./security/security.ts); a server error, as in dockerd.
 */
export class ContainerSetupError extends UnavailableError {
  readonly failure: PodFailure & { kind: 'container-setup' };
  constructor(detail: string, duringInit: boolean, options?: { cause?: unknown }) {
    const failure = { kind: 'container-setup' as const, detail, duringInit };
    super(failureMessage(failure), options);
    this.failure = failure;
  }
}

/** A pod's log settings (sizes, counts) cannot be used at its start. */
export class LogConfigError extends UnavailableError {
  readonly failure: PodFailure & { kind: 'log-config' };
  constructor(detail: string) {
    const failure = { kind: 'log-config' as const, detail };
    super(failureMessage(failure));
    this.failure = failure;
  }
}

/** A legacy link of a pod cannot be made at its start (a server error, as in dockerd). */
export class LinkFailedError extends UnavailableError {
  readonly failure: PodFailure & { kind: 'link' };
  constructor(reason: LinkFailure['reason'], target: string, pod: string, alias: string) {
    const failure = { kind: 'link' as const, reason, target, pod, alias };
    super(failureMessage(failure));
    this.failure = failure;
  }
}

/**
 * A bind mount's host source does not exist (at create for `--mount`, at start otherwise), or,
 * with `changed`, its path resolved at create now holds a symlink or a file of another kind.
 */
export class BindSourceMissingError extends InvalidArgumentError {
  readonly failure: PodFailure & { kind: 'bind-source' };
  constructor(source: string, mountType: string, changed?: string) {
    const failure = { kind: 'bind-source' as const, source, mountType, ...(changed ? { changed } : {}) };
    super(failureMessage(failure));
    this.failure = failure;
  }
}

/** The facts of a failure that a container's state keeps, when `err` is one of those above. */
export function failureOf(err: unknown): PodFailure | undefined {
  const typed =
    err instanceof ProcessStartError ||
    err instanceof LogConfigError ||
    err instanceof LinkFailedError ||
    err instanceof BindSourceMissingError ||
    err instanceof ContainerSetupError;
  return typed ? err.failure : undefined;
}

/** Why a checkpoint operation was refused (./checkpoints/checkpoints.ts). */
export type CheckpointRefusal =
  /** create: the pod does not run. */
  | 'not-running'
  /** create: its main process has a terminal (dockerd refuses those too). */
  | 'tty'
  /** create: the name is not a valid checkpoint name. */
  | 'bad-name'
  /** create: the pod has a checkpoint of this name. */
  | 'exists'
  /** remove, or a start from it: the pod has no checkpoint of this name. */
  | 'missing'
  /** create: the VM's state cannot be saved now (`detail`: the hypervisor's reasons). */
  | 'cannot-save'
  /** a start from it: the checkpoint cannot be restored (`detail` says why). */
  | 'cannot-restore';

/**
 * A checkpoint operation refused: `ref` as the caller named the pod, `checkpoint` the checkpoint's name.
 * An UnavailableError, as dockerd answers each of these with a plain 500.
 */
export class CheckpointError extends UnavailableError {
  constructor(
    readonly refusal: CheckpointRefusal,
    readonly ref: string,
    readonly checkpoint: string,
    readonly detail = '',
  ) {
    super(`checkpoint ${JSON.stringify(checkpoint)} of pod ${ref}: ${refusal}${detail ? `: ${detail}` : ''}`);
  }
}
