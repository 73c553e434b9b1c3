/**
 * What a front hands the creation door (./door.ts) beside its neutral request: the pod's name
 * and, for a front with words of its own, its part of the create, which the door calls at its
 * places in the one sequence. The Docker front's part (src/api/v1.41/create/docker-front.ts)
 * names dockerd's faults in dockerd's order, keeps Docker's record of the create and words the
 * options a saved state cannot take as the CLI's flags; the CRI front needs none.
 */
import type { ImageRecord } from '../storage/types';
import type { MergedContainer } from '../translate/request/image-merge';
import type { ContainerRequest } from '../translate/request/container-request';
import type { TranslateOptions, Translated } from '../translate/translation';
import type { SavedContainerState } from '../pod/service';

/** The options of a create at the door (see the module comment). */
export interface CreateOptions {
  /** The pod's name as asked (a leading '/' allowed); absent: the pod layer makes one. */
  name?: string;
  /** The front's own part; absent: the request is whole, and the door needs nothing else. */
  front?: CreateFront;
}

/** The request a front's part completes once the image is merged, and the record it keeps. */
export interface FrontCompletion {
  /** The whole neutral request (the door's request was its container's settings). */
  request: ContainerRequest;
  /** The front's record of the create, kept with the pod (PodRecord.frontend). */
  record: unknown;
}

/** A front's own part of a create (see the module comment); each member is optional. */
export interface CreateFront {
  /**
   * The pod whose VM the container joins, as the front asked (Docker's `--network`, `--pid`
   * or `--ipc container:X`); absent: the request's own network join, if any.
   */
  joinPod?: { pod: string; pid: boolean; ipc?: boolean };
  /**
   * Once the image is found, before the name is checked free: the front's checks of what
   * must exist now (Docker's container to join and links), looking names up in `pods`.
   */
  checkAfterImage?(pods: { get(ref: string): unknown }): void;
  /**
   * Once the name is free, before the translation: the front's faults that need the
   * container merged with its image, in the front's order, and the whole request and record
   * made from that merge (the one the translation then uses).
   */
  complete?(merged: MergedContainer, image: ImageRecord, opts: TranslateOptions): FrontCompletion;
  /** Labels the door gave the pod (a warm start's mark), for the front's record too. */
  addLabels?(labels: Record<string, string>): void;
  /** How the volume step resolves the create's volumes beyond its mounts (Docker's options). */
  volumes?: FrontVolumeOptions;
  /**
   * Present when a create of this front may start from a saved state (a checkpoint image's,
   * a warm start's): the first option of the create that the saved processes cannot take,
   * in the front's words, or undefined when none (`t` the translated pod).
   */
  refusedBySavedState?(t: Translated, saved: SavedContainerState): string | undefined;
}

/** The volume step's options a front may set (./plan.ts CreationPlan has the same fields). */
export interface FrontVolumeOptions {
  /** Containers whose mounts this one takes too (Docker's --volumes-from). */
  from?: readonly string[];
  /** The driver of the anonymous volumes (Docker's --volume-driver); absent: the local one. */
  anonymousDriver?: string;
  /** Labels of the anonymous volumes made for the image's and the request's volume paths. */
  anonymousLabels?: Record<string, string>;
}
