/**
 * A Docker create at the creation door (src/engine/door.ts): the body the Docker front parsed
 * (../docker/create-body.ts) becomes its container's settings (the neutral
 * request the door merges with the image once) and the Docker front's part of the create
 * (src/engine/front.ts CreateFront), which the door calls at dockerd's places:
 *
 *   joinPod            --network/--pid/--ipc container:X (their faults named now, before the image)
 *   checkAfterImage    the container a --pid/--ipc names, then each link: dockerd's 400s
 *   complete           from the merge: dockerd's faults in its order (no command, the log driver,
 *                      a security option, ...: ../docker/docker-request.ts), the
 *                      whole neutral request, and the Docker record inspect shows
 *   addLabels          a warm start's mark, in the record's Config.Labels too
 *   volumes            --volumes-from, --volume-driver, dockerd 26's anonymous-volume label
 *   refusedBySavedState the option a checkpoint image's or warm start's processes cannot take,
 *                      as the CLI's flag (./saved-state-refusal.ts)
 */
import { InvalidArgumentError, NotFoundError } from '../../../errors';
import type { CreateFront, CreationService, FrontCompletion } from '../../../engine/service';
import type { PodRecord } from '../../../pod/types';
import type { ImageRecord } from '../../../storage/types';
import { ANONYMOUS_VOLUME_LABEL } from '../../../storage/volumes';
import type { CreateRequest } from '../docker/create-body';
import { completeDockerRequest, containerOf } from '../docker/docker-request';
import type { DockerFrontend } from '../docker/docker-types';
import { joinRequestOf } from '../docker/join';
import { parseLinks } from '../../../translate/network/links';
import type { ContainerRequest } from '../../../translate/request/container-request';
import type { MergedContainer } from '../../../translate/request/image-merge';
import type { TranslateOptions } from '../../../translate/translation';
import { refusedBySavedState } from './saved-state-refusal';

/**
 * Create the container of parsed create body `request` (its name's form checked already),
 * named `name`, through the creation door of `engine`.
 */
export function createDockerContainer(
  engine: Pick<CreationService, 'create'>,
  request: CreateRequest,
  name?: string,
): Promise<PodRecord> {
  const container = containerOf(request);
  return engine.create(container, { ...(name ? { name } : {}), front: dockerFront(request, container) });
}

/**
 * The Docker front's part of the create of `request` (see the module comment), whose
 * container's settings `container` the door takes as its request.
 */
export function dockerFront(request: CreateRequest, container: ContainerRequest): CreateFront {
  const join = joinRequestOf(request.config, request.hostConfig);
  const hc = request.hostConfig;
  let record: DockerFrontend | undefined;
  return {
    ...(join ? { joinPod: { pod: join.target, pid: join.pid, ...(join.ipc ? { ipc: true } : {}) } } : {}),
    checkAfterImage(pods) {
      if (join?.checkAtCreate) containerToJoin(pods, join.target);
      for (const l of parseLinks(hc.Links)) {
        try {
          pods.get(l.name);
        } catch {
          throw new InvalidArgumentError(`could not get container for ${l.name}: No such container: ${l.name}`);
        }
      }
    },
    complete(merged: MergedContainer, image: ImageRecord, opts: TranslateOptions): FrontCompletion {
      const done = completeDockerRequest(request, container, merged, image, opts);
      record = done.record;
      return done;
    },
    addLabels(labels) {
      if (record) record.config.Labels = { ...record.config.Labels, ...labels };
    },
    volumes: {
      from: hc.VolumesFrom ?? [],
      ...(hc.VolumeDriver ? { anonymousDriver: hc.VolumeDriver } : {}),
      // dockerd 26 labels the anonymous volumes of Config.Volumes at every version; podvisor
      // from API 1.42, so that 1.41 stays as dockerd 20.10.
      ...(request.asDockerd26 ? { anonymousLabels: { [ANONYMOUS_VOLUME_LABEL]: '' } } : {}),
    },
    refusedBySavedState: (t, saved) => refusedBySavedState(request, t, saved),
  };
}

/** The container a --pid or --ipc names must be there: dockerd's 400 "No such container: X" when it is not. */
function containerToJoin(pods: { get(ref: string): unknown }, target: string): void {
  try {
    pods.get(target);
  } catch (err) {
    if (err instanceof NotFoundError) throw new InvalidArgumentError(`No such container: ${target}`);
    throw err;
  }
}
