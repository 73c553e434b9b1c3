/**
 * The exit monitor and the restart policy. A run's monitor waits for the run's end, never
 * taking the pod's lock: in a pod of one app container, its main process's exit (or the VM's
 * death); in a pod of several, the moment no container runs or waits for its restart in
 * place any more (./container-restart.ts), or the VM's death. It records the exit, starts the
 * teardown in the background, publishes `die`, wakes waiters, and then applies AutoRemove or
 * the pod's restart policy to the pod as a whole (with Docker's backoff, ./restart.ts): a new
 * VM.
 */
import type { AgentProcess, Vm } from '../../vm/types';
import { UnavailableError } from '../../errors';
import { logger } from '../../util/log';
import { nowRfc3339 } from '../../util/time';
import { OUTPUT_DRAIN_MS, atMost } from '../async';
import type { PodContext } from '../context';
import { startHealth, stopHealth } from '../health/health';
import { startProbes, stopAllProbes } from '../health/probes';
import { startWatchdog } from './watchdog';
import { ProcessIo } from '../io/io';
import { wake, type Entry, type Run, type WaitCondition, type WaitResult } from '../records/registry';
import { removeEntry } from './removal';
import { shouldRestart } from './restart';
import { tearDownSandbox } from './sandbox';
import { endInPlace, inPlaceOf, nextChange, resumeInPlace, settled, watchContainer } from './container-restart';
import { NoSuchContainerInPodError } from '../errors';
import { containersOf, findContainer, mainContainer, restartsInPlace, setStatus } from '../types';

const log = logger('pod');

/**
 * Wire a (new or re-adopted) run: io to log and sessions, exit monitors. `inits` holds the
 * init of each container on the VM: the main container's at least in a pod of one app
 * container; in a pod of several (./container-restart.ts), those still running.
 */
export function bindRun(ctx: PodContext, e: Entry, vm: Vm, inits: Map<string, AgentProcess>, startedMs: number): Run {
  // The pod's log and attach sessions carry its main container's streams; the other
  // containers' output goes to their own logs.
  const main = mainContainer(e.record);
  const init = inits.get(main.spec.id);
  const io = init ? new ProcessIo(init, { log: e.log, stdinOnce: main.spec.stdinOnce, tty: main.spec.tty }) : undefined;
  let resolveEnded!: () => void;
  const run: Run = {
    vm,
    inits,
    init,
    io,
    startedMs,
    ended: new Promise<void>((r) => (resolveEnded = r)),
    ...(e.record.sandbox.spec.joinPod ? { borrowed: true } : {}),
  };
  e.run = run;
  if (io) {
    for (const s of [...e.pending]) {
      e.pending.delete(s);
      io.add(s);
    }
  }
  const inPlace = restartsInPlace(e.record);
  if (inPlace) inPlaceOf(run);
  for (const [id, p] of inits) {
    // In a pod of several, each container's exit is recorded when it happens, and it
    // restarts in place under the pod's policy.
    if (inPlace) void watchContainer(ctx, e, run, id, p);
    if (p === init) continue;
    // Each other container's output goes to its own log (nobody attaches to it).
    new ProcessIo(p, {
      log: ctx.containerLog(e, id),
      stdinOnce: false,
      tty: e.record.containers[id]?.spec.tty ?? false,
    });
  }
  if (inPlace) resumeInPlace(ctx, e, run);
  void monitor(ctx, e, run).finally(resolveEnded);
  startHealth(ctx, e, run);
  startWatchdog(ctx, e, run, ctx.deps.watchdog);
  for (const id of inits.keys()) startProbes(ctx, e, run, id);
  return run;
}

