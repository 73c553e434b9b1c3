/**
 * The CRI's records on the pod layer: the labels under CRI_LABEL_PREFIX that keep what the pod
 * layer does not (kind, metadata, annotations, the user's labels, log paths), the lookups of
 * sandboxes and containers by id (NOT_FOUND in the CRI's words), and their views as CRI
 * messages. Shared by the runtime calls (./runtime.ts, ./runtime-exec.ts, ./runtime-stats.ts).
 */
import { InvalidArgumentError, NotFoundError } from '../../errors';
import { CRI_LABEL_PREFIX } from './create-request';
import type { PodService } from '../../pod/service';
import { mainContainer, podPhase, ZERO_TIME, type PodRecord } from '../../pod/types';
import { rfc3339Nanos } from '../../util/time';
import type { ContainerMetadata, NamespaceOption, PodSandboxMetadata, StringMap } from './messages';

/** A CRI label key of ours. */
export const L = {
  kind: `${CRI_LABEL_PREFIX}kind`,
  metadata: `${CRI_LABEL_PREFIX}metadata`,
  labels: `${CRI_LABEL_PREFIX}labels`,
  annotations: `${CRI_LABEL_PREFIX}annotations`,
  sandbox: `${CRI_LABEL_PREFIX}sandbox`,
  logDirectory: `${CRI_LABEL_PREFIX}log-directory`,
  logPath: `${CRI_LABEL_PREFIX}log-path`,
  image: `${CRI_LABEL_PREFIX}image`,
  mounts: `${CRI_LABEL_PREFIX}mounts`,
  /** A sandbox's PID namespace mode (POD or CONTAINER), as its config asked. */
  pidMode: `${CRI_LABEL_PREFIX}pid-mode`,
} as const;

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

/** A label's JSON, or `dflt` when absent or unreadable. */
export function json<T>(v: string | undefined, dflt: T): T {
  try {
    return v ? (JSON.parse(v) as T) : dflt;
  } catch {
    return dflt;
  }
}

/** INVALID_ARGUMENT when a required field is missing. */
export function need(v: unknown, what: string): asserts v {
  if (!v) throw new InvalidArgumentError(`${what} is required`);
}

/** The pod name of a CRI object: `k8s_<parts>` with the characters Docker names take. */
export function podName(parts: Array<string | number | undefined>): string {
  return `k8s_${parts.map((p) => String(p).replace(/[^a-zA-Z0-9_.-]/g, '-')).join('_')}`;
}

/** A pod made by the CRI as `kind`, or undefined. */
export function criKind(r: PodRecord): string | undefined {
  return r.sandbox.spec.labels[L.kind];
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

/** Finds the CRI's sandboxes and containers among the pods. */
export class CriPods {
  constructor(private readonly pods: PodService) {}

  /** The CRI sandbox `id` (NOT_FOUND: no pod, or a pod that is not a CRI sandbox). */
  sandbox(id: string): PodRecord {
    need(id, 'pod_sandbox_id');
    let r: PodRecord;
    try {
      r = this.pods.get(id);
    } catch (err) {
      if (err instanceof NotFoundError) throw new NotFoundError(`pod sandbox ${id} not found`);
      throw err;
    }
    if (criKind(r) !== 'sandbox') throw new NotFoundError(`pod sandbox ${id} not found`);
    return r;
  }

  /** The CRI container `id` (NOT_FOUND: no pod, or a pod that is not a CRI container). */
  container(id: string): PodRecord {
    need(id, 'container_id');
    let r: PodRecord;
    try {
      r = this.pods.get(id);
    } catch (err) {
      if (err instanceof NotFoundError) throw new NotFoundError(`container ${id} not found`);
      throw err;
    }
    if (criKind(r) !== 'container') throw new NotFoundError(`container ${id} not found`);
    return r;
  }

  /** Wait for a pod the daemon is re-adopting after a restart (its VM is not known before). */
  async settled(r: PodRecord): Promise<PodRecord> {
    await this.pods.whenAdopted(r.id);
    return this.pods.get(r.id);
  }

  /** Every CRI sandbox. */
  sandboxes(): PodRecord[] {
    return this.pods.list().filter((r) => criKind(r) === 'sandbox');
  }

  /** Every CRI container. */
  containers(): PodRecord[] {
    return this.pods.list().filter((r) => criKind(r) === 'container');
  }
}

/** A sandbox as the CRI's PodSandbox message. */
export function sandboxView(r: PodRecord): PodSandboxView {
  const l = r.sandbox.spec.labels;
  return {
    id: r.id,
    metadata: json<Partial<PodSandboxMetadata>>(l[L.metadata], {}),
    state: podPhase(r) === 'running' ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY',
    created_at: nanos(r.created),
    labels: json<StringMap>(l[L.labels], {}),
    annotations: json<StringMap>(l[L.annotations], {}),
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

/** A container as the CRI's Container message. */
export function containerView(r: PodRecord): ContainerView {
  const l = r.sandbox.spec.labels;
  const image = l[L.image] ?? mainContainer(r).spec.imageRef;
  return {
    id: r.id,
    pod_sandbox_id: l[L.sandbox],
    metadata: json<Partial<ContainerMetadata>>(l[L.metadata], {}),
    image: { image, annotations: {} },
    image_ref: mainContainer(r).spec.image,
    state: containerState(r),
    created_at: nanos(r.created),
    labels: json<StringMap>(l[L.labels], {}),
    annotations: json<StringMap>(l[L.annotations], {}),
  };
}
