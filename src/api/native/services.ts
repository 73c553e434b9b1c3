/**
 * What the native pod API is handed: the pod service and its VM half, and the creation
 * service that makes pods from specs. Filled in by the daemon's wiring or a test.
 */
import type { CheckpointImages } from '../../engine/checkpoint-images';
import type { CreationService } from '../../engine/service';
import type { PodService } from '../../pod/service';
import type { PodVmService } from '../../pod/service';

/** The native API's services. */
export interface NativeServices {
  pods: PodService;
  vms: PodVmService;
  /** The creation service (src/engine): pods from pod files and specs. */
  engine: CreationService;
  /** Checkpoint images (src/engine/checkpoint-images.ts); absent: a checkpoint's `image` is refused. */
  checkpointImages?: Pick<CheckpointImages, 'make'>;
}
