/**
 * Stopping and signalling a pod: stop (each app container's stop signal, one grace period for
 * the pod, then SIGKILL to each), kill (any signal to the main process; SIGKILL to every
 * container, and it preempts a pending stop, restart or start), and the hard kill that
 * destroys the VM when even SIGKILL does not end the processes. Each cancels the restarts in
 * place that wait for their time (a pod of several: ./container-restart.ts).
 */
import { NotFoundError, NotModifiedError, UnavailableError } from '../../errors';
import { PodNotRunningError } from '../errors';
import { logger } from '../../util/log';
import { AGENT_CALL_MS, KILL_GRACE_MS, SIGKILL, bounded, preemptedBy } from '../async';
import type { PodContext } from '../context';
import { waitFor } from '../op-queue';
import type { Entry, Run } from '../records/registry';
import { cancelInPlace } from './container-restart';
import { containersOf, isPaused, mainContainer, setStatus, type ContainerRecord, type PodRecord } from '../types';

const log = logger('pod');

/**
 * The stop itself (lock held). Preempted (signal aborted) by kill or rm -f, it stops waiting
 * and kills at once; by daemon shutdown, it gives up and leaves the pod running.
 * `stopSignal`, when given, is sent instead of each container's own stop signal.
 */
export async function stopLocked(
  ctx: PodContext,
  e: Entry,
  timeoutSec?: number,
  signal?: AbortSignal,
  stopSignal?: number,
): Promise<void> {
  const r = e.record;
  // A stop always wins over a pending or imminent policy restart, even when it answers 304.
  ctx.cancelRestart(e);
  r.manuallyStopped = true;
  if (!e.run) {
    const wasRestarting = isRestarting(r);
    if (wasRestarting) setStatus(r, 'exited');
    await ctx.persist(e);
    if (wasRestarting) return;
    throw new NotModifiedError('pod already stopped');
  }
  const run = e.run;
  // The stop timeout of the main container: the pod's grace period.
  const main = mainContainer(r).spec;
  await ctx.persist(e);
  await cancelInPlace(ctx, e, run);
  const t = timeoutSec ?? main.stopTimeout;
  await resumeIfPaused(ctx, e);
  // The containers that the stop stops (in a pod of several, those running now).
  const stopped = containersOf(r).filter(onVm);
  ctx.emitEach(
    r,
    'kill',
    (c) => stopped.includes(c),
    (c) => ({ signal: String(stopSignal ?? c.spec.stopSignal) }),
  );
  // Every app container's init gets its own stop signal at once (Kubernetes: TERM to each
  // container's main process); the grace period is the pod's (the main container's).
  // An unresponsive VM (./watchdog.ts) cannot deliver the signal: it is killed at once.
  if (!run.unresponsive)
    await signalEach(
      ctx,
      e,
      run,
      (id) => stopSignal ?? r.containers[id]?.spec.stopSignal ?? main.stopSignal,
      'stop signal',
    );
  // Negative: no deadline (dockerd); huge values: clamped by waitFor (no timer overflow).
  const exited = !run.unresponsive && (await waitFor(run.ended, t < 0 ? undefined : t * 1000, signal));
  if (!exited && preemptedBy(signal) === 'shutdown') throw new UnavailableError('the daemon is shutting down');
  if (!exited) await hardKill(ctx, e, run);
  await run.ended;
  if (isRestarting(r)) {
    // It exited by itself just before the stop and a restart was scheduled: cancel it.
    ctx.cancelRestart(e);
    setStatus(r, 'exited');
    await ctx.persist(e);
  }
  ctx.emitEach(r, 'stop', (c) => stopped.includes(c));
}

/** Whether a container of a pod has an init on the VM (running or paused). */
function onVm(c: ContainerRecord): boolean {
  return c.process !== undefined;
}

