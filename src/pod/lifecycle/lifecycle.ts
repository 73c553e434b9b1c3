/**
 * A pod's lifecycle steps (../types.ts shows the states): create, start, restart, pause and
 * unpause. Each runs under the pod's lock (its operation queue) except create, which makes
 * the pod. Stop and kill are in ./stop.ts, removal in ./removal.ts, the exit in ./monitor.ts.
 */
import * as fs from 'node:fs';
import { ConflictError, InvalidArgumentError, NotModifiedError } from '../../errors';
import {
  failureOf,
  OperationPreemptedError,
  JoinedPodPauseError,
  NoSuchPodError,
  PodNotPausedError,
  PodNotRunningError,
  PodPausedError,
} from '../errors';
import { logger } from '../../util/log';
import { nowRfc3339 } from '../../util/time';
import { preemptedBy } from '../async';
import type { PodContext } from '../context';
import { parseLogPolicy } from '../io/log-config';
import { bindRun } from './monitor';
import type { Entry } from '../records/registry';
import { removeEntry } from './removal';
import { bootSandbox } from './sandbox';
import { hotPlugsDisks, joinerTakesDisks, podOfSeveralTakesDisks } from './joined-disks';
import { startFailure } from './start-error';
import { hardKill, stopLocked } from './stop';
import { InitContainerFailedError, type InitRun } from './init-containers';
import {
  RECORD_VERSION,
  containersOf,
  createdState,
  isPaused,
  mainContainer,
  type ContainerRecord,
  type PodRecord,
  type PodSpec,
} from '../types';
import type { AgentProcess } from '../../vm/types';
import { DISK_THROTTLE_NEEDS_DISK, diskFor } from '../mounts/disk-size';
import type { RestoreFrom } from './restore-takeover';

const log = logger('pod');

/**
 * Create a pod (state Created): name reserved, images marked used, rootfs prepared, record
 * persisted, `create` published. Undone entirely when a step fails.
 */
