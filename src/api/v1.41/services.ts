/**
 * What the HTTP layer is given to serve requests: one service object per Docker resource.
 * Route modules receive this and nothing global. Each field is filled in by the daemon's
 * wiring (src/daemon/main.ts) or by a test with fakes.
 */
import type { BlkioWeightSupport } from './docker/blkio-weight';
import type { ImageService } from '../../storage/service';
import type { ImageLookup } from '../../storage/types';
import type { PodService } from '../../pod/service';
import type { CreationService } from '../../engine/service';
import type { CheckpointImages } from '../../engine/checkpoint-images';
import type { WarmStarts } from '../../engine/warm-starts';
import type { EventBus } from '../../pod/events';
import type { PodVmSize } from '../../translate/request/policy/vm-size';
import type { NetworkManager } from '../../net/manager';
import type { VolumeStore } from '../../storage/volumes';
import type { ContainerArchive } from '../../storage/archive/service';

export interface ApiServices {
  /** Facts reported by /version and /info that do not change while the daemon runs. */
  system: SystemFacts;
  /** Images, layers, pulls and registry logins (absent in tests that do not need it). */
  images?: ImageService;
  /** Containers, exec and the event stream (absent in tests that do not need them). */
  containers?: ContainerServices;
  /** Networks (absent in tests that do not need them). */
  networks?: NetworkServices;
  /** Volumes (absent in tests that do not need them). */
  volumes?: VolumeServices;
}

/** What the container, exec and event routes use. */
export interface ContainerServices {
  pods: PodService;
  /** The creation service: POST /containers/create and the builder's step containers (src/engine). */
  engine: CreationService;
  /** Image lookup for the ancestor filter, ps sizes and the builder. */
  images: ImageLookup;
  events: EventBus;
  /** VM size of containers that set no limits (--vm-memory, --vm-cpus): update's resources. */
  vmDefaults: PodVmSize;
  /** CPUs of the host (the bound of NanoCpus in update). */
  hostCpus: number;
  /** Whether the host weighs block I/O (absent: read from the host at each use). */
  blkioWeight?: BlkioWeightSupport;
  /** Overlay directories of a container, for inspect's GraphDriver (optional). */
  rootfsPaths?(
    id: string,
  ): Promise<{ lowerDirs: string[]; upperDir: string; workDir: string; mergedDir?: string; disk?: string }>;
  /** docker cp, diff and export on the containers' root filesystems (optional). */
  archive?: ContainerArchive;
  /** Checkpoint images: POST /containers/:id/checkpoints with `Image` (optional). */
  checkpointImages?: Pick<CheckpointImages, 'make'>;
  /** Warm starts' states: shown and pruned with the build cache (optional). */
  warmStarts?: Pick<WarmStarts, 'usage' | 'prune'>;
}

/** Static facts of this daemon. */
export interface SystemFacts {
  /** Daemon version string, e.g. "0.1.0". */
  version: string;
  /** Data root on the host. */
  dataRoot: string;
  /** Hypervisor acceleration in use ('kvm' | 'tcg'), or 'none' before the VM layer is up. */
  accel: string;
  /** The daemon's persistent ID (`docker info` ID); empty when not known. */
  id?: string;
  /** The daemon's default log driver (--log-driver; json-file when unset). */
  logDriver?: string;
  /** dockerd's experimental mode (--experimental): shown by the API, and build's squash served. */
  experimental?: boolean;
}

/** What the network routes use (absent: the routes answer 500 "networks are not available"). */
export interface NetworkServices {
  /** The manager once the host is set up; undefined when the host could not be. */
  manager: Promise<NetworkManager | undefined>;
  /** Container names by id, for a network's Containers (optional). */
  containerName?(id: string): string | undefined;
}

/** What the volume routes use (absent: they answer 500 "volumes are not available"). */
export interface VolumeServices {
  store: VolumeStore;
  /** The pods, to tell which volumes are in use (none when absent). */
  pods?: PodService;
  /** Where create and destroy events go (optional). */
  events?: EventBus;
}
