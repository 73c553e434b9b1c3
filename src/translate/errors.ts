/**
 * dockerd's wording of the pod layer's and storage's failures (src/pod/errors.ts,
 * src/storage/errors.ts): those layers say what happened in their own words and fields; the
 * Docker front end answers as dockerd would.
 */
import {
  CheckpointError,
  JoinedPodPauseError,
  JoinTargetNotRunningError,
  NameInUseError,
  NoSuchPodError,
  PodNotPausedError,
  PodNotRunningError,
  PodPausedError,
} from '../pod/errors';
import { shortId } from '../storage/digest';
import { podFailureMessage } from './pod-errors';
import {
  ImageDeleteConflictError,
  LoginRefusedError,
  ManifestNotFoundError,
  NoSuchImageError,
  PullForbiddenError,
  PullUnauthorizedError,
  ReferenceInUseError,
  RegistryFailureError,
} from '../storage/errors';
import {
  InvalidVolumeError,
  NoSuchVolumeDriverError,
  NoSuchVolumeError,
  VolumeInUseError,
} from '../storage/volumes-errors';

/** dockerd's message for a volume store failure (volume/service's errors), or undefined. */
function volumeMessage(err: unknown): string | undefined {
  if (err instanceof NoSuchVolumeError) return `${err.op} ${err.volume}: no such volume`;
  if (err instanceof NoSuchVolumeDriverError)
    return `create ${err.volume}: error looking up volume plugin ${err.driver}: plugin "${err.driver}" not found`;
  if (err instanceof VolumeInUseError) return `remove ${err.volume}: volume is in use - [${err.users.join(', ')}]`;
  if (err instanceof InvalidVolumeError) {
    switch (err.reason) {
      case 'name-short':
        return `create ${err.volume}: volume name is too short, names should be at least two alphanumeric characters`;
      case 'name-chars':
        return `create ${err.volume}: "${err.volume}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`;
      case 'option':
        return `create ${err.volume}: invalid option: "${err.option}"`;
      case 'missing-option':
        return `create ${err.volume}: missing required option: "${err.option}"`;
      case 'size':
        return `create ${err.volume}: invalid size: '${err.option}'`;
      case 'no-quota':
        return `create ${err.volume}: quota size requested but no quota support`;
    }
  }
  return undefined;
}

/** dockerd's message for a storage failure, or undefined when `err` is not one. */
function storageMessage(err: unknown): string | undefined {
  const volume = volumeMessage(err);
  if (volume !== undefined) return volume;
  if (err instanceof NoSuchImageError) return `No such image: ${err.ref}`;
  if (err instanceof ImageDeleteConflictError) {
    const b = err.blocker;
    const why =
      b.kind === 'other-references'
        ? 'image is referenced in multiple repositories'
        : b.kind === 'child-images'
          ? 'image has dependent child images'
          : `image is being used by ${b.kind === 'running-container' ? 'running' : 'stopped'} container ${b.containerId.slice(0, 12)}`;
    return `conflict: unable to delete ${shortId(err.imageId)} (${err.forcible ? 'must be forced' : 'cannot be forced'}) - ${why}`;
  }
  if (err instanceof ReferenceInUseError) {
    return `conflict: unable to remove repository reference "${err.ref}" (must force) - container ${err.containerId.slice(0, 12)} is using its referenced image ${shortId(err.imageId)}`;
  }
  if (err instanceof PullUnauthorizedError || err instanceof PullForbiddenError) {
    const detail = err.registryDetail ?? 'denied: requested access to the resource is denied';
    return `pull access denied for ${err.repository}, repository does not exist or may require 'docker login': ${detail}`;
  }
  if (err instanceof ManifestNotFoundError)
    return `manifest for ${err.ref} not found: ${err.registryDetail ?? 'manifest unknown: manifest unknown'}`;
  if (err instanceof RegistryFailureError) return `error from registry: ${err.detail}`;
  if (err instanceof LoginRefusedError) {
    return `login attempt to ${err.url} failed with status: ${err.status} ${err.status === 401 ? 'Unauthorized' : ''}`.trim();
  }
  return undefined;
}

/** dockerd's message for `err`, or undefined when `err` is not a pod-layer or storage failure. */
export function dockerMessage(err: unknown): string | undefined {
  const stored = storageMessage(err) ?? podFailureMessage(err);
  if (stored !== undefined) return stored;
  if (err instanceof NoSuchPodError) return `No such container: ${err.ref}`;
  if (err instanceof CheckpointError) return checkpointMessage(err);
  if (err instanceof PodNotRunningError) {
    const base = `Container ${err.podId} is not running`;
    return err.operation === 'kill' ? `Cannot kill container: ${err.podId}: ${base}` : base;
  }
  if (err instanceof PodPausedError) {
    switch (err.operation) {
      case 'start':
        return 'cannot start a paused container, try unpause instead';
      case 'pause':
        return `Container ${err.podId} is already paused`;
      case 'exec':
        return `Container ${err.podId} is paused, unpause the container before exec`;
      // dockerd lists a paused container's processes; podvisor's guest is frozen with it.
      case 'top':
        return `Container ${err.podId} is paused (its VM is frozen), unpause the container before top`;
      // Block mode: the files of its writable layer are reached through its frozen guest.
      case 'archive':
        return `Container ${err.podId} is paused (its VM is frozen) and keeps its writable layer on a block device (--rootfs-disk), unpause the container before copying, diffing, exporting or committing its files`;
    }
  }
  if (err instanceof PodNotPausedError) return `Container ${err.podId} is not paused`;
  if (err instanceof JoinTargetNotRunningError)
    return `cannot join network of a non running container: ${err.targetId}`;
  if (err instanceof JoinedPodPauseError)
    return `Cannot pause container ${err.podId}: it runs in the VM of the container it joined (--network/--pid/--ipc container:), which would freeze too`;
  if (err instanceof NameInUseError) {
    const conflict = `Conflict. The container name "/${err.podName}" is already in use by container "${err.holderId}". You have to remove (or rename) that container to be able to reuse that name.`;
    return err.renaming ? `Error when allocating new name: ${conflict}` : conflict;
  }
  return undefined;
}

/** dockerd 20.10's words for a refused checkpoint operation (its daemon/checkpoint.go, start.go). */
function checkpointMessage(err: CheckpointError): string {
  const { ref, checkpoint: name, detail } = err;
  switch (err.refusal) {
    case 'not-running':
      return `Container ${ref} not running`;
    case 'tty':
      return 'checkpoint not support on containers with tty';
    case 'bad-name':
      return `Invalid checkpoint ID (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`;
    case 'exists':
      return `checkpoint with name ${name} already exists for container ${ref}`;
    case 'missing':
      return `checkpoint ${name} does not exist for container ${ref}`;
    case 'cannot-save':
      return `Cannot checkpoint container ${ref}: ${detail}`;
    case 'cannot-restore':
      return `Cannot restore container ${ref} from checkpoint ${name}: ${detail}`;
  }
}
