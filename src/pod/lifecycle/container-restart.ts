/**
 * The app containers of a pod of several, watched one by one, and restarted in place as the
 * kubelet does: when one exits, the pod's restart policy (`always`/`unless-stopped`, or
 * `on-failure[:N]` after a non-zero exit: Kubernetes' Always and OnFailure) starts its init
 * again in the same container on the same VM, after that container's own backoff
 * (./restart.ts: 100 ms, doubling up to 1 min, back to 100 ms after a run of 10 s), and the
 * others go on untouched. Its rootfs, mounts (emptyDirs included) and files stay; its restart
 * count grows; its output goes on in its own log; `die` then `start` are published for it.
 *
 * The main container (the first app container) is one of them: its exit is recorded and
 * published (`die`), and its new init takes over the pod's log and attach sessions. The
 * waiters for a container are woken at each of its exits with its code, as dockerd wakes them
 * at each exit of a container that restarts (the pod's waiters wait for its main container). The run lasts while any container runs or waits for its restart (./monitor.ts);
 * a stop or kill cancels the pending restarts (`cancelInPlace`).
 */
import type { AgentProcess } from '../../vm/types';
import { logger } from '../../util/log';
import { nowRfc3339 } from '../../util/time';
import { OUTPUT_DRAIN_MS, atMost } from '../async';
import type { PodContext } from '../context';
import { ProcessIo } from '../io/io';
import { wakeContainer, type Entry, type InPlaceRestarts, type Run } from '../records/registry';
import { RestartBackoff, shouldRestart } from './restart';
import { startProbes, stopProbes } from '../health/probes';
import { initProcessId, restartInit } from './container-init';
import { isPaused, mainContainer, podSpecOf } from '../types';

const log = logger('pod');

/** While the pod is paused, a restart whose time came looks again this often. */
const PAUSED_RETRY_MS = 500;

/** The run's restart-in-place state, made on first use. */
export function inPlaceOf(run: Run): InPlaceRestarts {
  if (!run.inPlace) {
    run.inPlace = {
      backoff: new Map(),
      timers: new Map(),
      startedMs: new Map(),
      live: new Set(),
      pending: new Set(),
      onChange: new Set(),
      ended: false,
      probeKilled: new Set(),
    };
  }
  return run.inPlace;
}

/** Tell whoever waits (the run's monitor) that a container started, ended or gave up its restart. */
function changed(s: InPlaceRestarts): void {
  const fns = [...s.onChange];
  s.onChange.clear();
  for (const f of fns) f();
}

/** Resolves at the next change of which containers run or wait for their restart. */
export function nextChange(run: Run): Promise<void> {
  const s = inPlaceOf(run);
  return new Promise((resolve) => s.onChange.add(resolve));
}

/** Whether no container of the run runs or waits for its restart any more. */
export function settled(run: Run): boolean {
  const s = inPlaceOf(run);
  return s.live.size === 0 && s.pending.size === 0;
}

/** No restart in place any more in this run (it ends): pending ones are cancelled. */
export function endInPlace(run: Run): void {
  const s = inPlaceOf(run);
  s.ended = true;
  for (const t of s.timers.values()) clearTimeout(t);
  s.timers.clear();
}

/**
 * Cancel the restarts in place that wait for their time (a stop or kill came): those
 * containers are `exited`, with the code of their last exit. One under way finds the pod
 * stopped when its start returns and kills what it started.
 */
export async function cancelInPlace(ctx: PodContext, e: Entry, run: Run): Promise<void> {
  const s = run.inPlace;
  if (!s) return;
  for (const [id, t] of s.timers) {
    clearTimeout(t);
    s.pending.delete(id);
    const c = e.record.containers[id];
    if (c && c.state.status === 'restarting') c.state.status = 'exited';
  }
  s.timers.clear();
  await persist(ctx, e);
  changed(s);
}

/** Persist, logging a failure (the state in memory is right; the next persist retries). */
async function persist(ctx: PodContext, e: Entry): Promise<void> {
  await ctx.persist(e).catch((err) => log.error(`persisting ${e.record.id}: ${(err as Error).message}`));
}

/**
 * Watch container `id` (init `p`) of a pod of several: its exit is recorded with its own code
 * and published when it happens, and it is restarted in place when the policy says (see the
 * module comment).
 */
