/**
 * The CRI's sandboxes and containers: the pods that have a CRI record (./record-store.ts, what
 * the pod layer does not keep: kind, metadata, annotations, the kubelet's labels, log paths),
 * their lookups by id (NOT_FOUND in the CRI's words), and their views as CRI messages. Shared
 * by the runtime calls (./runtime.ts, ./runtime-exec.ts, ./runtime-stats.ts).
 */
import { InvalidArgumentError, NotFoundError } from '../../errors';
import type { PodService } from '../../pod/service';
import { mainContainer, podPhase, ZERO_TIME, type PodRecord } from '../../pod/types';
import { rfc3339Nanos } from '../../util/time';
import type { ContainerMetadata, NamespaceOption, PodSandboxMetadata, StringMap } from './messages';
import type { CriRecordStore } from './record-store';
import type { CriContainerRecord, CriRecord, CriSandboxRecord } from './record-types';

/** The CRI's PodSandbox message, as the runtime answers it. */
export interface PodSandboxView {
  id: string;
  metadata: Partial<PodSandboxMetadata>;
  /** SANDBOX_READY or SANDBOX_NOTREADY. */
  state: string;
  created_at: string;
  labels: StringMap;
  annotations: StringMap;
  runtime_handler: string;
}

/** The CRI's Container message, as the runtime answers it. */
export interface ContainerView {
  id: string;
  pod_sandbox_id: string;
  metadata: Partial<ContainerMetadata>;
  image: { image: string; annotations: StringMap };
  image_ref: string;
  /** CONTAINER_CREATED, CONTAINER_RUNNING, CONTAINER_EXITED or CONTAINER_UNKNOWN. */
  state: string;
  created_at: string;
  labels: StringMap;
  annotations: StringMap;
}

/** An RFC 3339 time as the CRI's nanoseconds since the epoch ('0' for none). */
export function nanos(t: string): string {
  return !t || t === ZERO_TIME ? '0' : rfc3339Nanos(t).toString();
}

/** INVALID_ARGUMENT when a required field is missing. */
export function need(v: unknown, what: string): asserts v {
  if (!v) throw new InvalidArgumentError(`${what} is required`);
}

/** The pod name of a CRI object: `k8s_<parts>` with the characters Docker names take. */
export function podName(parts: Array<string | number | undefined>): string {
  return `k8s_${parts.map((p) => String(p).replace(/[^a-zA-Z0-9_.-]/g, '-')).join('_')}`;
}

/** A namespace mode other than POD/CONTAINER (NODE: the host's), refused for a VM. */
export function checkNamespaces(opts: NamespaceOption | null | undefined, what: string): void {
  if (!opts) return;
  for (const ns of ['network', 'pid', 'ipc'] as const) {
    if (opts[ns] === 'NODE')
      throw new InvalidArgumentError(
        `${what}: the host's ${ns} namespace (NODE) cannot be given to a pod in a VM (podvisor runs every sandbox in its own VM)`,
      );
  }
}

/** Finds the CRI's sandboxes and containers among the pods, with their records. */
export class CriPods {
  constructor(
    private readonly pods: PodService,
    private readonly records: CriRecordStore,
  ) {}

  /** The CRI sandbox `id` (NOT_FOUND: no pod, or a pod that is not a CRI sandbox). */
  sandbox(id: string): PodRecord {
    need(id, 'pod_sandbox_id');
    const r = this.pod(id, `pod sandbox ${id} not found`);
    if (this.records.get(r.id)?.kind !== 'sandbox') throw new NotFoundError(`pod sandbox ${id} not found`);
    return r;
  }

  /** The CRI container `id` (NOT_FOUND: no pod, or a pod that is not a CRI container). */
  container(id: string): PodRecord {
    need(id, 'container_id');
    const r = this.pod(id, `container ${id} not found`);
    if (this.records.get(r.id)?.kind !== 'container') throw new NotFoundError(`container ${id} not found`);
    return r;
  }

  /** The record of sandbox pod `r` (NOT_FOUND once it is gone). */
  sandboxRecord(r: PodRecord): CriSandboxRecord {
    const rec = this.records.get(r.id);
    if (rec?.kind !== 'sandbox') throw new NotFoundError(`pod sandbox ${r.id} not found`);
    return rec;
  }

  /** The record of container pod `r` (NOT_FOUND once it is gone). */
  containerRecord(r: PodRecord): CriContainerRecord {
    const rec = this.records.get(r.id);
    if (rec?.kind !== 'container') throw new NotFoundError(`container ${r.id} not found`);
    return rec;
  }

  /** Wait for a pod the daemon is re-adopting after a restart (its VM is not known before). */
  async settled(r: PodRecord): Promise<PodRecord> {
    await this.pods.whenAdopted(r.id);
    return this.pods.get(r.id);
  }

  /** Every CRI sandbox. */
  sandboxes(): PodRecord[] {
    return this.ofKind('sandbox');
  }

  /** Every CRI container. */
  containers(): PodRecord[] {
    return this.ofKind('container');
  }

  /** The CRI containers of sandbox `sandboxId`. */
  containersOf(sandboxId: string): PodRecord[] {
    return this.containers().filter((c) => this.containerRecord(c).sandboxId === sandboxId);
  }

  /**
   * The pods with a record of `kind`. A record whose pod is gone is not shown; it is not
   * dropped here either: a pod being removed leaves the list before its `destroy` event, which
   * the CRI's event stream maps with the record (the store drops it after that event).
   */
  private ofKind(kind: CriRecord['kind']): PodRecord[] {
    return this.pods.list().filter((r) => this.records.get(r.id)?.kind === kind);
  }

  private pod(id: string, notFound: string): PodRecord {
    try {
      return this.pods.get(id);
    } catch (err) {
      if (err instanceof NotFoundError) throw new NotFoundError(notFound);
      throw err;
    }
  }
}

/**
 * A sandbox (its pod and record) as the CRI's PodSandbox message; ready while its VM is replaced
 * by a restore (`restoring`: CriRecordStore.isRestoring), its pod stopped for that moment.
 */
export function sandboxView(r: PodRecord, rec: CriSandboxRecord, restoring = false): PodSandboxView {
  return {
    id: r.id,
    metadata: rec.metadata,
    state: podPhase(r) === 'running' || restoring ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY',
    created_at: nanos(r.created),
    labels: rec.labels,
    annotations: rec.annotations,
    runtime_handler: '',
  };
}

/** A container's CRI state. */
export function containerState(r: PodRecord): string {
  const st = mainContainer(r).state.status;
  if (st === 'created') return 'CONTAINER_CREATED';
  if (st === 'running' || st === 'paused' || st === 'restarting') return 'CONTAINER_RUNNING';
  if (st === 'exited' || st === 'dead') return 'CONTAINER_EXITED';
  return 'CONTAINER_UNKNOWN';
}

/** A container (its pod and record) as the CRI's Container message. */
export function containerView(r: PodRecord, rec: CriContainerRecord): ContainerView {
  return {
    id: r.id,
    pod_sandbox_id: rec.sandboxId,
    metadata: rec.metadata,
    image: { image: rec.image || mainContainer(r).spec.imageRef, annotations: {} },
    image_ref: mainContainer(r).spec.image,
    state: containerState(r),
    created_at: nanos(r.created),
    labels: rec.labels,
    annotations: rec.annotations,
  };
}
