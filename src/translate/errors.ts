/**
 * dockerd's wording of the pod layer's failures (src/pod/errors.ts): the pod layer says what
 * happened in its own words and fields; the Docker front end answers as dockerd would.
 */
import { NameInUseError, NoSuchPodError, PodNotPausedError, PodNotRunningError, PodPausedError } from '../pod/errors';

/** dockerd's message for `err`, or undefined when `err` is not a pod-layer failure. */
export function dockerMessage(err: unknown): string | undefined {
  if (err instanceof NoSuchPodError) return `No such container: ${err.ref}`;
  if (err instanceof PodNotRunningError) {
    const base = `Container ${err.podId} is not running`;
    return err.operation === 'kill' ? `Cannot kill container: ${err.podId}: ${base}` : base;
  }
  if (err instanceof PodPausedError) {
    switch (err.operation) {
      case 'start': return 'cannot start a paused container, try unpause instead';
      case 'pause': return `Container ${err.podId} is already paused`;
      case 'exec': return `Container ${err.podId} is paused, unpause the container before exec`;
    }
  }
  if (err instanceof PodNotPausedError) return `Container ${err.podId} is not paused`;
  if (err instanceof NameInUseError) {
    const conflict = `Conflict. The container name "/${err.podName}" is already in use by container "${err.holderId}". You have to remove (or rename) that container to be able to reuse that name.`;
    return err.renaming ? `Error when allocating new name: ${conflict}` : conflict;
  }
  return undefined;
}
