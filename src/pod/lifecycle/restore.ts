/**
 * Restore at daemon start, and shutdown. `load` reads every record and re-adopts in the
 * background, all at once, the VMs of pods that were running (their locks held meanwhile);
 * a pod whose VM is gone or whose init no longer runs is marked exited (255) with an error,
 * and started again when its restart policy says so. `shutdown` lets go of the guests without
 * touching them, so the next daemon re-adopts them.
 */
import type { AgentProcess, Vm } from '../../vm/types';
import { logger } from '../../util/log';
import { nowRfc3339, parseRfc3339 } from '../../util/time';
import type { PodContext } from '../context';
import { endInPlace } from './container-restart';
import { bindRun } from './monitor';
import { resumeInGuest, resumeShareRelay } from '../mounts/mounts';
import { decodeRecord } from '../records/record';
import type { Entry } from '../records/registry';
import { removeEntry } from './removal';
import { shouldRestart, startsWithDaemon } from './restart';
import { initProcessId } from './container-init';
import { rootfsTarget } from './runtime';
import { adoptSandbox } from './sandbox';
import { removeUnfinishedSaves } from '../checkpoints/unfinished-saves';
import { withDeadline } from '../../util/deadline';
import { containersOf, isPaused, mainContainer, podPhase, restartsInPlace, type ContainerRecord } from '../types';

/**
 * How long a re-adopted guest has to list its processes: one that does not answer (hung, or
 * a hostile guest's agent) is given up, and its pod marked lost, rather than holding the
 * daemon's readiness (the CRI front serves once every adoption ended).
 */
const REATTACH_DEADLINE_MS = 60_000;

const log = logger('pod');

/**
 * Load every pod from disk after a daemon (re)start, without waiting for any VM (see the
 * module comment). `adopted` resolves with the ids of the VMs adopted when every adoption
 * has ended: every other VM an earlier daemon left is the caller's to reclaim.
 */
export async function load(ctx: PodContext): Promise<{ adopted: Promise<Set<string>> }> {
  const { deps, registry } = ctx;
  const { records: stored, orphans } = await deps.state.loadAll();
  const decodedAll = [];
  for (const raw of stored) decodedAll.push({ raw, decoded: await decodeRecord(ctx, raw) });
  // The other containers of a pod of several have a directory (their rootfs) but no record of
  // their own: the pod's record holds them. Only a directory no record claims is half-created.
  const owned = new Set(
    decodedAll.flatMap(({ decoded }) => (decoded.record ? containersOf(decoded.record).map((c) => c.spec.id) : [])),
  );
  for (const id of orphans) {
    if (owned.has(id)) continue;
    log.warn(`removing half-created container directory ${id}`);
    await deps.rootfs.remove(id).catch(() => undefined);
    await deps.state.remove(id).catch(() => undefined);
  }
  const claimed = new Set<string>();
  const joined: Entry[] = [];
  const adoptions: Promise<void>[] = [];
  for (const { raw, decoded } of decodedAll) {
    const r = decoded.record;
    if (!r) {
      // A record that is no pod's is cleaned up as a half-created one; a newer one is kept.
      if (!decoded.keep) {
        await deps.rootfs.remove(raw.id).catch(() => undefined);
        await deps.state.remove(raw.id).catch(() => undefined);
      }
      continue;
    }
    const e = registry.newEntry(r);
    try {
      registry.names.reserve(r.name, r.id);
    } catch {
      r.name = registry.names.generate(r.id);
    }
    registry.add(e);
    // What happens to the pod follows its main container's status (the pod's as a whole for
    // the Docker front end's pods, which have no other container).
    const status = mainContainer(r).state.status;
    const { restartPolicy, autoRemove } = r.sandbox.spec;
    if (podPhase(r) === 'running' && r.sandbox.spec.joinPod) {
      // It runs in another pod's VM: taken over once that pod is (below, after the loop).
      joined.push(e);
    } else if (podPhase(r) === 'running') {
      const vmId = r.sandbox.vmId;
      const done = e.ops
        .run(async () => {
          if (await readopt(ctx, e)) claimed.add(vmId as string);
          else await markLost(ctx, e);
        })
        .catch((err) => log.error(`restoring ${r.id}: ${(err as Error).message}`))
        .finally(() => registry.adopting.delete(r.id));
      registry.adopting.set(r.id, done);
      adoptions.push(done);
    } else if (status === 'restarting') {
      await markLost(ctx, e);
    } else if (status === 'exited' && startsWithDaemon(restartPolicy, r.manuallyStopped)) {
      startInBackground(ctx, e);
    } else if (status === 'removing' || (status === 'exited' && autoRemove)) {
      // A removal cut short, or an AutoRemove pod that exited (dockerd removes those at its
      // start too).
      await removeEntry(ctx, e).catch((err) => log.error(`finishing removal of ${r.id}: ${(err as Error).message}`));
    }
  }
  for (const e of joined) {
    const r = e.record;
    const done = e.ops
      .run(async () => {
        if (!(await readoptJoined(ctx, e))) await markLost(ctx, e);
      })
      .catch((err) => log.error(`restoring ${r.id}: ${(err as Error).message}`))
      .finally(() => registry.adopting.delete(r.id));
    registry.adopting.set(r.id, done);
    adoptions.push(done);
  }
  return { adopted: Promise.all(adoptions).then(() => claimed) };
}

