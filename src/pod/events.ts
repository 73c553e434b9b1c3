/**
 * The daemon's event bus (`GET /events`): every lifecycle step of a container, exec, image...
 * is published here; subscribers get events as they happen, and the last EVENT_HISTORY events
 * are kept for `since` queries (as dockerd keeps its last 256).
 */

/** One event, in the API-neutral form the bus carries. */
export interface DaemonEvent {
  /** 'container', 'image', 'network', 'volume', 'daemon'... */
  type: string;
  /** 'create', 'start', 'die', 'exec_create: sh -c x'... */
  action: string;
  /** Id of the object (container id, image reference...). */
  id: string;
  attributes: Record<string, string>;
  /** Nanoseconds since the epoch. */
  timeNano: bigint;
}

/** How many past events are kept for `since`. */
export const EVENT_HISTORY = 1024;

/** A subscriber's callback. */
export type EventListener = (e: DaemonEvent) => void;

/** Publish/subscribe with a bounded history. */
export class EventBus {
  private readonly history: DaemonEvent[] = [];
  private readonly listeners = new Set<EventListener>();
  private lastNano = 0n;

  /** Publish an event (time stamped now, strictly increasing). */
  emit(type: string, action: string, id: string, attributes: Record<string, string> = {}): DaemonEvent {
    let t = BigInt(Date.now()) * 1000000n + (process.hrtime.bigint() % 1000000n);
    if (t <= this.lastNano) t = this.lastNano + 1n;
    this.lastNano = t;
    const e: DaemonEvent = { type, action, id, attributes, timeNano: t };
    this.history.push(e);
    if (this.history.length > EVENT_HISTORY) this.history.shift();
    for (const l of [...this.listeners]) {
      try {
        l(e);
      } catch {
        // A failing subscriber must not break the publisher.
      }
    }
    return e;
  }

  /** Events kept in history at or after `sinceNano` (and at or before `untilNano`). */
  past(sinceNano: bigint, untilNano?: bigint): DaemonEvent[] {
    return this.history.filter((e) => e.timeNano >= sinceNano && (untilNano === undefined || e.timeNano <= untilNano));
  }

  /** Subscribe; returns the unsubscribe function. */
  subscribe(l: EventListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** Number of current subscribers (docker info's NEventsListener). */
  get listenerCount(): number {
    return this.listeners.size;
  }
}