/** How the main process of a run ended. */
async function exitOf(e: Entry, run: Run): Promise<{ exitCode: number; oomKilled: boolean; error: string }> {
  const vmDeath = run.vm.exited.then((x) => {
    throw new UnavailableError(
      x.expected ? `VM ${run.vm.id} was stopped` : `VM ${run.vm.id} exited unexpectedly: ${x.reason}`,
    );
  });
  vmDeath.catch(() => undefined);
  try {
    const r = e.record;
    if (run.inPlace) {
      // A pod of several: the run lasts while any app container runs or waits for its
      // restart in place; the pod's exit code is its main container's last.
      while (!settled(run)) await Promise.race([nextChange(run), vmDeath]);
      endInPlace(run);
      const { state } = mainContainer(r);
      return { exitCode: state.exitCode, oomKilled: state.oomKilled, error: state.error };
    }
    // A pod of one app container: its exit is the pod's. When the pod's policy restarts the
    // pod, the run ends there; otherwise it lasts while any container still runs.
    const status = await Promise.race([(run.init as AgentProcess).exited, vmDeath]);
    if (
      !shouldRestart(r.sandbox.spec.restartPolicy, status.exitCode, mainContainer(r).restartCount, r.manuallyStopped)
    ) {
      for (let seen: AgentProcess[] = []; ; ) {
        const now = [...run.inits.values()];
        if (now.length === seen.length && now.every((p, i) => p === seen[i])) break;
        seen = now;
        await Promise.race([Promise.all(now.map((p) => p.exited)), vmDeath]);
      }
    }
    return { exitCode: status.exitCode, oomKilled: status.oomKilled === true, error: '' };
  } catch (err) {
    if (run.inPlace) endInPlace(run);
    if (run.forcedExitCode !== undefined) return { exitCode: run.forcedExitCode, oomKilled: false, error: '' };
    if (run.borrowed) {
      // The VM was the other pod's, and that pod stopped: this one was killed with it.
      const gone = await Promise.race([
        run.vm.exited,
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 2000).unref()),
      ]);
      if (gone?.expected) return { exitCode: 137, oomKilled: false, error: '' };
    }
    let error = err instanceof Error ? err.message : String(err);
    // The agent channel usually breaks a moment before QEMU's exit is seen: prefer the
    // VM's own reason (it names the crash and the console's last words) when it comes.
    const gone = await Promise.race([
      run.vm.exited,
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 2000).unref()),
    ]);
    if (gone && !gone.expected)
      error = `VM ${run.vm.id} exited unexpectedly: ${gone.reason.split('\n').slice(0, 3).join(' / ')}`;
    return { exitCode: 255, oomKilled: false, error };
  }
}

/** Wait for the app containers' inits to end, then tear the run down and record the exit. */
async function monitor(ctx: PodContext, e: Entry, run: Run): Promise<void> {
  const { exitCode, oomKilled, error } = await exitOf(e, run);
  if (ctx.closing) return;
  log.debug(`container ${e.record.id.slice(0, 12)}: main process exited (${exitCode}${error ? `: ${error}` : ''})`);
  // Let the output drain (bounded: a dead VM's streams end at once).
  if (run.io) await atMost(run.io.done, OUTPUT_DRAIN_MS);
  log.debug(`container ${e.record.id.slice(0, 12)}: output drained, tearing down VM ${run.vm.id} in the background`);
  run.ending = true;
  const teardown = ctx.track(tearDownSandbox(ctx, e, run));
  e.teardown = teardown;
  void teardown.then(() => {
    if (e.teardown === teardown) e.teardown = undefined;
  });
  const r = e.record;
  const finishedAt = nowRfc3339();
  const main = mainContainer(r);
  stopHealth(e);
  stopAllProbes(e);
  // The containers whose end the run's end records (a pod of several published the others'
  // exits as they came).
  const ended = containersOf(r).filter((c) => c.process !== undefined);
  for (const c of containersOf(r)) {
    if (c === main && (!run.inPlace || c.process))
      c.state = { ...c.state, status: 'exited', pid: 0, exitCode, error, finishedAt, oomKilled };
    // Another container still on the VM went down with it (killed: 137).
    else if (c.process) c.state = { ...c.state, status: 'exited', pid: 0, exitCode: 137, finishedAt };
    // One waiting for its restart in place stays exited (that restart was cancelled).
    else if (c.state.status === 'restarting') c.state = { ...c.state, status: 'exited' };
    c.process = undefined;
  }
  r.sandbox.vmId = undefined;
  await ctx.persist(e).catch((err) => log.error(`persisting ${r.id}: ${(err as Error).message}`));
  // Only now is the pod "not running": a wait that arrives meanwhile is woken below, after
  // `die`, so no client sees the exit before the event.
  e.run = undefined;
  log.debug(`container ${r.id.slice(0, 12)}: exited ${exitCode}, run torn down`);
  // dockerd sends `oom` (from the cgroup's OOM notification) before `die`.
  if (!run.inPlace) {
    if (oomKilled) ctx.emit(r, 'oom', {});
    ctx.emit(r, 'die', { exitCode: String(exitCode) });
  } else {
    for (const c of ended) ctx.emitFor(r, c, 'die', { exitCode: String(c.state.exitCode) });
  }
  ctx.emitVolumes(r, 'unmount');
  for (const f of [...e.followers]) f();
  wake(e, 'exit', { exitCode, ...(error ? { error } : {}) }, (id) => {
    const s = r.containers[id]?.state;
    return {
      exitCode: s?.exitCode ?? exitCode,
      ...(s?.error ? { error: s.error } : {}),
      ...(s?.failure ? { failure: s.failure } : {}),
    };
  });
  if (ctx.closing || e.removed) return;
  if (r.sandbox.spec.autoRemove) {
    await removeEntry(ctx, e).catch((err) => log.error(`auto-removing ${r.id}: ${(err as Error).message}`));
    return;
  }
  const ranMs = Date.now() - run.startedMs;
  // The restart policy is the pod's, counted on its main container (whose exit ended the run).
  if (shouldRestart(r.sandbox.spec.restartPolicy, exitCode, main.restartCount, r.manuallyStopped)) {
    scheduleRestart(ctx, e, e.backoff.next(ranMs));
  }
}