/**
 * Take over a pod that runs in another pod's VM (joinPod): once that pod was re-adopted, its
 * VM's agent lists this pod's inits too.
 */
async function readoptJoined(ctx: PodContext, e: Entry): Promise<boolean> {
  const r = e.record;
  const join = r.sandbox.spec.joinPod as NonNullable<typeof r.sandbox.spec.joinPod>;
  let host: Entry;
  try {
    host = ctx.registry.lookup(join.pod);
  } catch {
    return false;
  }
  await ctx.registry.adopting.get(host.record.id);
  const vm = host.run?.vm;
  if (!vm || vm.id !== r.sandbox.vmId) return false;
  try {
    const main = mainContainer(r);
    // Usually listed by the host pod's reattach already (then its output continues from where
    // the agent is, without the resume point).
    const procs = await vm.agent.reattach((p) =>
      p.processId === (main.process ?? initProcessId(main.spec.id)) ? e.log.resumePoint() : undefined,
    );
    const inits = new Map<string, AgentProcess>();
    for (const c of containersOf(r)) {
      const init = procs.find((p) => p.processId === (c.process ?? initProcessId(c.spec.id)));
      if (init) inits.set(c.spec.id, init);
    }
    if (!inits.has(main.spec.id)) return false;
    for (const c of containersOf(r)) await ctx.deps.rootfs.adopt(c.spec.id, rootfsTarget(vm, c.spec.id));
    bindRun(ctx, e, vm, inits, parseRfc3339(main.state.startedAt) || Date.now());
    for (const c of containersOf(r)) if (inits.has(c.spec.id)) await resumeShareRelay(vm, c.spec, procs);
    for (const c of containersOf(r)) if (inits.has(c.spec.id)) await resumeInGuest(vm, c.spec, procs);
    log.info(`re-adopted container ${r.id} in the VM of ${host.record.id}`);
    return true;
  } catch (err) {
    log.warn(`re-adopting ${r.id}: ${(err as Error).message}`);
    return false;
  }
}

/** Start a restored pod in the background (restart policy at daemon start). */
function startInBackground(ctx: PodContext, e: Entry): void {
  void e.ops
    .run(() => ctx.hooks.startLocked(e))
    .catch((err) => log.warn(`starting ${e.record.id} at daemon start: ${(err as Error).message}`));
}

/** A restored pod whose run did not survive the restart: exited, and restarted by policy. */
async function markLost(ctx: PodContext, e: Entry): Promise<void> {
  const r = e.record;
  const main = mainContainer(r);
  const restarting = main.state.status === 'restarting';
  const now = nowRfc3339();
  const wasOnVm = new Set(containersOf(r).filter((c) => c.state.status === 'running' || c.state.status === 'paused'));
  for (const c of containersOf(r)) {
    await ctx.deps.rootfs.unmount(c.spec.id).catch(() => undefined);
    const onVm = wasOnVm.has(c);
    c.state = {
      ...c.state,
      status: 'exited',
      pid: 0,
      exitCode: onVm ? 255 : c.state.exitCode,
      error: onVm ? `the VM of this container was gone when the daemon restarted` : c.state.error,
      finishedAt: onVm ? now : c.state.finishedAt,
    };
    c.process = undefined;
  }
  r.sandbox.vmId = undefined;
  await removeUnfinishedSaves(ctx, e).catch(() => 0);
  await ctx.persist(e);
  if (!restarting) {
    ctx.emitEach(
      r,
      'die',
      (c) => wasOnVm.has(c),
      () => ({ exitCode: '255' }),
    );
    ctx.emitVolumes(r, 'unmount');
  }
  if (restarting || shouldRestart(r.sandbox.spec.restartPolicy, 255, main.restartCount, r.manuallyStopped))
    startInBackground(ctx, e);
}

