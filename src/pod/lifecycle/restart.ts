/**
 * Restart policies (`no`, `always`, `unless-stopped`, `on-failure[:N]`) and Docker's restart
 * backoff: the first restart waits 100 ms, each next one twice as long, capped at 1 minute;
 * a run that lasted at least 10 s resets the delay to 100 ms.
 */
import type { RestartPolicy } from '../types';

/** First delay before a restart. */
export const RESTART_INITIAL_DELAY_MS = 100;
/** Longest delay between restarts. */
export const RESTART_MAX_DELAY_MS = 60_000;
/** A run at least this long resets the backoff. */
export const RESTART_RESET_AFTER_MS = 10_000;

/** Whether a pod whose main process exited should be started again. */
export function shouldRestart(
  policy: RestartPolicy,
  exitCode: number,
  restartCount: number,
  manuallyStopped: boolean,
): boolean {
  if (manuallyStopped) return false;
  switch (policy.name) {
    case 'always':
    case 'unless-stopped':
      return true;
    case 'on-failure':
      return exitCode !== 0 && (policy.maximumRetryCount === 0 || restartCount < policy.maximumRetryCount);
    default:
      return false;
  }
}

/** Whether a pod should be started when the daemon starts (it was not stopped by hand). */
export function startsWithDaemon(policy: RestartPolicy, manuallyStopped: boolean): boolean {
  return (policy.name === 'always' || policy.name === 'unless-stopped') && !manuallyStopped;
}

/** The growing delay between restarts of one pod. */
export class RestartBackoff {
  private delay = 0;

  /** The delay before the next restart, given how long the last run lasted. */
  next(ranMs: number): number {
    if (ranMs >= RESTART_RESET_AFTER_MS) this.delay = 0;
    this.delay = this.delay === 0 ? RESTART_INITIAL_DELAY_MS : Math.min(this.delay * 2, RESTART_MAX_DELAY_MS);
    return this.delay;
  }

  /** Back to the initial delay (after a manual start). */
  reset(): void {
    this.delay = 0;
  }
}
