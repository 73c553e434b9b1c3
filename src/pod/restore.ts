/**
 * Restore at daemon start, and shutdown. `load` reads every record and re-adopts in the
 * background, all at once, the VMs of pods that were running (their locks held meanwhile);
 * a pod whose VM is gone or whose init no longer runs is marked exited (255) with an error,
 * and started again when its restart policy says so. `shutdown` lets go of the guests without
 * touching them, so the next daemon re-adopts them.
 */
import type { Vm } from '../vm/types';
import { logger } from '../util/log';
import { nowRfc3339, parseRfc3339 } from '../util/time';
import type { PodContext } from './context';
import { bindRun } from './monitor';
import { decodeRecord } from './record';
import type { Entry } from './registry';
import { removeEntry } from './removal';
import { shouldRestart, startsWithDaemon } from './restart';
import { initProcessId } from './runtime';
import { adoptSandbox } from './sandbox';
import { mainContainer } from './types';

const log = logger('pod');

/**
 * Load every pod from disk after a daemon (re)start, without waiting for any VM (see the
 * module comment). `adopted` resolves with the ids of the VMs adopted when every adoption
 * has ended: every other VM an earlier daemon left is the caller's to reclaim.
 */
export async function load(ctx: PodContext): Promise<{ adopted: Promise<Set<string>> }> {
  const { deps, registry } = ctx;
  const { records: stored, orphans } = await deps.state.loadAll();
  for (const id of orphans) {
    log.warn(`removing half-created container directory ${id}`);
    await deps.rootfs.remove(id).catch(() => undefined);
    await deps.state.remove(id).catch(() => undefined);
  }
  const claimed = new Set<string>();
  const adoptions: Promise<void>[] = [];
  for (const raw of stored) {
    const r = await decodeRecord(ctx, raw);
    if (!r) {
      await deps.rootfs.remove(raw.id).catch(() => undefined);
      await deps.state.remove(raw.id).catch(() => undefined);
      continue;
    }
    const e = registry.newEntry(r);
    try {
      registry.names.reserve(r.name, r.id);
    } catch {
      r.name = registry.names.generate(r.id);
    }
    registry.add(e);
    const wasOnVm = r.state.status === 'running' || r.state.status === 'paused';
    if (wasOnVm) {
      const vmId = r.vmId;
      const done = e.ops
        .run(async () => {
          if (await readopt(ctx, e)) claimed.add(vmId as string);
          else await markLost(ctx, e);
        })
        .catch((err) => log.error(`restoring ${r.id}: ${(err as Error).message}`))
        .finally(() => registry.adopting.delete(r.id));
      registry.adopting.set(r.id, done);
      adoptions.push(done);
    } else if (r.state.status === 'restarting') {
      await markLost(ctx, e);
    } else if (r.state.status === 'exited' && startsWithDaemon(r.spec.restartPolicy, r.manuallyStopped)) {
      startInBackground(ctx, e);
    } else if (r.state.status === 'removing' || (r.state.status === 'exited' && r.spec.autoRemove)) {
      // A removal cut short, or an AutoRemove pod that exited (dockerd removes those at its
      // start too).
      await removeEntry(ctx, e).catch((err) => log.error(`finishing removal of ${r.id}: ${(err as Error).message}`));
    }
  }
  return { adopted: Promise.all(adoptions).then(() => claimed) };
}

/** Start a restored pod in the background (restart policy at daemon start). */
function startInBackground(ctx: PodContext, e: Entry): void {
  void e.ops.run(() => ctx.hooks.startLocked(e)).catch((err) => log.warn(`starting ${e.record.id} at daemon start: ${(err as Error).message}`));
}

/** A restored pod whose run did not survive the restart: exited, and restarted by policy. */
async function markLost(ctx: PodContext, e: Entry): Promise<void> {
  const r = e.record;
  const restarting = r.state.status === 'restarting';
  for (const c of r.spec.containers) await ctx.deps.rootfs.unmount(c.id).catch(() => undefined);
  r.state = {
    ...r.state,
    status: 'exited',
    pid: 0,
    exitCode: restarting ? r.state.exitCode : 255,
    error: restarting ? r.state.error : `the VM of this container was gone when the daemon restarted`,
    finishedAt: restarting ? r.state.finishedAt : nowRfc3339(),
  };
  r.vmId = undefined;
  r.initProcessIds = undefined;
  await ctx.persist(e);
  if (!restarting) ctx.emit(r, 'die', { exitCode: '255' });
  if (restarting || shouldRestart(r.spec.restartPolicy, 255, r.restartCount, r.manuallyStopped)) startInBackground(ctx, e);
}

/** Take over the VM of a pod that was running, if it and the pod's init still run. */
async function readopt(ctx: PodContext, e: Entry): Promise<boolean> {
  const r = e.record;
  if (!r.vmId) return false;
  const vm: Vm | undefined = await adoptSandbox(ctx, r.id, r.vmId);
  if (!vm) return false;
  try {
    const procs = await vm.agent.reattach();
    // The run follows the main container's init (the only container of Docker's pods).
    const main = mainContainer(r.spec);
    const wanted = r.initProcessIds?.[main.id] ?? initProcessId(main.id);
    const init = procs.find((p) => p.processId === wanted);
    if (!init) throw new Error(`process ${wanted} is gone`);
    bindRun(ctx, e, vm, init, parseRfc3339(r.state.startedAt) || Date.now());
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
    e.ops.abortCurrent('shutdown');
    e.run?.vm.agent.close();
    for (const s of [...e.pending]) s.finish('cancelled');
  }
}
