/**
 * The native API's JSON: pods with the seeds' states (Created, Running) and their
 * containers, VMs with theirs (Idle, Associated), made from the pod layer's records. The
 * shapes are defined once in ./wire.ts, which the `podvisor` CLI reads too.
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
import type { NativePodView, NativeVmView } from './wire';

export type { NativeContainerView, NativePodCondition, NativePodView, NativeVmView } from './wire';

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

/**
 * The pod layer's PodVmView and the wire's NativeVmView are one shape, declared twice on
 * purpose: wire.ts imports nothing (the CLI reads it, and must not load the daemon's code) and
 * the pod layer imports no front end. This fails to compile when the two drift apart.
 */
type SameShape<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
export const VM_VIEWS_AGREE: SameShape<PodVmView, NativeVmView> = true;

/** A VM as the native API shows it. */
export function vmView(v: PodVmView): NativeVmView {
  return {
    id: v.id,
    state: v.state,
    ...(v.podId ? { podId: v.podId } : {}),
    memoryMiB: v.memoryMiB,
    cpus: v.cpus,
    held: v.held,
  };
}
