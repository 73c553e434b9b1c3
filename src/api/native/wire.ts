/**
 * The native API's wire types: the JSON its routes answer (docs/native-api.md), defined once.
 * The server's views (./views.ts, ./errors.ts) produce them and the `podvisor` CLI reads them,
 * as podman's bindings reuse the server's entities. Types only, importing nothing: the CLI
 * imports this module type-only (eslint.config.js allows it that and nothing else of the
 * daemon), so the CLI's compiled code needs none of the daemon's. Field names are the native
 * API's own, not Docker's.
 */

/** One container of a pod. */
export interface NativeContainerView {
  id: string;
  /** Its name in the pod file (absent for a single-container pod). */
  name?: string;
  /** An init container (runs to completion before the app containers). */
  init?: boolean;
  image: string;
  command: string[];
  /** created, running, paused, restarting, exited, dead */
  status: string;
  exitCode: number;
  /** Restarts by the pod's restart policy (in place, or of the whole pod) since its last start by hand. */
  restartCount: number;
  /**
   * Kubernetes' container `ready`: it runs and its probes say so (started, and its readiness
   * probe's last settled result a success; without probes: while it runs). Init containers: false.
   */
  ready: boolean;
  /** Kubernetes' `started`: it runs and its startup probe succeeded (or it has none). */
  started: boolean;
  tty: boolean;
}

/** A pod condition, as Kubernetes' PodCondition (`status` is "True" or "False"). */
export interface NativePodCondition {
  type: 'ContainersReady' | 'Ready';
  status: 'True' | 'False';
}

/** A pod (GET /v1/pods, /v1/pods/{ref}; POST /v1/pods and /v1/pods/{ref}/start answer one). */
export interface NativePodView {
  id: string;
  name: string;
  /** The seeds' pod state: Created (storage, no VM) or Running (on a VM). */
  state: 'Created' | 'Running';
  /** The VM it runs on (Running), else null. */
  vm: string | null;
  created: string;
  labels: Record<string, string>;
  /** Every app container is ready (Kubernetes' Ready condition); false while the pod is Created. */
  ready: boolean;
  /** Kubernetes' ContainersReady and Ready conditions (the pod has no readiness gates, so they agree). */
  conditions: NativePodCondition[];
  containers: NativeContainerView[];
}

/** A VM (GET /v1/vms; POST /v1/vms answers one); the pod layer's PodVmView, which views.ts checks it against. */
export interface NativeVmView {
  id: string;
  /** Idle (no pod) or Associated (a pod runs on it). */
  state: 'Idle' | 'Associated';
  /** The pod running on it (Associated). */
  podId?: string;
  memoryMiB: number;
  cpus: number;
  /** Whether the user holds it (run-vm, stop --keep-vm): it outlives its pods. */
  held: boolean;
}

/** POST /v1/pods/{ref}/stop: the stopped pod, and its VM when kept (`keepVm`). */
export interface NativeStopAnswer {
  pod: NativePodView;
  vm?: NativeVmView;
}

/** POST /v1/pods/{ref}/replace: the new pod, the old one, and the VM they shared. */
export interface NativeReplaceAnswer {
  pod: NativePodView;
  replaced: NativePodView;
  vm: NativeVmView;
}

/** POST /v1/pods/{ref}/exec: the exec's id and the container it runs in. */
export interface NativeExecCreated {
  id: string;
  container: string;
}

/**
 * Any failure: the message to show, and for a spec naming an image that is not local, that
 * image (a client pulls it and sends the spec again).
 */
export interface NativeErrorBody {
  message: string;
  image?: string;
}