/** SIGKILL, and if the process still does not go, destroy its VM (exit code 137). */
export async function hardKill(ctx: PodContext, e: Entry, run: Run): Promise<void> {
  await cancelInPlace(ctx, e, run);
  ctx.emitEach(e.record, 'kill', onVm, () => ({ signal: String(SIGKILL) }));
  // An agent that does not answer (the watchdog's verdict, or the SIGKILL's own deadline)
  // cannot end the processes: the VM goes at once.
  const answered = !run.unresponsive && (await signalEach(ctx, e, run, () => SIGKILL, 'SIGKILL'));
  if (!(answered && (await waitFor(run.ended, ctx.deps.killGraceMs ?? KILL_GRACE_MS)))) {
    run.forcedExitCode = 137;
    if (run.borrowed) {
      // Another pod's VM stays: the agent kills this pod's containers' cgroups instead.
      for (const id of run.inits.keys()) await run.vm.agent.destroyContainer(id).catch(() => undefined);
    } else {
      await run.vm.destroy().catch(() => undefined);
    }
  }
}

/**
 * Send each app container's init of a run its signal, all at once; failures are logged only.
 * False when the agent did not answer one of them in time.
 */
async function signalEach(
  ctx: PodContext,
  e: Entry,
  run: Run,
  signalOf: (containerId: string) => number,
  what: string,
): Promise<boolean> {
  let answered = true;
  await Promise.all(
    [...run.inits].map(async ([id, p]) => {
      try {
        await bounded(
          run.vm.agent.signalProcess(p.processId, signalOf(id)),
          ctx.deps.agentTimeoutMs ?? AGENT_CALL_MS,
          what,
        );
      } catch (err) {
        if (err instanceof UnavailableError) answered = false;
        log.debug(`${what} to ${e.record.id} (${id.slice(0, 12)}): ${(err as Error).message}`);
      }
    }),
  );
  return answered;
}

/** Thaw a paused pod's VM before it is signalled (a frozen process cannot handle a signal). */
export async function resumeIfPaused(ctx: PodContext, e: Entry): Promise<void> {
  if (isPaused(e.record) && e.run) {
    await e.run.vm.resume();
    const thawed = containersOf(e.record).filter((c) => c.state.status === 'paused');
    for (const c of thawed) c.state.status = 'running';
    await ctx.persist(e);
    ctx.emitEach(e.record, 'unpause', (c) => thawed.includes(c));
  }
}

/** Send a signal to the main process; SIGKILL also waits until it is dead. */
export async function kill(ctx: PodContext, e: Entry, signal: number): Promise<void> {
  const r = e.record;
  const run = e.run;
  if (!run) {
    if (isRestarting(r)) {
      ctx.cancelRestart(e);
      r.manuallyStopped = true;
      setStatus(r, 'exited');
      await ctx.persist(e);
      return;
    }
    throw new PodNotRunningError(r.id, 'kill');
  }
  r.manuallyStopped = true;
  await ctx.persist(e);
  await resumeIfPaused(ctx, e);
  if (signal === SIGKILL) {
    // SIGKILL wins over a pending stop, restart or start (they stop waiting and kill).
    ctx.cancelRestart(e);
    await e.ops.force('kill', async () => {
      const now = e.run;
      if (!now) return;
      await hardKill(ctx, e, now);
      await now.ended;
    });
    return;
  }
  const main = mainContainer(r);
  if (run.inPlace && main.state.status === 'restarting') {
    // As dockerd for a container that waits for its restart: no process to signal; the
    // kill only keeps it from restarting.
    await cancelInPlace(ctx, e, run);
    ctx.emit(r, 'kill', { signal: String(signal) });
    return;
  }
  if (!run.init || (run.inPlace && main.process === undefined)) throw new PodNotRunningError(r.id, 'kill');
  ctx.emit(r, 'kill', { signal: String(signal) });
  try {
    await bounded(
      run.vm.agent.signalProcess(run.init.processId, signal),
      ctx.deps.agentTimeoutMs ?? AGENT_CALL_MS,
      'signal',
    );
  } catch (err) {
    if (err instanceof NotFoundError) throw new PodNotRunningError(r.id, 'kill');
    throw err;
  }
}

/** Whether a pod waits for a restart by its policy (its main container says so). */
export function isRestarting(r: PodRecord): boolean {
  return mainContainer(r).state.status === 'restarting';
}
