/**
 * One container's operations, run one at a time in arrival order, where a force operation
 * (kill, rm -f, daemon shutdown) wins: it aborts the wait of the operation now running (the
 * AbortSignal that operation was given) and runs next, ahead of those still queued. An
 * operation honours its signal promptly: a stop stops waiting for the exit and kills, a start
 * kills what it just booted. Queued operations are not cancelled: they run afterwards and see
 * the new state (a removed container, a dead process), as they would in dockerd.
 */
import { MAX_TIMER_MS } from '../util/time';

/** Why a force operation preempted the running one. */
export type Preemption = 'kill' | 'remove' | 'shutdown';

/** The abort reason an operation's signal carries when preempted. */
export class PreemptedError extends Error {
  constructor(readonly by: Preemption) {
    super(`preempted by ${by}`);
    this.name = 'PreemptedError';
  }
}

/** Per-container operation queue (see the module comment). */
export class OpQueue {
  /** Settles when every operation queued so far has settled. */
  private tail: Promise<unknown> = Promise.resolve();
  /** Settles when every force operation started so far has settled (queued ones wait for it). */
  private gate: Promise<unknown> = Promise.resolve();
  /** The operation now running, with its abort controller. */
  private current?: { ctl: AbortController; done: Promise<unknown> };

  /** Queue `fn`; it runs after every earlier operation and gets a signal aborted by `force`. */
  run<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    // `this.gate` is read when the earlier operations are done: a force operation that came
    // in meanwhile goes first.
    const p = this.tail.then(() => this.gate).then(() => this.begin(fn));
    this.tail = p.catch(() => undefined);
    return p;
  }

  /**
   * Run `fn` now, ahead of queued operations: the running operation (if any) is aborted with
   * `by` and `fn` starts once it has unwound. Later `run`s wait for `fn`.
   * `fn` is told whether it preempted an operation.
   */
  force<T>(by: Preemption, fn: (preempted: boolean) => Promise<T>): Promise<T> {
    const cur = this.current;
    if (cur) cur.ctl.abort(new PreemptedError(by));
    const p = (
      cur
        ? cur.done.then(
            () => undefined,
            () => undefined,
          )
        : Promise.resolve()
    ).then(() => fn(cur !== undefined));
    this.gate = Promise.all([this.gate, p.catch(() => undefined)]);
    return p;
  }

  /** Abort the running operation (daemon shutdown) without queueing anything. */
  abortCurrent(by: Preemption): void {
    this.current?.ctl.abort(new PreemptedError(by));
  }

  private begin<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const ctl = new AbortController();
    const done = fn(ctl.signal);
    const cur = { ctl, done };
    this.current = cur;
    void done
      .catch(() => undefined)
      .finally(() => {
        if (this.current === cur) this.current = undefined;
      });
    return done;
  }
}

/**
 * Resolve true when `p` settles, false after `ms` (no deadline when undefined or when it does
 * not fit a timer: clamped, never overflowing) or when `signal` is aborted.
 */
export function waitFor(p: Promise<unknown>, ms?: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    let t: NodeJS.Timeout | undefined;
    const done = (v: boolean) => {
      if (t) clearTimeout(t);
      signal?.removeEventListener('abort', onAbort);
      resolve(v);
    };
    const onAbort = () => done(false);
    if (ms !== undefined && Number.isFinite(ms) && ms < MAX_TIMER_MS)
      t = setTimeout(() => done(false), Math.max(0, ms));
    if (signal) {
      if (signal.aborted) return done(false);
      signal.addEventListener('abort', onAbort, { once: true });
    }
    p.then(
      () => done(true),
      () => done(true),
    );
  });
}
