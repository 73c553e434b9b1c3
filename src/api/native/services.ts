/**
 * What the native pod API is handed: the pod service and its VM half, and what making a pod
 * from a spec needs (image lookup, VM defaults). Filled in by the daemon's wiring or a test.
 */
import type { PodService } from '../../pod/service';
import type { PodVmService } from '../../pod/service';
import type { ImageLookup } from '../../storage/types';
import type { TranslateOptions } from '../../translate/create';
import type { PodVmSize } from '../../translate/resources';

/** The native API's services. */
export interface NativeServices {
  pods: PodService;
  vms: PodVmService;
  /** Image lookup for a spec's image ("No such image"). */
  images: ImageLookup;
  /** VM size of pods that set none (--vm-memory, --vm-cpus). */
  vmDefaults: PodVmSize;
  /** CPUs of the host (the bound of a spec's CPUs). */
  hostCpus: number;
  /** The daemon's default log driver and options. */
  logDefaults?: { Type: string; Config: Record<string, string> };
  /**
   * The host's networks, to plan a pod's as `docker run` does (the default bridge unless the
   * spec names another). Resolves once the networks are open; undefined (or absent): the host
   * has none, and pods get loopback only.
   */
  networks?: Promise<TranslateOptions['networks']>;
}