export async function watchContainer(ctx: PodContext, e: Entry, run: Run, id: string, p: AgentProcess): Promise<void> {
  const s = inPlaceOf(run);
  s.live.add(id);
  // The main container's output drains into the pod's log before its exit is published.
  const io = p === run.init ? run.io : undefined;
  let exitCode: number;
  let oomKilled = false;
  try {
    const x = await p.exited;
    exitCode = x.exitCode;
    oomKilled = x.oomKilled === true;
  } catch {
    return; // the VM went away: the run's end records it (the process is still the container's)
  }
  const r = e.record;
  const c = r.containers[id];
  if (ctx.closing || e.run !== run || !c) return;
  if (io) await atMost(io.done, OUTPUT_DRAIN_MS);
  if (ctx.closing || e.run !== run) return;
  stopProbes(e, id);
  // A container its probe killed restarts under Always and OnFailure alike (the kubelet's rule).
  const policy = r.sandbox.spec.restartPolicy;
  const again =
    !s.ended &&
    !e.removed &&
    (s.probeKilled.delete(id)
      ? policy.name !== 'no' && !r.manuallyStopped
      : shouldRestart(policy, exitCode, c.restartCount, r.manuallyStopped));
  c.state = {
    ...c.state,
    status: again ? 'restarting' : 'exited',
    pid: 0,
    exitCode,
    finishedAt: nowRfc3339(),
    oomKilled,
  };
  c.process = undefined;
  s.live.delete(id);
  if (again) s.pending.add(id);
  await persist(ctx, e);
  // dockerd sends `oom` (from the cgroup's OOM notification) before `die`.
  if (oomKilled) ctx.emitFor(r, c, 'oom');
  ctx.emitFor(r, c, 'die', { exitCode: String(exitCode) });
  wakeContainer(e, id, { exitCode });
  changed(s);
  if (again) schedule(ctx, e, run, id, false);
}

/**
 * Arm container `id`'s restart after its backoff (`fresh`: a restored run, whose timer was
 * lost with the earlier daemon: the first delay).
 */
function schedule(ctx: PodContext, e: Entry, run: Run, id: string, fresh: boolean): void {
  const s = inPlaceOf(run);
  const c = e.record.containers[id];
  if (!c || s.ended) return;
  s.pending.add(id);
  let backoff = s.backoff.get(id);
  if (!backoff) s.backoff.set(id, (backoff = new RestartBackoff()));
  const delay = backoff.next(fresh ? 0 : Date.now() - (s.startedMs.get(id) ?? run.startedMs));
  log.debug(
    `pod ${e.record.id.slice(0, 12)}: container ${c.spec.name ?? id.slice(0, 12)} exited ${c.state.exitCode}, restarting it in place in ${delay} ms`,
  );
  arm(ctx, e, run, id, delay);
}

function arm(ctx: PodContext, e: Entry, run: Run, id: string, delay: number): void {
  const s = inPlaceOf(run);
  s.timers.set(
    id,
    setTimeout(() => {
      s.timers.delete(id);
      void restartNow(ctx, e, run, id);
    }, delay),
  );
}

/**
 * A restored run (./restore.ts): each app container that waited for its restart in place
 * when the earlier daemon went away waits for it again (its first delay).
 */
export function resumeInPlace(ctx: PodContext, e: Entry, run: Run): void {
  for (const c of Object.values(e.record.containers)) {
    if (!c.spec.init && c.state.status === 'restarting' && !run.inits.has(c.spec.id))
      schedule(ctx, e, run, c.spec.id, true);
  }
}

/** Start container `id`'s init again (its timer fired), unless the run or the pod moved on. */
async function restartNow(ctx: PodContext, e: Entry, run: Run, id: string): Promise<void> {
  const r = e.record;
  const c = r.containers[id];
  const s = inPlaceOf(run);
  const gone = () => ctx.closing || e.removed || e.run !== run || s.ended || r.manuallyStopped;
  const giveUp = (error?: string) => {
    if (c && c.state.status === 'restarting') c.state = { ...c.state, status: 'exited', ...(error ? { error } : {}) };
    s.pending.delete(id);
    changed(s);
  };
  if (!c || gone()) return giveUp();
  // A frozen VM cannot start a process: wait for the unpause.
  if (isPaused(r)) return arm(ctx, e, run, id, PAUSED_RETRY_MS);
  let p: AgentProcess;
  try {
    p = await restartInit(run.vm, podSpecOf(r), c.spec, r.sandbox.linkEnv ?? []);
  } catch (err) {
    log.warn(
      `pod ${r.id.slice(0, 12)}: restarting container ${c.spec.name ?? id.slice(0, 12)} in place failed: ${(err as Error).message}`,
    );
    giveUp((err as Error).message);
    await persist(ctx, e);
    return;
  }
  if (gone()) {
    // The pod stopped meanwhile: this init must not outlive its run.
    await run.vm.agent.signalProcess(p.processId, 9).catch(() => undefined);
    giveUp();
    return;
  }
  run.inits.set(id, p);
  s.startedMs.set(id, Date.now());
  c.restartCount++;
  c.process = initProcessId(id);
  c.state = {
    status: 'running',
    pid: p.pid,
    exitCode: 0,
    error: '',
    startedAt: nowRfc3339(),
    finishedAt: c.state.finishedAt,
    oomKilled: false,
  };
  if (c === mainContainer(r)) {
    // The pod's log and attach sessions follow the main container's new init.
    run.init = p;
    run.io = new ProcessIo(p, { log: e.log, stdinOnce: c.spec.stdinOnce, tty: c.spec.tty });
    for (const session of [...e.pending]) {
      e.pending.delete(session);
      run.io.add(session);
    }
  } else {
    new ProcessIo(p, { log: ctx.containerLog(e, id), stdinOnce: false, tty: c.spec.tty });
  }
  s.pending.delete(id);
  void watchContainer(ctx, e, run, id, p);
  startProbes(ctx, e, run, id);
  ctx.emitFor(r, c, 'start');
  changed(s);
  await persist(ctx, e);
}
