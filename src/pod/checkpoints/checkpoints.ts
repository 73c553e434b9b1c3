/**
 * A pod's checkpoints (Docker's `docker checkpoint`): named saves of its whole VM,
 * kept in `<pod dir>/checkpoints/<name>/` (mode 0700: a checkpoint holds the guest's memory,
 * secrets included; the pod's directory is the host's only, never a guest's, and goes with the
 * pod's removal). Each holds the VM's state and record (src/vm/qemu/snapshots/checkpoint.ts), a sparse
 * copy of the container's disk taken while the VM was stopped (`upper.ext4`), and the pod's
 * record as it was (`pod.json`). A save is written to `.new-<name>` and renamed when whole, so
 * a failure or a crash never leaves a checkpoint that is half there.
 *
 * A VM can be saved only when its guest has no 9p export mounted (QEMU keeps the guest's open
 * files of a 9p share in its own memory, not in the saved state): its rootfs share is let go
 * for the save (RELEASE_SHARE), and the container must read its image from its image's
 * read-only disk (`--storage-opt image=disk`) instead of the layers share, and have no bind
 * mount and no volume but those kept on its own disk (its anonymous ones: they are saved
 * with the disk, and a fork gets its own copies). That image disk is shared by the image's containers and never written: a checkpoint
 * records which file it is (vm.json) instead of copying it, and a restore or fork puts the same
 * file behind its VM's image disk (refused when it is gone). Containers that joined its VM
 * (`--network container:X`) are saved with it under --leave-running, their upper disks copied,
 * and let go by the checkpoint's fork template: a restore or fork brings back the pod alone
 * (joinedToSave); without it they end first, their layers synced (../lifecycle/joiners.ts).
 * Anything else is refused with QEMU's reasons, and the pod runs on.
 *
 * A start from a checkpoint (restoreFrom) makes the container's disk a copy-on-write overlay
 * over the checkpoint's (src/util/disk-chain.ts), starts a new VM from its state, and takes
 * over the processes as a daemon restart does.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Vm } from '../../vm/types';
import { logger } from '../../util/log';
import { writeFileAtomic } from '../../util/atomic';
import { removeTree } from '../../util/remove-tree';
import type { PodContext } from '../context';
import { CheckpointError } from '../errors';
import type { Entry } from '../records/registry';
import { containersOf, diskNameOf, mainContainer, type PodContainerSpec, type PodRecord } from '../types';
import { endJoiners, joinersOf } from '../lifecycle/joiners';

const log = logger('pod');

/** In a checkpoint's directory: the copy of the container's disk, and the pod's record. */
const DISK_COPY = 'upper.ext4';
const POD_RECORD = 'pod.json';
/** What a refusal for a mounted 9p share adds. */
const SAVABLE_HINT =
  "a container can be saved when it reads its image from the image's disk (the default; not with --storage-opt image=layers, nor in another container's VM), has no bind mount, and keeps its volumes on its own disk (its anonymous ones by default, its named ones with --storage-opt volumes=disk, while no other container mounts them)";

/** dockerd's checkpoint names (its RestrictedNamePattern): two characters or more, no separator. */
const CHECKPOINT_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** The directory of a pod's checkpoints. */
export function checkpointsDir(ctx: PodContext, e: Entry): string {
  return path.join(ctx.dir(e.record.id), 'checkpoints');
}

