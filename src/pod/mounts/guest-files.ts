/**
 * A block-mode container's files reached in its guest, for one archive request (docker cp,
 * diff, export, commit: src/storage/archive/guest.ts). The writable layer is an ext4
 * filesystem that only a guest may mount, so:
 *   - a running (or paused) container: its own VM's agent;
 *   - a created or stopped one: a short-lived VM from the pool, with the container's image
 *     layers mounted into its share and its disk attached, and the container's namespace made
 *     (CREATE_CONTAINER: the overlay of the image and the disk) with no process of it run.
 *     The pod's lock is held until the request ends, so the container cannot start meanwhile
 *     (two guests must never mount one disk). The release destroys the container (the agent
 *     syncs the disk), detaches the disk, unmounts the layers and destroys the VM. A kill or
 *     rm -f of the container ends the request early instead of waiting for it.
 */
import type { AgentProcess, ArchiveRequest, Vm } from '../../vm/types';
import { NotImplementedError, UnavailableError } from '../../errors';
import { logger } from '../../util/log';
import type { PodContext } from '../context';
import { NoSuchPodError, PodPausedError } from '../errors';
import type { Entry, Run } from '../records/registry';
import { rootfsInShare, rootfsTarget } from '../lifecycle/runtime';
import { mountDiskVolume } from './mounts';
import { isPaused, mainContainer, podSpecOf } from '../types';

const log = logger('pod');

/** One request's view of a container's guest (matches src/storage/archive/guest.ts GuestFiles). */
export interface GuestFilesSession {
  archive(req: ArchiveRequestOf): Promise<AgentProcess>;
  kill(p: { processId: string }): Promise<void>;
  readFile(path: string, maxBytes: number): Promise<Buffer>;
  release(): Promise<void>;
}

/** An ARCHIVE request less the ids the session adds. */
export type ArchiveRequestOf = ArchiveRequest extends infer R
  ? R extends unknown
    ? Omit<R, 'containerId' | 'processId'>
    : never
  : never;

let seq = 0;

/** The session over `agent` for container `id`. */
function session(vm: Vm, id: string, release: () => Promise<void>): GuestFilesSession {
  const agent = vm.agent;
  return {
    archive: (req) => {
      if (!agent.archive) throw new NotImplementedError('the guest agent has no ARCHIVE');
      return agent.archive({ ...req, containerId: id, processId: `archive-${process.pid}-${++seq}` } as ArchiveRequest);
    },
    kill: (p) => agent.signalProcess(p.processId, 9),
    readFile: (p, max) => agent.readFile(id, p, max),
    release,
  };
}

/**
 * A session over running `run`'s VM: the run's teardown waits for it (Run.archives), so a
 * request that began while the container ran (a commit right after a short `docker start`)
 * reads its files even when it exits meanwhile.
 */
function runningSession(run: Run, id: string): GuestFilesSession {
  let done: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (done = resolve));
  const archives = (run.archives ??= new Set());
  archives.add(held);
  return session(run.vm, id, async () => {
    archives.delete(held);
    done();
  });
}

/** Open the main container of pod `ref` in a guest (see the module comment). */
export async function openGuestFiles(ctx: PodContext, e: Entry, ref: string): Promise<GuestFilesSession> {
  const id = mainContainer(e.record).spec.id;
  // A paused pod's VM is frozen, its agent too.
  if (e.run && isPaused(e.record)) throw new PodPausedError(e.record.id, 'archive');
  if (e.run && !e.run.ending) return runningSession(e.run, id);
  let opened: (s: GuestFilesSession) => void = () => undefined;
  let failed: (err: unknown) => void = () => undefined;
  const ready = new Promise<GuestFilesSession>((resolve, reject) => ((opened = resolve), (failed = reject)));
  let done: () => void = () => undefined;
  const over = new Promise<void>((resolve) => (done = resolve));
  const op = e.ops.run(async (signal) => {
    if (e.removed) throw new NoSuchPodError(ref);
    if (e.run && !e.run.ending) {
      // Started while this request waited for the lock: its running VM serves.
      opened(runningSession(e.run, id));
      return;
    }
    await e.teardown;
    const disk = ctx.deps.rootfs.diskOf?.(id);
    if (!disk) throw new UnavailableError(`container ${id.slice(0, 12)} has no disk for its writable layer`);
    const spec = podSpecOf(e.record);
    const vm = await ctx.deps.factory.getVm({ size: spec.vm, devices: { upperDisk: true } });
    const undo: Array<() => Promise<void>> = [() => vm.destroy()];
    try {
      await ctx.deps.rootfs.mount(id, rootfsTarget(vm, id));
      undo.push(() => ctx.deps.rootfs.unmount(id));
      if (!vm.devices.upperDisk || !vm.attachUpperDisk) throw new UnavailableError(`VM ${vm.id} has no upper disk`);
      await vm.attachUpperDisk(disk);
      undo.push(() => vm.detachUpperDisk?.() ?? Promise.resolve());
      await vm.agent.createContainer({ id, rootfs: rootfsInShare(id), upperDisk: vm.devices.upperDisk.guestName });
      // Its release syncs the disk (the agent's container_release) before the VM goes.
      undo.push(() => vm.agent.destroyContainer(id));
      // The volumes kept on its disk, where it has them (cp in and out of them; their data
      // moved off the disk when it is removed).
      for (const m of mainContainer(e.record).spec.mounts ?? [])
        if (m.type === 'volume' && m.diskDir) await mountDiskVolume(vm, id, m);
      opened(session(vm, id, async () => done()));
      // A kill or rm -f of the container ends the request now (its streams fail).
      await new Promise<void>((resolve) => {
        void over.then(resolve);
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
    } finally {
      for (const u of undo.reverse()) {
        try {
          await u();
        } catch (err) {
          log.warn(`container ${id.slice(0, 12)}: ending its archive VM: ${(err as Error).message}`);
        }
      }
    }
  });
  op.catch((err: unknown) => failed(err));
  const s = await ready;
  return {
    ...s,
    release: async () => {
      await s.release();
      await op.catch(() => undefined);
    },
  };
}
