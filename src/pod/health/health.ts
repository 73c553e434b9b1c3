/**
 * Health checks of a pod's main container: while a run lasts, a probe command is run in the
 * container every `intervalMs` (as an exec, so it has the container's user, working directory
 * and environment, and publishes the exec events), each result is recorded, and the health
 * status follows:
 *
 *   starting --success--> healthy
 *   any      --`retries` failures in a row--> unhealthy   (failures of a probe that started
 *                                                           within `startPeriodMs` of the
 *                                                           container's start do not count
 *                                                           while it is still starting)
 *   healthy/unhealthy --success / failures--> as above
 *
 * A probe that runs longer than `timeoutMs` is killed and counts as a failure; one that
 * cannot start counts as a failure too (exit code -1) (./exec-probe.ts). The last HEALTH_LOG_SIZE results are
 * kept with their output cut at PROBE_OUTPUT_LIMIT bytes. A status change publishes
 * `health_status: <status>` and is persisted. The monitor starts with each run (status reset
 * to starting, the log kept) and stops with it (status unhealthy: nothing vouches for the
 * container any more); while the pod is paused no probe runs.
 */
import type { PodContext } from '../context';
import { sleepUnless } from '../async';
import { runExecProbe } from './exec-probe';
import type { HealthSpec, HealthState, ProbeResult } from './probe-types';
import type { Entry, Run } from '../records/registry';
import { parseRfc3339 } from '../../util/time';
import { logger } from '../../util/log';
import { mainContainer, type ContainerRecord } from '../types';

const log = logger('health');

export { PROBE_OUTPUT_LIMIT, type ProbeResult } from './exec-probe';

/** How many probe results are kept. */
export const HEALTH_LOG_SIZE = 5;

export type { HealthSpec, HealthState, HealthStatus } from './probe-types';

/**
 * Record one probe result in `h` (see the module comment for the rules). `startedMs` is when
 * the container started. Returns whether the status changed.
 */
export function recordProbe(
  h: HealthState,
  result: ProbeResult,
  spec: Pick<HealthSpec, 'retries' | 'startPeriodMs'>,
  startedMs: number,
): boolean {
  const before = h.status;
  h.log = [...h.log, result].slice(-HEALTH_LOG_SIZE);
  if (result.exitCode === 0) {
    h.failingStreak = 0;
    h.status = 'healthy';
  } else {
    const inStartPeriod = h.status === 'starting' && parseRfc3339(result.start) - startedMs < spec.startPeriodMs;
    if (!inStartPeriod) {
      h.failingStreak++;
      if (h.failingStreak >= Math.max(1, spec.retries)) h.status = 'unhealthy';
    }
  }
  return h.status !== before;
}

/** Monitors running now, by pod entry: aborting one stops it. */
const monitors = new WeakMap<Entry, AbortController>();

/**
 * Start the health monitor of a (new or re-adopted) run, when the pod's main container has a
 * health check: its status is reset to starting (the log of earlier runs is kept).
 */
export function startHealth(ctx: PodContext, e: Entry, run: Run): void {
  const c = mainContainer(e.record);
  const spec = c.spec.health;
  if (!spec) return;
  monitors.get(e)?.abort();
  c.health = { status: 'starting', failingStreak: 0, log: c.health?.log ?? [] };
  const stop = new AbortController();
  monitors.set(e, stop);
  void monitorLoop(ctx, e, run, c, spec, stop.signal).catch((err) =>
    log.error(`health monitor of ${e.record.id}: ${(err as Error).message}`),
  );
}

/**
 * Stop the health monitor of a pod whose run ends; its status becomes unhealthy (no probe
 * vouches for it any more), its failing streak and log are kept. Nothing when none runs.
 */
export function stopHealth(e: Entry): void {
  const stop = monitors.get(e);
  if (!stop) return;
  monitors.delete(e);
  stop.abort();
  const c = mainContainer(e.record);
  if (c.health) c.health.status = 'unhealthy';
}

/** Probe every interval while the run lasts. */
async function monitorLoop(
  ctx: PodContext,
  e: Entry,
  run: Run,
  c: ContainerRecord,
  spec: HealthSpec,
  stop: AbortSignal,
): Promise<void> {
  const startedMs = parseRfc3339(c.state.startedAt) || Date.now();
  const live = () => !stop.aborted && !ctx.closing && e.run === run && !e.removed;
  // While starting within the start period, a start interval (when set) spaces the probes.
  const interval = () =>
    spec.startIntervalMs !== undefined && c.health?.status === 'starting' && Date.now() - startedMs < spec.startPeriodMs
      ? spec.startIntervalMs
      : spec.intervalMs;
  for (;;) {
    await sleepUnless(interval(), stop);
    if (!live()) return;
    if (c.state.status === 'paused') continue;
    const result = await runExecProbe(ctx, e, run, spec.args, spec.timeoutMs);
    // A result that comes in after the run ended is dropped (as dockerd drops it).
    if (!live() || !c.health) return;
    if (recordProbe(c.health, result, spec, startedMs)) {
      ctx.emit(e.record, `health_status: ${c.health.status}`);
      await ctx.persist(e).catch((err) => log.error(`persisting ${e.record.id}: ${(err as Error).message}`));
    }
  }
}