/** Mark a pod `restarting` and start it again after `delayMs` (unless stopped meanwhile). */
function scheduleRestart(ctx: PodContext, e: Entry, delayMs: number): void {
  const r = e.record;
  setStatus(r, 'restarting');
  void ctx.persist(e).catch(() => undefined);
  ctx.cancelRestart(e);
  e.restartTimer = setTimeout(() => {
    e.restartTimer = undefined;
    void e.ops.run(async () => {
      if (e.removed || e.run || mainContainer(r).state.status !== 'restarting') return;
      if (r.manuallyStopped) {
        setStatus(r, 'exited');
        await ctx.persist(e).catch(() => undefined);
        return;
      }
      for (const c of containersOf(r)) c.restartCount++;
      try {
        await ctx.hooks.startLocked(e);
      } catch (err) {
        log.warn(`restart of ${r.id} failed: ${(err as Error).message}`);
        setStatus(r, 'exited');
        await ctx.persist(e).catch(() => undefined);
      }
    });
  }, delayMs);
}

/**
 * Wait for a pod to stop (or be removed): its main container's exit, or that of `container`
 * of it, which in a pod of several may come while the others run on (it is woken at each exit
 * of that container, as dockerd wakes waiters at each exit of a container that restarts).
 */
export function waitExit(e: Entry, condition: WaitCondition, container?: string): Promise<WaitResult> {
  const r = e.record;
  const named = container === undefined ? undefined : findContainer(r, container);
  if (container !== undefined && !named) throw new NoSuchContainerInPodError(r.id, container);
  // The main container's waiters are the pod's (whatever the pod's size).
  const c = named && named !== mainContainer(r) ? named : undefined;
  const { state, process } = c ?? mainContainer(r);
  const running =
    restartsInPlace(r) || c
      ? process !== undefined ||
        state.status === 'running' ||
        state.status === 'paused' ||
        state.status === 'restarting'
      : !!e.run || state.status === 'restarting';
  if (condition === 'not-running' && !running) {
    return Promise.resolve({
      exitCode: state.exitCode,
      ...(state.error ? { error: state.error } : {}),
      ...(state.failure ? { failure: state.failure } : {}),
    });
  }
  return new Promise((resolve) => e.waiters.add({ condition, ...(c ? { container: c.spec.id } : {}), resolve }));
}
