/**
 * RuntimeService/GetContainerEvents: the stream of container lifecycle events the kubelet's
 * Evented PLEG (1.26, feature gate EventedPLEG) reads instead of relisting every second.
 *
 * The events are the pod layer's (../../pod/events.ts, the bus `docker events` reads), kept for
 * pods the CRI made (those with a CRI record, ./record-store.ts, which also names a container's
 * sandbox) and mapped to CRI ids and types (criEventOf):
 *
 *   create   -> CONTAINER_CREATED_EVENT      start   -> CONTAINER_STARTED_EVENT
 *   die      -> CONTAINER_STOPPED_EVENT      destroy -> CONTAINER_DELETED_EVENT
 *
 * for CRI containers (container_id the container's id) and, as containerd 1.7 does, for
 * sandboxes (container_id the sandbox's id). Each event carries, as containerd fills them when
 * it sends one, `created_at` (the event's time in ns), the sandbox's PodSandboxStatus (absent
 * once the sandbox is gone) and the ContainerStatus of every container of that sandbox, read
 * when the event is sent.
 *
 * Every client gets every event, in the bus's order (containerd 1.7 has one queue that its
 * clients share). A client whose stream is not drained falls behind; once CLIENT_BACKLOG_LIMIT
 * events wait for it, it is dropped with RESOURCE_EXHAUSTED (it can reconnect and relist, as
 * the kubelet does on any stream error), so a slow client never makes the daemon buffer without
 * bound. A client that goes away (cancels, disconnects) is dropped at once.
 */
import { ResourceExhaustedError } from '../../errors';
import type { DaemonEvent, EventBus } from '../../pod/events';
import type { ContainerIdRequest, ListContainersRequest, PodSandboxStatusRequest } from './messages';
import type { ContainerView } from './records';
import type { CriRecordStore } from './record-store';

/** A PodSandboxStatus or ContainerStatus message, passed on to the client as the runtime made it. */
export type StatusMessage = { id: string } & Record<string, unknown>;

/** How many events may wait for one client before it is dropped (containerd's queue holds 1000). */
export const CLIENT_BACKLOG_LIMIT = 1000;

/** ContainerEventType. */
export type CriEventType =
  | 'CONTAINER_CREATED_EVENT'
  | 'CONTAINER_STARTED_EVENT'
  | 'CONTAINER_STOPPED_EVENT'
  | 'CONTAINER_DELETED_EVENT';

const TYPES: Record<string, CriEventType> = {
  create: 'CONTAINER_CREATED_EVENT',
  start: 'CONTAINER_STARTED_EVENT',
  die: 'CONTAINER_STOPPED_EVENT',
  destroy: 'CONTAINER_DELETED_EVENT',
};

/** A pod-layer event as a CRI one, before the statuses are read. */
export interface CriEventRef {
  /** ContainerEventResponse.container_id: the container's id, or the sandbox's for its own events. */
  containerId: string;
  /** The sandbox whose statuses go with the event. */
  sandboxId: string;
  type: CriEventType;
  /** Nanoseconds since the epoch, as a decimal string (int64). */
  createdAt: string;
}

/** Where the CRI events find a pod's record (a pending one by the pod's name, for `create`). */
export type EventRecords = Pick<CriRecordStore, 'find'> & Partial<Pick<CriRecordStore, 'isRestoring'>>;

/**
 * The CRI event of a pod-layer event, or undefined when it is not about a CRI sandbox or
 * container (a pod with no record in `records`), or is of a sandbox's pod while a restore
 * replaces its VM.
 */
export function criEventOf(e: DaemonEvent, records: EventRecords): CriEventRef | undefined {
  if (e.type !== 'container') return undefined;
  const type = TYPES[e.action];
  if (!type) return undefined;
  const rec = records.find(e.id, e.attributes.name);
  const sandboxId = rec?.kind === 'sandbox' ? e.id : rec?.kind === 'container' ? rec.sandboxId : undefined;
  if (!sandboxId) return undefined;
  // A sandbox whose VM a restore replaces: its pod's stop and start are not the sandbox's.
  if (rec?.kind === 'sandbox' && records.isRestoring?.(e.id)) return undefined;
  return { containerId: e.id, sandboxId, type, createdAt: e.timeNano.toString() };
}

/** The statuses an event of sandbox `id` carries, read when it is sent. */
export interface SandboxStatuses {
  /** PodSandboxStatus's `status`; null once the sandbox is gone. */
  pod_sandbox_status: StatusMessage | null;
  /** ContainerStatus's `status` of each container of the sandbox. */
  containers_statuses: StatusMessage[];
}

