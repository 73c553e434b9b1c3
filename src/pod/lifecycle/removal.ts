/**
 * Removing a pod: a running one only when forced (killed first). The storage (rootfs, record)
 * is deleted once the last run's teardown is done; when that is still under way the removal
 * answers at once and deletes afterwards (a daemon that dies meanwhile finishes the removal
 * at its next start, from a `removing` record or an exited AutoRemove one).
 */
import { RemoveRunningPodError } from '../errors';
import { logger } from '../../util/log';
import type { PodContext } from '../context';
import { wake, type Entry } from '../records/registry';
import { hardKill, isRestarting, resumeIfPaused } from './stop';
import { mainContainer, setStatus } from '../types';
import { checkpointWorkSettled } from '../checkpoints/checkpoints';

const log = logger('pod');

/** Remove a pod; a running one only with `force` (killed first). */
export async function remove(ctx: PodContext, e: Entry, opts: { force: boolean }): Promise<void> {
  // rm -f preempts a pending stop, restart or start; a plain rm waits its turn.
  const queue = <T>(fn: () => Promise<T>) => (opts.force ? e.ops.force('remove', fn) : e.ops.run(fn));
  if (opts.force) ctx.cancelRestart(e);
  await queue(async () => {
    if (e.removed) return;
    const r = e.record;
    if (e.run || isRestarting(r)) {
      if (!opts.force) {
        throw new RemoveRunningPodError(r.id);
      }
      ctx.cancelRestart(e);
      r.manuallyStopped = true;
      const run = e.run;
      if (run) {
        await resumeIfPaused(ctx, e).catch(() => undefined);
        await hardKill(ctx, e, run);
        await run.ended;
      }
    }
    if (!e.removed) await removeEntry(ctx, e);
  });
}

/** Delete a stopped pod's storage, release its name and images, and forget it. */
export async function removeEntry(ctx: PodContext, e: Entry): Promise<void> {
  if (e.removed) return;
  const r = e.record;
  const { deps } = ctx;
  ctx.cancelRestart(e);
  setStatus(r, 'removing');
  e.removed = true;
  for (const s of [...e.pending]) s.finish('cancelled');
  e.pending.clear();
  for (const w of [e.log, ...e.containerLogs.values()]) {
    try {
      w.close();
    } catch {
      // Nothing was open.
    }
  }
  const deleteStorage = async (): Promise<void> => {
    await checkpointWorkSettled(ctx, e);
    for (const id of Object.keys(r.containers)) await deps.rootfs.remove(id);
    await deps.state.remove(r.id);
  };
  const teardown = e.teardown;
  if (teardown) {
    // The rootfs is still being unmounted: answer now, delete afterwards. A daemon that dies
    // before that finds the record and removes it at its next start: `removing` is written
    // for that, except for AutoRemove pods, whose exited record restore() removes anyway.
    if (!r.sandbox.spec.autoRemove) await deps.state.save(r);
    void ctx.track(teardown.then(deleteStorage));
  }
  for (const { spec: c } of Object.values(r.containers)) {
    if (!teardown) await deps.rootfs.remove(c.id);
    await deps.images
      .removeUser(c.image, c.id)
      .catch((err) => log.warn(`releasing image of ${c.id}: ${(err as Error).message}`));
  }
  if (!teardown) {
    await checkpointWorkSettled(ctx, e);
    await deps.state.remove(r.id);
  }
  ctx.registry.names.release(r.name, r.id);
  ctx.registry.delete(r.id);
  for (const x of ctx.execs.of(r.id)) ctx.execs.delete(x.id);
  log.debug(`container ${r.id.slice(0, 12)}: removed`);
  ctx.emitEach(r, 'destroy', () => true);
  // As dockerd: the removal itself carries no error (a failed start was already answered).
  const { exitCode } = mainContainer(r).state;
  const own = (id: string) => ({ exitCode: r.containers[id]?.state.exitCode ?? exitCode });
  wake(e, 'removed', { exitCode }, own);
  wake(e, 'exit', { exitCode }, own);
}
