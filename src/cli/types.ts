/**
 * The shapes of the native API's answers as the CLI reads them (docs/native-api.md). The CLI
 * is a separate program that speaks to the daemon over HTTP, so it keeps its own copy.
 */

/** One container of a pod. */
export interface PodContainer {
  id: string;
  /** Its name in the pod file (absent for a single-container pod). */
  name?: string;
  init?: boolean;
  image: string;
  command: string[];
  status: string;
  exitCode: number;
  /** Restarts by the pod's restart policy (a liveness or startup probe's kill included). */
  restartCount: number;
  /** It runs and its probes say it is ready (Kubernetes' container `ready`). */
  ready: boolean;
  /** It runs and its startup probe succeeded (or it has none). */
  started: boolean;
  tty: boolean;
}

/** A pod. */
export interface Pod {
  id: string;
  name: string;
  state: 'Created' | 'Running';
  vm: string | null;
  created: string;
  labels: Record<string, string>;
  /** Every app container is ready (the pod's Ready condition). */
  ready: boolean;
  /** Kubernetes' ContainersReady and Ready conditions. */
  conditions: Array<{ type: string; status: 'True' | 'False' }>;
  containers: PodContainer[];
}

/** A VM. */
export interface VmInfo {
  id: string;
  state: 'Idle' | 'Associated';
  podId?: string;
  memoryMiB: number;
  cpus: number;
  held: boolean;
}