/** The names of a pod's checkpoints, in name order (none when it has none). */
export async function listCheckpoints(ctx: PodContext, e: Entry): Promise<string[]> {
  let entries: fs.Dirent[];
  try {
    entries = await fs.promises.readdir(checkpointsDir(ctx, e), { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return entries
    .filter((d) => d.isDirectory() && CHECKPOINT_NAME.test(d.name))
    .map((d) => d.name)
    .sort();
}

/** Whether the pod has checkpoint `name` (false for a name no checkpoint can have). */
export function hasCheckpoint(ctx: PodContext, e: Entry, name: string): boolean {
  if (!CHECKPOINT_NAME.test(name)) return false;
  try {
    return fs.lstatSync(path.join(checkpointsDir(ctx, e), name)).isDirectory();
  } catch {
    return false;
  }
}

/** How a checkpoint is made (createCheckpoint). */
export interface CheckpointOptions {
  /** End the pod's run after the save (dockerd's `--leave-running` unset). */
  exit: boolean;
  /**
   * The save of a CRI sandbox's VM for CheckpointContainer: allowed on a VM on the node's CNI
   * network (without `exit` only), its containers saved as joined ones, no fork template made
   * (the caller packs the checkpoint into an archive and removes it); each joined container's
   * image disk is linked into it as `image-N.ext4`, beside the copy of its layer `joined-N.disk`.
   */
  criSandbox?: boolean;
  /** A checkpoint its caller packs and removes at once (a checkpoint image's): no fork template. */
  transient?: boolean;
}

/**
 * Save running pod `e` (named `ref` by the caller) as checkpoint `name`, refused as dockerd
 * refuses it: a pod that does not run, a terminal, a bad or taken name; then the VM's reasons
 * it cannot be saved (see the module comment). Nothing is made when it is refused, and the pod
 * runs on.
 */
export async function createCheckpoint(
  ctx: PodContext,
  e: Entry,
  ref: string,
  name: string,
  opts: CheckpointOptions,
): Promise<void> {
  await e.ops.run(async () => {
    const run = e.run;
    if (!run) throw new CheckpointError('not-running', ref, name);
    if (containersOf(e.record).some((c) => c.spec.tty)) throw new CheckpointError('tty', ref, name);
    if (!CHECKPOINT_NAME.test(name)) throw new CheckpointError('bad-name', ref, name);
    if (hasCheckpoint(ctx, e, name)) throw new CheckpointError('exists', ref, name);
    const cannot = (why: string) =>
      new CheckpointError('cannot-save', ref, name, `its VM cannot be saved (see docs/checkpoint.md): ${why}`);
    const hv = ctx.deps.hypervisor;
    if (!hv?.saveVm) throw cannot('this daemon cannot save VMs');
    if (run.borrowed) throw cannot('only a container with a VM of its own can be saved');
    // A CRI sandbox's VM (its CNI network set up by the host) only for CheckpointContainer,
    // which leaves it running and packs the save into its archive (src/api/cri/checkpoint.ts).
    if (e.record.sandbox.spec.cni && !(opts.criSandbox && !opts.exit))
      throw cannot('only a container with a VM of its own can be saved');
    // A native pod of several: each container's disks are hot-plugged, saved as a joined
    // container's are, and kept by its restore.
    const several = containersOf(e.record).length > 1;
    let joined = several ? await podDisksToSave(ctx, e, run, cannot) : await joinedToSave(ctx, e, run, cannot);
    // Without --leave-running the joined containers end with X (as at X's stop): they end
    // first, their layers synced to their disks (the VM's end would lose what the guest had not
    // written back), and the checkpoint holds X alone, so that a restore loads it at once.
    if (opts.exit && joined.length > 0 && !several) {
      if (!(await endJoiners(ctx, e, run.vm, { settled: true })))
        throw cannot('a container that joined it did not end in time');
      joined = [];
    }
    const main = mainContainer(e.record);
    // A pod of several has no container on the VM's own disks.
    const disk = several ? undefined : ctx.deps.rootfs.diskOf?.(main.spec.id);
    // Its image's read-only disk: recorded with the checkpoint, not copied (shared, never written).
    const imageDisk =
      disk && main.spec.imageOnDisk && ctx.deps.rootfs.imageDisk
        ? await ctx.deps.rootfs.imageDisk(main.spec.id)
        : undefined;
    const tmp = path.join(checkpointsDir(ctx, e), `.new-${name}`);
    await removeTree(tmp);
    await fs.promises.mkdir(tmp, { recursive: true, mode: 0o700 });
    try {
      await writeFileAtomic(path.join(tmp, POD_RECORD), JSON.stringify(e.record));
      // The save stops the guest's vCPUs: the watchdog leaves it alone meanwhile.
      run.saving = true;
      try {
        await hv.saveVm(run.vm, tmp, {
          ...(disk ? { disk: { file: disk, copy: path.join(tmp, DISK_COPY) } } : {}),
          ...(imageDisk ? { imageDisk } : {}),
          ...(joined.length > 0 ? { joined } : {}),
          ...(several ? { joinedStay: true } : {}),
          leaveRunning: !opts.exit,
        });
      } finally {
        run.saving = false;
      }
      // For the CRI's archive, which must carry them: each joined container's image disk,
      // linked (the same data root) as `image-N.ext4` beside its `joined-N.disk`.
      if (opts.criSandbox)
        for (const [i, j] of joined.entries()) await fs.promises.link(j.imageFile, path.join(tmp, `image-${i}.ext4`));
      await fs.promises.rename(tmp, path.join(checkpointsDir(ctx, e), name));
    } catch (err) {
      await removeTree(tmp).catch(() => undefined);
      if (err instanceof CheckpointError) throw err;
      const why = (err as Error).message.replace(/^its VM cannot be saved: /, '');
      // A 9p share still mounted: the image's layers, a volume or a bind.
      throw cannot(/Migration is disabled/.test(why) ? `${why} (${SAVABLE_HINT})` : why);
    }
    log.info(`container ${e.record.id.slice(0, 12)}: checkpoint ${name} saved${opts.exit ? '' : ', left running'}`);
    if (!opts.criSandbox && !opts.transient) prepareForkTemplate(ctx, path.join(checkpointsDir(ctx, e), name));
    // dockerd publishes `checkpoint` once the save is done (before the run's `die`).
    ctx.emit(e.record, 'checkpoint', {});
    if (opts.exit) await endSavedRun(ctx, e, run);
  });
}

/**
 * The containers that joined pod `e`'s VM (`--network container:X`, run `run`), each with the
 * files behind its hot-plugged disks: the save copies each upper disk, and a VM started from
 * the checkpoint has none of them (its fork template lets them go: as runc's restore, the
 * checkpoint brings back the saved container alone). Refused (`cannot`) for one whose layer is
 * not on a disk of its own (its image read over the layers share, which no save carries).
 */
async function joinedToSave(
  ctx: PodContext,
  e: Entry,
  run: NonNullable<Entry['run']>,
  cannot: (why: string) => Error,
): Promise<Array<{ containerId: string; upperFile: string; imageFile: string }>> {
  const out: Array<{ containerId: string; upperFile: string; imageFile: string }> = [];
  for (const o of joinersOf(ctx, e, run.vm)) {
    for (const c of containersOf(o.record)) {
      const disks = await hotPluggedDisksOf(ctx, c.spec);
      if (!disks)
        throw cannot(
          `container ${o.record.name} runs in its VM (--network container:) with its layers on the host, not on disks of its own; stop it first`,
        );
      out.push(disks);
    }
  }
  return out;
}

/**
 * The containers of native pod of several `e` (run `run`), each with the files behind its
 * hot-plugged disks: saved as joined containers' are, and kept by a restore (joinedStay), its
 * init containers' (ended, their disks still plugged) too. Refused (`cannot`) unless every app
 * container runs, every container is on disks of its own and reads its image from its image's
 * disk, and no other container joined the VM.
 */
async function podDisksToSave(
  ctx: PodContext,
  e: Entry,
  run: NonNullable<Entry['run']>,
  cannot: (why: string) => Error,
): Promise<Array<{ containerId: string; upperFile: string; imageFile: string }>> {
  if (joinersOf(ctx, e, run.vm).length > 0)
    throw cannot('a pod of several containers cannot be saved while another container runs in its VM');
  const out: Array<{ containerId: string; upperFile: string; imageFile: string }> = [];
  for (const c of containersOf(e.record)) {
    // Its init containers ended before its app containers started; their disks stay plugged
    // until the VM goes, so they are saved (and restored) with the rest.
    const ended = c.spec.init && c.state.status === 'exited' && c.state.exitCode === 0;
    if (!ended && (c.state.status !== 'running' || !run.inits.has(c.spec.id)))
      throw cannot(
        `container ${c.spec.name ?? c.spec.id} of the pod does not run: a pod of several is saved whole, every app container running`,
      );
    const disks = await hotPluggedDisksOf(ctx, c.spec);
    if (!disks)
      throw cannot(
        `container ${c.spec.name ?? c.spec.id} of the pod keeps its layer on the host, not on a disk of its own (a pod of several is saved when each of its containers reads its image from a disk: the default)`,
      );
    out.push(disks);
  }
  return out;
}

/**
 * Container `c`'s hot-plugged disks as a save records them: the name QEMU and the guest know
 * them by (diskNameOf), its upper disk's file and its image disk's; undefined for a container
 * whose layer is on the host or whose image is read over the layers share (no save carries it).
 */
async function hotPluggedDisksOf(
  ctx: PodContext,
  c: PodContainerSpec,
): Promise<{ containerId: string; upperFile: string; imageFile: string } | undefined> {
  const upperFile = ctx.deps.rootfs.diskOf?.(c.id);
  if (!upperFile || !c.imageOnDisk || !ctx.deps.rootfs.imageDisk) return undefined;
  return { containerId: diskNameOf(c), upperFile, imageFile: await ctx.deps.rootfs.imageDisk(c.id) };
}

/**
 * End the run of pod `e` whose VM was just saved and stays stopped (a checkpoint without
 * --leave-running): the VM destroyed, the exit recorded as a kill's (137), and no restart by
 * policy (as after a stop: the checkpoint is how it goes on).
 */
async function endSavedRun(ctx: PodContext, e: Entry, run: NonNullable<Entry['run']>): Promise<void> {
  e.record.manuallyStopped = true;
  run.forcedExitCode = 137;
  await run.vm.destroy().catch((err) => log.warn(`destroying VM ${run.vm.id}: ${(err as Error).message}`));
  await run.ended;
}

/**
 * Start making the fork template of the checkpoint just saved in `dir`, in the background
 * (the hypervisor tracks it: a shutdown cuts it short): a restore of it then maps the saved
 * RAM copy-on-write instead of reading the whole state, and its first fork does not wait for
 * it. A failure costs only that: a restore loads the whole state, a fork tries again.
 */
function prepareForkTemplate(ctx: PodContext, dir: string): void {
  const hv = ctx.deps.hypervisor;
  if (!hv?.prepareForkTemplate) return;
  const started = Date.now();
  hv.prepareForkTemplate(dir).then(
    () => log.debug(`checkpoint ${dir}: fork template made in ${Date.now() - started} ms`),
    (err: Error) => log.warn(`checkpoint ${dir}: ${err.message}; a restore of it loads its whole state`),
  );
}

/**
 * Cancel the makes of fork templates of pod `e`'s checkpoints; resolves once none is left:
 * what must end before its checkpoints' files are removed.
 */
export async function checkpointWorkSettled(ctx: PodContext, e: Entry): Promise<void> {
  await ctx.deps.hypervisor?.forkTemplatesSettled?.(checkpointsDir(ctx, e));
}

/** Remove checkpoint `name` of pod `e` (named `ref` by the caller); refused when there is none. */
export async function removeCheckpoint(ctx: PodContext, e: Entry, ref: string, name: string): Promise<void> {
  if (!hasCheckpoint(ctx, e, name)) throw new CheckpointError('missing', ref, name);
  await ctx.deps.hypervisor?.forkTemplatesSettled?.(path.join(checkpointsDir(ctx, e), name));
  await fs.promises.rm(path.join(checkpointsDir(ctx, e), name), { recursive: true, force: true });
}

/**
 * The directory of checkpoint `name` of pod `e` for a start from it; undefined for a pod that
 * runs (its start answers as any start of a running pod); refused for a checkpoint it does not
 * have.
 */
export function checkpointToRestore(ctx: PodContext, e: Entry, name: string): string | undefined {
  if (e.run) return undefined;
  const ref = `/${e.record.name}`;
  if (!hasCheckpoint(ctx, e, name)) throw new CheckpointError('missing', ref, name);
  return path.join(checkpointsDir(ctx, e), name);
}

/**
 * The VM of a start of pod `e` from checkpoint directory `dir`: the container's disk made a
 * copy-on-write overlay over the checkpoint's (the save's copy, or its fork template's when the
 * VM maps the template's RAM), then a new VM started from its state with that disk behind its upper disk. Refused (CheckpointError) when the hypervisor cannot, or the checkpoint was made
 * under another guest kernel, agent or QEMU. `joiner`: a CRI restore (./cri-restore.ts), the
 * pod whose container keeps the disks of the container saved in the VM.
 */
export async function restoredVm(ctx: PodContext, e: Entry, dir: string, joiner?: Entry): Promise<Vm> {
  const name = path.basename(dir);
  const ref = `/${e.record.name}`;
  const hv = ctx.deps.hypervisor;
  if (!hv?.restoreVm) throw new CheckpointError('cannot-restore', ref, name, 'this daemon cannot restore VMs');
  const { rootfs } = ctx.deps;
  const main = mainContainer(e.record);
  const saved = path.join(dir, DISK_COPY);
  const id = main.spec.id;
  // Another pod's checkpoint: one of its forks.
  const fork = savedMain(dir)?.containerId !== id;
  if (!fork) {
    const gone = volumesLeftDisk(savedRecord(dir), e.record);
    if (gone.length)
      throw new CheckpointError(
        'cannot-restore',
        ref,
        name,
        `${gone.length > 1 ? 'volumes' : 'volume'} ${gone.join(', ')} left this container's disk for the volume's host directory after the checkpoint was made (another container took it): the saved VM would see a stale copy`,
      );
  }
  const podOfSeveral = Object.keys(savedRecord(dir)?.containers ?? {}).length > 1;
  try {
    // The whole state loaded once: no fork template is made for a restore that happens once.
    if (joiner) return await hv.restoreVm(dir, undefined, { joined: joinerTakes(ctx, joiner) });
    if (podOfSeveral) {
      // Each container's disk an overlay over the save's copy, hot-plugged where it was: the
      // container whose disks go by the saved name (the pod's own, or a fork's: forks.ts).
      const joined = {
        take: async (diskName: string, copy: string) => {
          const c = containersOf(e.record).find((x) => diskNameOf(x.spec) === diskName);
          if (!c || !rootfs.takeDisk)
            throw new Error(`the pod has no container for the checkpoint's disk ${diskName.slice(0, 12)}`);
          await rootfs.takeDisk(c.spec.id, copy);
          const file = rootfs.diskOf?.(c.spec.id);
          if (!file) throw new Error(`container ${c.spec.id.slice(0, 12)} has no disk`);
          return file;
        },
      };
      return await hv.restoreVm(dir, undefined, { fork, joined });
    }
    // Its disk an overlay over the copy the VM's memory matches (the save's, or its fork template's).
    const disk = {
      ...(fs.existsSync(saved) ? { copy: saved } : {}),
      take: async (copy: string | undefined) => {
        if (copy) {
          if (!rootfs.takeDisk) throw new Error("the container has no disk for the checkpoint's copy");
          await rootfs.takeDisk(id, copy);
        }
        return rootfs.diskOf?.(id);
      },
    };
    return await hv.restoreVm(dir, disk, { fork });
  } catch (err) {
    throw new CheckpointError('cannot-restore', ref, name, (err as Error).message);
  }
}

/**
 * How CRI restore joiner `j` (restoredVm) takes the disks of the container saved in the VM: its
 * container's disk an overlay over the save's copy, going by the saved container's disk name
 * (recorded in its spec, for its teardown to unplug them).
 */
function joinerTakes(ctx: PodContext, j: Entry): { take(diskName: string, copy: string): Promise<string> } {
  const { rootfs } = ctx.deps;
  return {
    take: async (diskName: string, copy: string) => {
      const c = mainContainer(j.record);
      if (!rootfs.takeDisk) throw new Error("the container has no disk for the checkpoint's copy");
      c.spec.diskName = diskName;
      await ctx.persist(j);
      await rootfs.takeDisk(c.spec.id, copy);
      const file = rootfs.diskOf?.(c.spec.id);
      if (!file) throw new Error(`container ${c.spec.id.slice(0, 12)} has no disk`);
      return file;
    },
  };
}

/**
 * The volumes that checkpoint record `saved` kept on the container's own disk and that pod
 * record `now` no longer does: their data left the disk for the volume's host directory after
 * the save (src/api/v1.41/disk-volumes.ts), so the disk the checkpoint restores holds a stale
 * copy the saved guest would go on using.
 */
export function volumesLeftDisk(saved: PodRecord | undefined, now: PodRecord): string[] {
  if (!saved) return [];
  const onDisk = (r: PodRecord) =>
    new Set(
      containersOf(r).flatMap((c) =>
        (c.spec.mounts ?? []).flatMap((m) => (m.type === 'volume' && m.diskDir && m.name ? [m.name] : [])),
      ),
    );
  const still = onDisk(now);
  return [...onDisk(saved)].filter((n) => !still.has(n));
}

/** The pod's record as checkpoint `dir` saved it (the pod's state then), or undefined. */
export function savedRecord(dir: string): PodRecord | undefined {
  try {
    const r = JSON.parse(fs.readFileSync(path.join(dir, POD_RECORD), 'utf8')) as PodRecord;
    return r && typeof r.id === 'string' && r.containers && r.sandbox?.spec ? r : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Every container of checkpoint `dir` as its guest knows it: its id there, its init's process
 * id and the name of its disks (none when the checkpoint's record cannot be read).
 */
export function savedInits(dir: string): SavedContainer[] {
  const r = savedRecord(dir);
  return r
    ? containersOf(r).map((c) => ({
        containerId: c.spec.id,
        diskName: diskNameOf(c.spec),
        ...(c.process ? { initProcess: c.process } : {}),
      }))
    : [];
}

/** A container of a checkpoint as its guest knows it (savedInits). */
export interface SavedContainer {
  containerId: string;
  /** The name its hot-plugged disks go by (diskNameOf): what a fork's container takes over. */
  diskName: string;
  initProcess?: string;
}

/**
 * The main container of checkpoint `dir` as its guest knows it: its id there and its init's
 * process id (undefined when the checkpoint's record cannot be read).
 */
export function savedMain(dir: string): { containerId: string; initProcess?: string } | undefined {
  const r = savedRecord(dir);
  if (!r) return undefined;
  const main = mainContainer(r);
  return { containerId: main.spec.id, ...(main.process ? { initProcess: main.process } : {}) };
}
