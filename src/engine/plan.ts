/**
 * What every entry point of the creation service makes of its request before anything is
 * stored (a CreationPlan), and the checks and inputs they share: a new pod id, the name check,
 * and the translation's options from the engine's dependencies.
 */
import type { CheckpointImages } from './checkpoint-images';
import type { WarmStarts } from './warm-starts';
import * as crypto from 'node:crypto';
import { NotFoundError } from '../errors';
import { NameInUseError } from '../pod/errors';
import type { EventBus } from '../pod/events';
import type { PodService } from '../pod/service';
import type { EnginePods } from './container-names';
import type { PodLogConfig, PodRecord, PodSpec, PodVmSize } from '../pod/types';
import type { ContainerArchive } from '../storage/archive/service';
import type { ImageLookup } from '../storage/types';
import type { VolumeStore } from '../storage/volumes';
import type { TranslateOptions } from '../translate/translation';

/** What the creation service is built on; filled in by the daemon's wiring or a test with fakes. */
export interface EngineDeps {
  /**
   * The pods. The daemon hands in ./container-names.ts containerNameView of them, so that the
   * names a request refers to (links, --volumes-from, a container to join, a taken name) reach
   * every container of a pod.
   */
  pods: EnginePods;
  /** Image lookup (NoSuchImageError for an image that is not local). */
  images: ImageLookup;
  /** VM size of pods that set no limits (--vm-memory, --vm-cpus). */
  vmDefaults: PodVmSize;
  /** CPUs of the host (the bound of a request's CPUs). */
  hostCpus: number;
  /** The daemon's default log driver and options (--log-driver, --log-opt; default json-file). */
  logDefaults?: PodLogConfig;
  /**
   * The daemon's `--storage-opt image=disk` (the default in block mode): a create that joins no
   * other container's VM and names no `image` storage option reads its image from a disk
   * (defaultImageOnDisk).
   */
  imageOnDiskByDefault?: boolean;
  /**
   * The host's networks, once open: pods join the default bridge or the network they name.
   * Absent, or resolving to undefined: the host has none, and pods get loopback only.
   */
  networks?: Promise<TranslateOptions['networks'] | undefined>;
  /** The volume store and where volume events go (absent: a volume mount is refused, 501). */
  volumes?: { store: VolumeStore; events?: EventBus };
  /** Container roots, to fill new volumes from the image (absent: they start empty). */
  archive?: ContainerArchive;
  /**
   * Where a volume kept on a new container's own disk is filled from the image (the storage
   * layer's RootfsManager.diskVolumeSeed); absent: such a volume starts empty.
   */
  diskVolumeSeed?: (containerId: string, volume: string) => Promise<string>;
  /** Checkpoint images' saved states (./checkpoint-images.ts); absent: every image starts cold. */
  checkpointImages?: Pick<CheckpointImages, 'savedStateFor'>;
  /** Warm starts (./warm-starts.ts); absent: none. */
  warmStarts?: Pick<WarmStarts, 'wanted' | 'keyOf' | 'stateFor' | 'expectFirst'>;
}

/** A request made into a pod, checked, before anything is stored. */
export interface CreationPlan {
  spec: PodSpec;
  /**
   * The front's own record kept with the pod (PodRecord.frontend, which the engine does not
   * read): a Docker create's Config and HostConfig as created; none for a neutral request.
   */
  frontend?: unknown;
  /** The pod's name as asked (a leading '/' allowed); absent: the pod layer makes one. */
  name?: string;
  /**
   * Present for a Docker create: its volumes are resolved in the volume store (anonymous ones
   * for Config.Volumes, named ones made when missing), taking the mounts of these containers
   * too (HostConfig.VolumesFrom).
   */
  volumesFrom?: readonly string[];
  /** Paths that get an anonymous volume (Translated.anonymousVolumes). */
  anonymousVolumes?: string[];
  /** Labels of the anonymous volumes made for Config.Volumes (dockerd 26's com.docker.volume.anonymous). */
  anonymousVolumeLabels?: Record<string, string>;
  /** The driver of the anonymous volumes (a Docker create's --volume-driver); absent: the local one. */
  anonymousVolumeDriver?: string;
  /** Where the volumes live (the `volumes` storage option: ../translate/request/policy/storage-opts.ts). */
  volumePlacement?: 'disk' | 'share';
}

/**
 * Give the main container of a translated pod the daemon's default image disk: only when the
 * daemon has it and the create named no `image` storage option of its own (`chose`). A pod
 * that joins another's VM gets it too; the pod layer gives it the disks only where
 * that VM can take them (src/pod/lifecycle/joined-disks.ts), and drops it otherwise.
 */
export function defaultImageOnDisk(
  deps: Pick<EngineDeps, 'imageOnDiskByDefault'>,
  spec: { containers: Array<{ imageOnDisk?: boolean }> },
  chose = false,
): void {
  if (deps.imageOnDiskByDefault && !chose) spec.containers[0].imageOnDisk = true;
}

/**
 * Give every container of a pod file's pod the daemon's default image disk (init containers
 * included): the pod layer then puts each on disks hot-plugged on the pod's VM where that VM
 * can take them (src/pod/lifecycle/joined-disks.ts), and drops it otherwise.
 */
export function defaultImageOnDiskForAll(
  deps: Pick<EngineDeps, 'imageOnDiskByDefault'>,
  spec: { containers: Array<{ imageOnDisk?: boolean }> },
): void {
  if (deps.imageOnDiskByDefault) for (const c of spec.containers) c.imageOnDisk = true;
}

/** A new pod id (64 hex characters). */
export function newPodId(): string {
  return crypto.randomBytes(32).toString('hex');
}

/**
 * Fail with NameInUseError when pod or container `name` (a leading '/' allowed) exists, before
 * any storage is touched (the pod layer checks again when it records the pod).
 */
export function checkNameFree(pods: Pick<PodService, 'get'>, name: string): void {
  const n = name.replace(/^\//, '');
  let holder: PodRecord | undefined;
  try {
    holder = pods.get(n);
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
    return;
  }
  if (holder.name === n) throw new NameInUseError(n, holder.id);
}

/** The translation's options: the daemon's defaults and the host's networks (`logDefaults`: a fixed log instead). */
export async function translateOptions(deps: EngineDeps, logDefaults = deps.logDefaults): Promise<TranslateOptions> {
  const networks = await deps.networks;
  return {
    defaults: deps.vmDefaults,
    hostCpus: deps.hostCpus,
    ...(logDefaults ? { logDefaults } : {}),
    ...(networks ? { networks } : {}),
  };
}

/** Let other requests run between the steps of a long create. */
export function yieldLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
