/**
 * What the HTTP layer is given to serve requests: one service object per Docker resource.
 * Route modules receive this and nothing global. Each field is filled in by the daemon's
 * wiring (src/daemon/main.ts) or by a test with fakes.
 */
import type { ImageService } from '../../storage/service';

export interface ApiServices {
  /** Facts reported by /version and /info that do not change while the daemon runs. */
  system: SystemFacts;
  /** Images, layers, pulls and registry logins (absent in tests that do not need it). */
  images?: ImageService;
}

/** Static facts of this daemon. */
export interface SystemFacts {
  /** Daemon version string, e.g. "0.1.0". */
  version: string;
  /** Data root on the host. */
  dataRoot: string;
  /** Hypervisor acceleration in use ('kvm' | 'tcg'), or 'none' before the VM layer is up. */
  accel: string;
}
