/**
 * The containers of a pod of several, watched one by one, and restarted in place as the
 * kubelet does: when an app container other than the pod's main one exits while the main one
 * runs, the pod's restart policy (`always`/`unless-stopped`, or `on-failure[:N]` after a
 * non-zero exit: Kubernetes' Always and OnFailure) starts its init again in the same
 * container on the same VM, after that container's own backoff (./restart.ts: 100 ms,
 * doubling up to 1 min, back to 100 ms after a run of 10 s), and the others go on untouched.
 * Its rootfs, mounts (emptyDirs included) and files stay; its restart count grows; its output
 * goes on in its own log.
 *
 * The main container's exit is the pod's (./monitor.ts): no container restarts in place after
 * it, nor once the pod is being stopped.
 */
import type { AgentProcess } from '../vm/types';
import { logger } from '../util/log';
import { nowRfc3339 } from '../util/time';
import type { PodContext } from './context';
import { ProcessIo } from './io';
import type { Entry, InPlaceRestarts, Run } from './registry';
import { RestartBackoff, shouldRestart } from './restart';
import { initProcessId, restartInit } from './runtime';
import { podSpecOf } from './types';

const log = logger('pod');

/** The run's restart-in-place state, made on first use. */
function inPlaceOf(run: Run): InPlaceRestarts {
  if (!run.inPlace) run.inPlace = { backoff: new Map(), timers: new Map(), startedMs: new Map(), ended: false };
  return run.inPlace;
}

/** No restart in place any more in this run (its main container exited): pending ones are cancelled. */
export function endInPlace(run: Run): void {
  const s = inPlaceOf(run);
  s.ended = true;
  for (const t of s.timers.values()) clearTimeout(t);
  s.timers.clear();
}

/** Persist, logging a failure (the state in memory is right; the next persist retries). */
async function persist(ctx: PodContext, e: Entry): Promise<void> {
  await ctx.persist(e).catch((err) => log.error(`persisting ${e.record.id}: ${(err as Error).message}`));
}

/**
 * Watch container `id` (init `p`) of a pod of several: its exit is recorded with its own code
 * when it happens, and it is restarted in place when the policy says (see the module comment).
 */
export async function watchContainer(ctx: PodContext, e: Entry, run: Run, id: string, p: AgentProcess): Promise<void> {
  let exitCode: number;
  let oomKilled = false;
  try {
    const x = await p.exited;
    exitCode = x.exitCode;
    oomKilled = x.oomKilled === true;
  } catch {
    return; // the VM went away: the run's end records it
  }
  const r = e.record;
  const c = r.containers[id];
  if (ctx.closing || e.run !== run || !c) return;
  const s = inPlaceOf(run);
  const again = p !== run.init && !s.ended && !e.removed && shouldRestart(r.sandbox.spec.restartPolicy, exitCode, c.restartCount, r.manuallyStopped);
  c.state = { ...c.state, status: again ? 'restarting' : 'exited', pid: 0, exitCode, finishedAt: nowRfc3339(), oomKilled };
  c.process = undefined;
  await persist(ctx, e);
  if (!again) return;
  let backoff = s.backoff.get(id);
  if (!backoff) s.backoff.set(id, (backoff = new RestartBackoff()));
  const delay = backoff.next(Date.now() - (s.startedMs.get(id) ?? run.startedMs));
  log.debug(`pod ${r.id.slice(0, 12)}: container ${c.spec.name ?? id.slice(0, 12)} exited ${exitCode}, restarting it in place in ${delay} ms`);
  s.timers.set(id, setTimeout(() => {
    s.timers.delete(id);
    void restartNow(ctx, e, run, id);
  }, delay));
}

/** Start container `id`'s init again (its timer fired), unless the run or the pod moved on. */
async function restartNow(ctx: PodContext, e: Entry, run: Run, id: string): Promise<void> {
  const r = e.record;
  const c = r.containers[id];
  const s = inPlaceOf(run);
  const gone = () => ctx.closing || e.removed || e.run !== run || s.ended || r.manuallyStopped;
  if (!c) return;
  if (gone()) {
    if (c.state.status === 'restarting') c.state.status = 'exited';
    return;
  }
  let p: AgentProcess;
  try {
    p = await restartInit(run.vm, podSpecOf(r), c.spec);
  } catch (err) {
    log.warn(`pod ${r.id.slice(0, 12)}: restarting container ${c.spec.name ?? id.slice(0, 12)} in place failed: ${(err as Error).message}`);
    c.state = { ...c.state, status: 'exited', error: (err as Error).message };
    await persist(ctx, e);
    return;
  }
  if (gone()) {
    // The pod stopped meanwhile: this init must not outlive its run.
    await run.vm.agent.signalProcess(p.processId, 9).catch(() => undefined);
    return;
  }
  run.inits.set(id, p);
  s.startedMs.set(id, Date.now());
  c.restartCount++;
  c.process = initProcessId(id);
  c.state = { status: 'running', pid: p.pid, exitCode: 0, error: '', startedAt: nowRfc3339(), finishedAt: c.state.finishedAt, oomKilled: false };
  new ProcessIo(p, { log: ctx.containerLog(e, id), stdinOnce: false, tty: c.spec.tty });
  await persist(ctx, e);
  void watchContainer(ctx, e, run, id, p);
}