/** Reads a sandbox's statuses (criStatuses over the runtime calls). */
export type StatusReader = (sandboxId: string) => Promise<SandboxStatuses>;

/** One GetContainerEvents stream, as the transport gives it. */
export interface EventClient {
  /** Queue one ContainerEventResponse. */
  send(msg: object): void;
  /** How many sent messages have not left for the client yet. */
  backlog(): number;
  /** End the stream with an error. */
  fail(err: Error): void;
}

/** The calls a sandbox's statuses are read with (./runtime.ts CriRuntime). */
export interface StatusCalls {
  podSandboxStatus(req: PodSandboxStatusRequest): Promise<{ status: StatusMessage }>;
  listContainers(req: ListContainersRequest): { containers: Array<Pick<ContainerView, 'id' | 'pod_sandbox_id'>> };
  containerStatus(req: ContainerIdRequest): { status: StatusMessage };
}

/** A StatusReader over the runtime's own PodSandboxStatus, ListContainers and ContainerStatus. */
export function criStatuses(rt: StatusCalls): StatusReader {
  return async (sandboxId) => {
    const sandbox = await rt
      .podSandboxStatus({ pod_sandbox_id: sandboxId, verbose: false })
      .then((r) => r.status)
      .catch(() => null);
    const containers_statuses: StatusMessage[] = [];
    const filter = { id: '', state: null, pod_sandbox_id: sandboxId, label_selector: {} };
    const list = rt.listContainers({ filter }).containers;
    for (const c of list.filter((x) => x.pod_sandbox_id === sandboxId)) {
      try {
        containers_statuses.push(rt.containerStatus({ container_id: c.id }).status);
      } catch {
        // Removed between the list and the status: not reported, as containerd skips it.
      }
    }
    return { pod_sandbox_status: sandbox, containers_statuses };
  };
}

/** The GetContainerEvents streams of the daemon (see the module comment). */
export class CriEvents {
  private readonly clients = new Set<EventClient>();
  private unsubscribe: (() => void) | undefined;
  /** Events are read and sent one at a time, in the bus's order. */
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly deps: {
      events: Pick<EventBus, 'subscribe'>;
      /** The CRI's records, which say which pods are its sandboxes and containers. */
      records: EventRecords;
      statuses: StatusReader;
      /** CLIENT_BACKLOG_LIMIT unless given (tests). */
      backlogLimit?: number;
    },
  ) {}

  /** Number of clients streaming now. */
  get clientCount(): number {
    return this.clients.size;
  }

  /**
   * Serve `client` from now on until `signal` fires (the client went away) or it falls behind;
   * the bus is listened to only while some client streams.
   */
  serve(client: EventClient, signal: AbortSignal): void {
    if (signal.aborted) return;
    this.clients.add(client);
    if (!this.unsubscribe) this.unsubscribe = this.deps.events.subscribe((e) => this.onEvent(e));
    signal.addEventListener('abort', () => this.drop(client), { once: true });
  }

  /** Resolves once every event seen so far has been sent (tests). */
  flushed(): Promise<void> {
    return this.chain;
  }

  private drop(client: EventClient): void {
    this.clients.delete(client);
    if (this.clients.size === 0 && this.unsubscribe) {
      this.unsubscribe();
      this.unsubscribe = undefined;
    }
  }

  private onEvent(e: DaemonEvent): void {
    const ref = criEventOf(e, this.deps.records);
    if (!ref) return;
    this.chain = this.chain.then(() => this.send(ref));
  }

  private async send(ref: CriEventRef): Promise<void> {
    if (this.clients.size === 0) return;
    const s = await this.deps.statuses(ref.sandboxId).catch(() => ({
      pod_sandbox_status: null,
      containers_statuses: [],
    }));
    const msg = {
      container_id: ref.containerId,
      container_event_type: ref.type,
      created_at: ref.createdAt,
      pod_sandbox_status: s.pod_sandbox_status,
      containers_statuses: s.containers_statuses,
    };
    const limit = this.deps.backlogLimit ?? CLIENT_BACKLOG_LIMIT;
    for (const c of [...this.clients]) {
      if (c.backlog() >= limit) {
        this.drop(c);
        c.fail(
          new ResourceExhaustedError(
            `container event stream dropped: ${limit} events were waiting for this client (read faster, then reconnect)`,
          ),
        );
        continue;
      }
      c.send(msg);
    }
  }
}
