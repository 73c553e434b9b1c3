/**
 * Small async helpers of the pod layer: bounded agent calls, bounded waits for output to
 * drain, and what preempted an operation.
 */
import { UnavailableError } from '../errors';
import { PreemptedError, type Preemption } from './op-queue';

/** SIGKILL's number. */
export const SIGKILL = 9;
/** How long kill/stop wait for a SIGKILLed process before destroying its VM. */
export const KILL_GRACE_MS = 5000;
/** Longest wait for an agent request on the stop/kill path (a hung guest must not hang stop). */
export const AGENT_CALL_MS = 5000;
/** Longest wait for a dead process's output to drain before the run is torn down anyway. */
export const OUTPUT_DRAIN_MS = 5000;

/** `p`, or an UnavailableError after `ms` (the request itself is left to settle). */
export function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new UnavailableError(`${what}: the agent did not answer within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

/** Resolves when `p` settles or after `ms`, whichever comes first (never rejects). */
export function atMost(p: Promise<unknown>, ms: number): Promise<void> {
  return Promise.race([
    p.then(
      () => undefined,
      () => undefined,
    ),
    new Promise<void>((r) => setTimeout(r, ms).unref()),
  ]);
}

/** What preempted the operation owning `signal`, if anything. */
export function preemptedBy(signal?: AbortSignal): Preemption | undefined {
  return signal?.aborted && signal.reason instanceof PreemptedError ? signal.reason.by : undefined;
}

/** Resolves after `ms`, or at once when `signal` aborts (the timer does not keep the daemon up). */
export function sleepUnless(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    t.unref();
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
