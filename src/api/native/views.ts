/**
 * The native API's JSON: pods with the seeds' states (Created, Running) and their
 * containers, VMs with theirs (Idle, Associated). Field names are the native API's own
 * (docs/native-api.md), not Docker's.
 */
import {
  appContainersOf,
  containerReady,
  containerStarted,
  containersOf,
  podPhase,
  type PodRecord,
} from '../../pod/types';
import type { PodVmView } from '../../pod/service';

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

/** A pod. */
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

/** A pod record as the native API shows it. */
export function podView(r: PodRecord): NativePodView {
  const apps = appContainersOf(r);
  const ready = podPhase(r) === 'running' && apps.length > 0 && apps.every(containerReady);
  const status = ready ? 'True' : 'False';
  return {
    id: r.id,
    name: r.name,
    state: podPhase(r) === 'running' ? 'Running' : 'Created',
    vm: r.sandbox.vmId ?? null,
    created: r.created,
    labels: { ...r.sandbox.spec.labels },
    ready,
    conditions: [
      { type: 'ContainersReady', status },
      { type: 'Ready', status },
    ],
    containers: containersOf(r).map((c) => ({
      id: c.spec.id,
      ...(c.spec.name ? { name: c.spec.name } : {}),
      ...(c.spec.init ? { init: true } : {}),
      image: c.spec.imageRef,
      command: [...c.spec.args],
      status: c.state.status,
      exitCode: c.state.exitCode,
      restartCount: c.restartCount,
      ready: containerReady(c),
      started: containerStarted(c),
      tty: c.spec.tty,
    })),
  };
}

/** A VM as the native API shows it. */
export function vmView(v: PodVmView): PodVmView {
  return {
    id: v.id,
    state: v.state,
    ...(v.podId ? { podId: v.podId } : {}),
    memoryMiB: v.memoryMiB,
    cpus: v.cpus,
    held: v.held,
  };
}