export async function create(
  ctx: PodContext,
  spec: PodSpec,
  name: string | undefined,
  frontend: unknown,
): Promise<PodRecord> {
  const { deps, registry } = ctx;
  const id = spec.id;
  let finalName: string;
  if (name) {
    registry.names.reserve(name, id);
    finalName = name.replace(/^\//, '');
  } else {
    finalName = registry.names.generate(id);
  }
  const { containers, ...sandbox } = spec;
  const record: PodRecord = {
    version: RECORD_VERSION,
    id,
    name: finalName,
    created: nowRfc3339(),
    sandbox: { spec: sandbox },
    containers: Object.fromEntries(
      containers.map((c): [string, ContainerRecord] => [c.id, { spec: c, state: createdState(), restartCount: 0 }]),
    ),
    manuallyStopped: false,
    frontend,
  };
  const used: string[] = [];
  // Block mode for a pod of one container in its own VM (the VM's upper disk), joining one
  // whose VM takes its disks, or of several each on disks hot-plugged on its VM
  // (./joined-disks.ts), unless the front end keeps the layer on the host (the builder commits
  // it from there).
  const takesDisks = spec.joinPod
    ? joinerTakesDisks(ctx, spec)
    : hotPlugsDisks(spec)
      ? podOfSeveralTakesDisks(spec)
      : spec.containers.length === 1;
  const disk = deps.rootfsDisk && takesDisks && spec.writableLayer !== 'host' ? deps.rootfsDisk : undefined;
  // Containers on hot-plugged disks that get none read their images as before (the daemon's
  // default image disk is for those that can have it).
  if (hotPlugsDisks(spec) && !disk) for (const c of spec.containers) delete c.imageOnDisk;
  // Disk rates need a disk of its own (the device's I/O throttling in QEMU).
  if (!disk && spec.containers.some((c) => c.diskThrottle)) throw new InvalidArgumentError(DISK_THROTTLE_NEEDS_DISK);
  // A size asked for is checked before anything is made (--storage-opt size: ../mounts/disk-size.ts).
  const disks = new Map(spec.containers.map((c) => [c.id, diskFor(c.diskSize, disk, c.imageOnDisk)]));
  try {
    for (const c of spec.containers) {
      await deps.images.addUser(c.image, c.id);
      used.push(c.image);
      await deps.rootfs.prepare(c.id, await deps.images.layerDirs(c.image), disks.get(c.id));
    }
    await fs.promises.mkdir(ctx.dir(id), { recursive: true, mode: 0o700 });
    await deps.state.save(record);
  } catch (err) {
    for (const c of spec.containers) await deps.rootfs.remove(c.id).catch(() => undefined);
    for (const img of used) await deps.images.removeUser(img, id).catch(() => undefined);
    await deps.state.remove(id).catch(() => undefined);
    registry.names.release(finalName, id);
    throw err;
  }
  const e = registry.newEntry(record);
  registry.add(e);
  ctx.emitEach(record, 'create', () => true);
  return record;
}

/**
 * Start a created or exited pod; NotModifiedError when it already runs. `restoreFrom`: the
 * directory of a checkpoint to start it from (../checkpoints/checkpoints.ts), or the saved
 * state it takes over otherwise (./restore-takeover.ts RestoreFrom).
 */
export async function start(ctx: PodContext, e: Entry, ref: string, restoreFrom?: RestoreFrom): Promise<void> {
  await e.ops.run(async (signal) => {
    if (e.removed) throw new NoSuchPodError(ref);
    if (isPaused(e.record)) throw new PodPausedError(e.record.id, 'start');
    if (e.run) throw new NotModifiedError('container already started');
    resetForManualStart(ctx, e);
    try {
      await startLocked(ctx, e, signal, restoreFrom);
    } catch (err) {
      // dockerd removes an AutoRemove container whose start failed (`docker run --rm`
      // waits for that removal).
      if (e.record.sandbox.spec.autoRemove) await removeEntry(ctx, e).catch(() => undefined);
      throw err;
    }
  });
}

/** A start by hand: no pending policy restart, no restart count, no backoff. */
function resetForManualStart(ctx: PodContext, e: Entry): void {
  ctx.cancelRestart(e);
  e.record.manuallyStopped = false;
  for (const c of containersOf(e.record)) c.restartCount = 0;
  e.backoff.reset();
}

/** The conflict a start preempted by kill or rm -f answers. */
function startPreempted(id: string, by: 'kill' | 'remove'): ConflictError {
  return new OperationPreemptedError(id, 'start', by);
}

/**
 * Boot the pod (lock held), or restore it from saved state `restoreFrom` (RestoreFrom). On
 * failure the record keeps its state and gets the error. Preempted by kill or rm -f while
 * booting, it kills what it booted.
 */
export async function startLocked(
  ctx: PodContext,
  e: Entry,
  signal?: AbortSignal,
  restoreFrom?: RestoreFrom,
): Promise<void> {
  const r = e.record;
  // The previous run's rootfs must be unmounted before this run mounts it again.
  await e.teardown;
  let started;
  // kill and rm -f give up a start that waits for its VM's boot (a boot cannot be cut short:
  // the VM that arrives later is destroyed in the background); a daemon shutdown lets it finish.
  const giveUp = new AbortController();
  const onPreempt = () => {
    const by = preemptedBy(signal);
    if (by === 'kill' || by === 'remove') giveUp.abort(signal?.reason);
  };
  signal?.addEventListener('abort', onPreempt, { once: true });
  if (signal?.aborted) onPreempt();
  try {
    parseLogPolicy(r.sandbox.spec.log); // LogConfigError (dockerd fails the start the same way)
    started = await bootSandbox(ctx, r, giveUp.signal, e, restoreFrom);
  } catch (err) {
    const by = preemptedBy(signal);
    if (giveUp.signal.aborted && (by === 'kill' || by === 'remove')) throw startPreempted(r.id, by);
    if (err instanceof InitContainerFailedError) {
      // The pod's start failed with the init container's exit code; each init container that
      // ran keeps how it ended.
      recordInitRuns(ctx, r, err.runs);
      const main = mainContainer(r);
      main.state.error = err.message;
      main.state.exitCode = err.exitCode;
      await ctx.persist(e);
      throw err;
    }
    // The failure is the main container's (its command is the one named): the Docker front
    // end's pods have no other; the rest of a pod of several only leave `restarting`.
    const main = mainContainer(r);
    const failed = startFailure(err, main.spec.args[0] ?? '', main.state.exitCode || 128);
    for (const c of containersOf(r)) if (c.state.status === 'restarting') c.state.status = 'exited';
    main.state.error = failed.error.message;
    main.state.failure = failureOf(failed.error);
    if (!main.state.failure) delete main.state.failure;
    main.state.exitCode = failed.exitCode;
    await ctx.persist(e);
    throw failed.error;
  } finally {
    signal?.removeEventListener('abort', onPreempt);
  }
  const startedAt = nowRfc3339();
  recordInitRuns(ctx, r, started.initRuns);
  for (const c of containersOf(r)) {
    if (c.spec.init) continue;
    const init = started.inits.get(c.spec.id) as AgentProcess;
    c.state = {
      status: 'running',
      pid: init.pid,
      exitCode: 0,
      error: '',
      startedAt,
      finishedAt: c.state.finishedAt,
      oomKilled: false,
    };
    c.process = init.processId;
  }
  r.sandbox.vmId = started.vm.id;
  if (started.linkEnv) r.sandbox.linkEnv = started.linkEnv;
  else delete r.sandbox.linkEnv;
  log.debug(`container ${r.id.slice(0, 12)}: started on VM ${started.vm.id} (guest pid ${mainContainer(r).state.pid})`);
  // `start` is published before the exit monitor exists, so `die` can never precede it.
  ctx.emitVolumes(r, 'mount');
  ctx.emitEach(r, 'start', (c) => c.process !== undefined);
  const run = bindRun(ctx, e, started.vm, started.inits, Date.now());
  await ctx.persist(e);
  const by = preemptedBy(signal);
  if (by === 'kill' || by === 'remove') {
    await hardKill(ctx, e, run);
    await run.ended;
    throw startPreempted(r.id, by);
  }
}

/** Record how the init containers of a start ran (exited, with their codes), and publish it. */
function recordInitRuns(ctx: PodContext, r: PodRecord, runs: Map<string, InitRun>): void {
  for (const [id, run] of runs) {
    const c = r.containers[id];
    if (!c) continue;
    c.state = {
      status: 'exited',
      pid: 0,
      exitCode: run.exitCode,
      error: run.error,
      startedAt: run.startedAt,
      finishedAt: run.finishedAt,
      oomKilled: false,
    };
    c.process = undefined;
    ctx.emitFor(r, c, 'start');
    ctx.emitFor(r, c, 'die', { exitCode: String(run.exitCode) });
  }
}

/** Stop (if running) then start; publishes `restart`. */
export async function restart(ctx: PodContext, e: Entry, timeoutSec?: number, stopSignal?: number): Promise<void> {
  await e.ops.run(async (signal) => {
    if (e.run || mainContainer(e.record).state.status === 'restarting') {
      await stopLocked(ctx, e, timeoutSec, signal, stopSignal).catch((err) => {
        if (!(err instanceof NotModifiedError)) throw err;
      });
    }
    // A kill or rm -f that came in during the stop wins: no start after it.
    if (signal.aborted || e.removed) {
      const by = preemptedBy(signal);
      throw new OperationPreemptedError(e.record.id, 'restart', by === 'kill' ? 'kill' : 'remove');
    }
    resetForManualStart(ctx, e);
    await startLocked(ctx, e, signal);
    ctx.emitEach(e.record, 'restart', (c) => c.process !== undefined);
  });
}

/** Freeze the pod's whole VM. */
export async function pause(ctx: PodContext, e: Entry): Promise<void> {
  await e.ops.run(async () => {
    const r = e.record;
    if (!e.run) throw new PodNotRunningError(r.id);
    if (isPaused(r)) throw new PodPausedError(r.id, 'pause');
    if (e.run.borrowed) throw new JoinedPodPauseError(r.id);
    await e.run.vm.pause();
    // The whole VM is frozen: every container of the pod that ran is paused.
    const frozen = containersOf(r).filter((c) => c.state.status === 'running');
    for (const c of frozen) c.state.status = 'paused';
    await ctx.persist(e);
    ctx.emitEach(r, 'pause', (c) => frozen.includes(c));
  });
}

/** Thaw a paused pod. */
export async function unpause(ctx: PodContext, e: Entry): Promise<void> {
  await e.ops.run(async () => {
    const r = e.record;
    if (!e.run || !isPaused(r)) throw new PodNotPausedError(r.id);
    await e.run.vm.resume();
    const thawed = containersOf(r).filter((c) => c.state.status === 'paused');
    for (const c of thawed) c.state.status = 'running';
    await ctx.persist(e);
    ctx.emitEach(r, 'unpause', (c) => thawed.includes(c));
  });
}