/** Take over the VM of a pod that was running, if it and the pod's init still run. */
async function readopt(ctx: PodContext, e: Entry): Promise<boolean> {
  const r = e.record;
  if (!r.sandbox.vmId) return false;
  const vm: Vm | undefined = await adoptSandbox(ctx, r.id, r.sandbox.vmId);
  if (!vm) return false;
  try {
    // Each container's init that still runs is taken over; in a pod of one app container the
    // main container's must be there (its exit ends the run). Its output continues from what
    // its log holds.
    const main = mainContainer(r);
    const logged = main.process ?? initProcessId(main.spec.id);
    // Each of its containers' inits continues its output from what that container's log holds.
    const initOf = (p: { processId: string; containerId: string }) => {
      const c = r.containers[p.containerId];
      return c !== undefined && p.processId === (c.process ?? initProcessId(c.spec.id));
    };
    // A save the earlier daemon died in the middle of ended as a failed one does: the VM runs
    // on, its clock set again and its rootfs share mounted again (its stop was the save's).
    if ((await removeUnfinishedSaves(ctx, e)) > 0) {
      await vm.resumeAfterSave?.();
      log.info(`container ${r.id.slice(0, 12)}: a checkpoint its earlier daemon was saving is dropped; it runs on`);
    }
    const procs = await withDeadline(
      vm.agent.reattach((p) =>
        p.processId === logged
          ? e.log.resumePoint()
          : initOf(p)
            ? ctx.containerLog(e, p.containerId).resumePoint()
            : undefined,
      ),
      REATTACH_DEADLINE_MS,
      'its guest did not list its processes',
    );
    const inits = new Map<string, AgentProcess>();
    // In a pod of several, the main container is one of them: the run goes on without it.
    const inPlace = restartsInPlace(r);
    const lost: ContainerRecord[] = [];
    for (const c of containersOf(r)) {
      const wanted = c.process ?? initProcessId(c.spec.id);
      const init = procs.find((p) => p.processId === wanted);
      if (init && inPlace && c.process === undefined) {
        if (c.state.status !== 'restarting') continue;
        // Its restart in place was under way when the earlier daemon went away: it runs.
        c.restartCount++;
        c.process = wanted;
        c.state = { ...c.state, status: 'running', pid: init.pid, exitCode: 0, error: '', startedAt: nowRfc3339() };
      }
      if (init) inits.set(c.spec.id, init);
      else if (c === main && !inPlace) throw new Error(`process ${wanted} is gone`);
      else if (c.process) {
        // It ended while no daemon watched: its exit code is lost with the agent's record.
        // Its restart in place, when the pod's policy wants one, is resumed with the run's.
        const again =
          inPlace &&
          !c.spec.init &&
          shouldRestart(r.sandbox.spec.restartPolicy, 255, c.restartCount, r.manuallyStopped);
        c.state = {
          ...c.state,
          status: again ? 'restarting' : 'exited',
          pid: 0,
          exitCode: 255,
          finishedAt: nowRfc3339(),
        };
        c.process = undefined;
        lost.push(c);
      }
    }
    // The rootfs mounts stay where the earlier daemon made them; its record of them may not.
    for (const c of containersOf(r)) await ctx.deps.rootfs.adopt(c.spec.id, rootfsTarget(vm, c.spec.id));
    bindRun(ctx, e, vm, inits, parseRfc3339(main.state.startedAt) || Date.now());
    for (const c of containersOf(r)) if (inits.has(c.spec.id)) await resumeShareRelay(vm, c.spec, procs);
    // The socket binds of its running containers relay again (../network/socket-relay.ts).
    for (const c of containersOf(r)) if (inits.has(c.spec.id)) await resumeInGuest(vm, c.spec, procs);
    await ctx.persist(e);
    for (const c of lost) ctx.emitFor(r, c, 'die', { exitCode: '255' });
    // The adoption ran its guest (the handshake needs it): a paused pod is frozen again.
    if (isPaused(r)) await vm.pause();
    log.info(`re-adopted container ${r.id} on VM ${vm.id}`);
    return true;
  } catch (err) {
    log.warn(`re-adopting ${r.id}: ${(err as Error).message}`);
    await vm.destroy().catch(() => undefined);
    return false;
  }
}

/**
 * Daemon shutdown: close agent channels without touching the guests, so running pods keep
 * running and the next daemon re-adopts them. Pending restarts are cancelled.
 */
export function shutdown(ctx: PodContext): void {
  ctx.closing = true;
  for (const e of ctx.registry.all()) {
    ctx.cancelRestart(e);
    if (e.run?.inPlace) endInPlace(e.run);
    e.ops.abortCurrent('shutdown');
    e.run?.vm.agent.close();
    for (const s of [...e.pending]) s.finish('cancelled');
  }
}
