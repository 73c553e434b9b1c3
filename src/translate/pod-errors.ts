/**
 * dockerd's and runc's wording of the pod layer's typed failures (src/pod/errors.ts): the pod
 * layer keeps the facts in fields (and, for a failed start, in the container's state:
 * PodState.failure) with a neutral message; the Docker front end answers with the text dockerd
 * would, which clients match on (the docker CLI derives `docker run`'s exit status from runc's
 * words). src/translate/errors.ts calls this for every error it words.
 */
import {
  AlreadyConnectedError,
  AutoRemoveRestartPolicyError,
  DefaultNetworkAliasError,
  NoneModeConnectError,
  NoSpareNicError,
  NotConnectedError,
  failureMessage,
  failureOf,
  OperationPreemptedError,
  PodUpdateRefusedError,
  RemoveRunningPodError,
  RenameToSameNameError,
} from '../pod/errors';
import type { PodFailure, PodState } from '../pod/types';

/** dockerd's text for a failure's facts. */
export function failureText(f: PodFailure): string {
  switch (f.kind) {
    case 'process-start': {
      // runc's frame of its own exec failure; dockerd's frame of an exec's.
      const runc = f.guestExec ? `unable to start container process: ${f.detail}: unknown` : f.detail;
      return f.exec ? `OCI runtime exec failed: exec failed: ${runc}` : runc;
    }
    case 'log-config':
      return `failed to initialize logging driver: ${f.detail}`;
    case 'link':
      switch (f.reason) {
        case 'no-such-pod':
          return `could not get container for ${f.target}: No such container: ${f.target}`;
        case 'not-running':
          return `Cannot link to a non running container: /${f.target} AS /${f.pod}/${f.alias}`;
        case 'not-on-default-network':
          return `Cannot link to /${f.target}, as it does not belong to the default network`;
      }
      break;
    case 'bind-source':
      return f.changed
        ? `invalid mount config for type "${f.mountType}": bind source path ${f.source} has changed since the container was created (${f.changed}); podvisor follows no symlink in a bind source after create: create the container again to bind a new target`
        : `invalid mount config for type "${f.mountType}": bind source path does not exist: ${f.source}`;
    case 'container-setup':
      // runc's words (its check of the config, or its container init's), as dockerd passes them on.
      return f.duringInit
        ? `unable to start container process: error during container init: ${f.detail}: unknown`
        : `${f.detail}: unknown`;
  }
  return failureMessage(f);
}

/**
 * A container state's error as dockerd shows it (State.Error, a wait's Error.Message): the
 * failure's text while the state's error is that failure's, else the error as recorded.
 */
export function stateErrorText(s: Pick<PodState, 'error' | 'failure'>): string {
  return s.failure && s.error === failureMessage(s.failure) ? failureText(s.failure) : s.error;
}

/** dockerd's message for a typed failure of the pod layer (besides those of ./errors.ts), or undefined. */
export function podFailureMessage(err: unknown): string | undefined {
  const f = failureOf(err);
  if (f) return failureText(f);
  if (err instanceof RemoveRunningPodError)
    return `You cannot remove a running container ${err.podId}. Stop the container before attempting removal or force remove`;
  if (err instanceof OperationPreemptedError) {
    const done = err.by === 'kill' ? 'killed' : 'removed';
    return err.operation === 'start'
      ? `Cannot start container ${err.podId}: it was ${done} while starting`
      : `Cannot restart container ${err.podId}: it was ${done} while the restart was pending`;
  }
  if (err instanceof NoneModeConnectError)
    return 'container cannot be connected to multiple networks with one of the networks in private (none) mode';
  if (err instanceof DefaultNetworkAliasError)
    return 'network-scoped alias is supported only for containers in user defined networks';
  if (err instanceof AlreadyConnectedError)
    return `endpoint with name ${err.podName} already exists in network ${err.network}`;
  if (err instanceof NoSpareNicError)
    return `container ${err.podName} has no spare network interface: its VM has ${err.nics}, all in use (disconnect it from a network first)`;
  if (err instanceof NotConnectedError) return `container ${err.podId} is not connected to the network ${err.network}`;
  if (err instanceof RenameToSameNameError) return 'Renaming a container with the same name as its current name';
  if (err instanceof AutoRemoveRestartPolicyError)
    return 'Restart policy cannot be updated because AutoRemove is enabled for the container';
  if (err instanceof PodUpdateRefusedError) return `Cannot update container ${err.podId}: ${err.reason}`;
  return undefined;
}
