/**
 * The pod manager: every pod of the daemon, behind the PodService interface (./service.ts).
 * It holds the shared context and hands each call to the module of its concern:
 *
 *   registry.ts   pods by id, name or prefix; entries; names
 *   lifecycle.ts  create, start, restart, pause, unpause
 *   stop.ts       stop, kill, hard kill
 *   removal.ts    remove
 *   update.ts     rename, update (policy, resources, front-end data in one step)
 *   monitor.ts    the exit monitor, the restart policy, wait
 *   sandbox.ts    the VM of a pod: boot (the one place that asks for a VM), adopt, teardown
 *   network-connect.ts  network connect and disconnect (a running pod's spare NICs)
 *   exec-run.ts   extra processes; top.ts: a container's processes
 *   attach.ts     attach, logs, resize
 *   restore.ts    load at daemon start (re-adopt, mark lost, finish removals), shutdown
 *   checkpoints.ts  docker checkpoint: create (save the VM), list, remove, and the restore's VM
 *   forks.ts      new pods started from a checkpoint
 *
 * Lifecycle operations on one pod are serialised by a per-pod lock (its operation queue:
 * create/start/stop/restart/remove/rename/update/pause); kill, wait, attach, exec, logs and
 * stats do not take it. The exit of a pod's main process is handled by a monitor that never
 * takes the lock: it records the exit, publishes `die`, wakes waiters, and then applies
 * AutoRemove or the restart policy.
 *
 * The run's teardown (VM destroyed, rootfs unmounted) starts at the exit but is not waited
 * for there: it is background work (`Entry.teardown`, tracked by the context), awaited by
 * what needs it: the next start of the pod, the deletion of its storage on removal, and
 * `settled()` (daemon shutdown, tests). A removal whose teardown is still under way answers
 * at once and deletes the rootfs and state once the teardown is done.
 *
 * Every change of a record is persisted (src/storage/state.ts) before the operation that
 * made it returns, so `restore()` after a crash finds each pod as its last answer said.
 */
import * as path from 'node:path';
import { openGuestFiles, type GuestFilesSession } from './mounts/guest-files';
import { PodContext, type PodManagerDeps } from './context';
import * as attachOps from './io/attach';
import * as execOps from './io/exec-run';
import { podStartSettled } from './io/start-settle';
import type { ExecConfig, ExecRecord } from './io/exec';
import type { GuestSample } from './stats/guest-stats';
import type { AttachSession } from './io/io';
import * as lifecycle from './lifecycle/lifecycle';
import type { LogEntry } from './io/logs';
import { waitExit } from './lifecycle/monitor';
import type { WaitCondition, WaitResult } from './records/registry';
import { remove } from './lifecycle/removal';
import * as restoreOps from './lifecycle/restore';
import { sampleGuest } from './stats/guest-stats';
import { guestListeners } from './stats/guest-sockets';
import { guestDiskUsed } from './mounts/disk-usage';
import type { PodCounts, PodService, StartOptions } from './service';
import {
  type CheckpointOptions,
  checkpointsDir,
  checkpointToRestore,
  createCheckpoint,
  hasCheckpoint,
  listCheckpoints,
  removeCheckpoint,
} from './checkpoints/checkpoints';
import { forkCheckpoint } from './checkpoints/forks';
import { savedStateToRestore } from './checkpoints/saved-state';
import { importCriCheckpoint, restoreCriSandbox } from './checkpoints/cri-restore';
import { CheckpointError } from './errors';
import { kill, stopLocked } from './lifecycle/stop';
import { processes, type ContainerProcesses } from './stats/top';
import { mainContainer, type PodRecord, type PodSpec } from './types';
import { rename, update, type PodUpdate } from './records/update';
import { connectPod, disconnectPod } from './network/network-connect';
import type { NetworkAttachment } from '../net/container-config';
import { PodVms, type PodVmService } from './lifecycle/vms';
import { HeldVms } from '../vm/idle-vms';

export type { PodManagerDeps } from './context';
export type { AttachOptions, LogsOptions } from './io/attach';
export type { WaitCondition, WaitResult } from './records/registry';

/** Every pod of the daemon (see the module comment). */
export class PodManager implements PodService {
  private readonly ctx: PodContext;
  /** VMs as the seeds name them (Idle, Associated), and the operations that reuse them (./lifecycle/vms.ts). */
  readonly vms: PodVmService;

  constructor(deps: PodManagerDeps, held?: HeldVms) {
    const ctx = new PodContext(deps);
    ctx.hooks = { startLocked: (e, signal) => lifecycle.startLocked(ctx, e, signal) };
    this.ctx = ctx;
    this.vms = new PodVms(ctx, held ?? new HeldVms(deps.factory, { size: { memoryMiB: 256, cpus: 1 } }));
  }

  // ---------------------------------------------------------------- lookup

  /** Directory of a pod's files on the host. */
  dir(id: string): string {
    return this.ctx.dir(id);
  }

  /** Path of a pod's json-file log. */
  logFile(id: string): string {
    return this.ctx.logFile(id);
  }

  get(ref: string): PodRecord {
    return this.ctx.registry.lookup(ref).record;
  }

  list(): PodRecord[] {
    return this.ctx.registry.list();
  }

  isRunning(ref: string): boolean {
    return !!this.ctx.registry.lookup(ref).run;
  }

  counts(): PodCounts {
    return this.ctx.registry.counts();
  }

  whenAdopted(ref: string): Promise<void> | undefined {
    const { adopting } = this.ctx.registry;
    if (adopting.size === 0) return undefined;
    try {
      return adopting.get(this.ctx.registry.lookup(ref).record.id);
    } catch {
      return undefined;
    }
  }

  // ---------------------------------------------------------------- lifecycle

  create(spec: PodSpec, name: string | undefined, frontend: unknown): Promise<PodRecord> {
    return lifecycle.create(this.ctx, spec, name, frontend);
  }

  async start(ref: string, opts?: StartOptions): Promise<void> {
    const e = this.ctx.registry.lookup(ref);
    const restoreFrom = opts?.takeOver
      ? { takeOver: opts.takeOver }
      : opts?.checkpoint
        ? checkpointToRestore(this.ctx, e, opts.checkpoint)
        : savedStateToRestore(e.record, !!e.run);
    return lifecycle.start(this.ctx, e, ref, restoreFrom);
  }

  async stop(ref: string, timeoutSec?: number, stopSignal?: number): Promise<void> {
    const e = this.ctx.registry.lookup(ref);
    await e.ops.run((signal) => stopLocked(this.ctx, e, timeoutSec, signal, stopSignal));
  }

  restart(ref: string, timeoutSec?: number, stopSignal?: number): Promise<void> {
    return lifecycle.restart(this.ctx, this.ctx.registry.lookup(ref), timeoutSec, stopSignal);
  }

  async kill(ref: string, signal: number): Promise<void> {
    return kill(this.ctx, this.ctx.registry.lookup(ref), signal);
  }

  pause(ref: string): Promise<void> {
    return lifecycle.pause(this.ctx, this.ctx.registry.lookup(ref));
  }

  unpause(ref: string): Promise<void> {
    return lifecycle.unpause(this.ctx, this.ctx.registry.lookup(ref));
  }

  async remove(ref: string, opts: { force: boolean }): Promise<void> {
    return remove(this.ctx, this.ctx.registry.lookup(ref), opts);
  }

  async rename(ref: string, newName: string): Promise<void> {
    const e = this.ctx.registry.lookup(ref);
    await e.ops.run(() => rename(this.ctx, e, newName));
  }

  async update(ref: string, change: PodUpdate): Promise<void> {
    const e = this.ctx.registry.lookup(ref);
    await e.ops.run(() => update(this.ctx, e, change));
  }

  wait(ref: string, condition: WaitCondition, container?: string): Promise<WaitResult> {
    return waitExit(this.ctx.registry.lookup(ref), condition, container);
  }

  // ---------------------------------------------------------------- networks

  async connectNetwork(ref: string, att: NetworkAttachment): Promise<void> {
    const e = this.ctx.registry.lookup(ref);
    await e.ops.run(() => connectPod(this.ctx, e, att));
  }

  async disconnectNetwork(ref: string, network: string): Promise<void> {
    const e = this.ctx.registry.lookup(ref);
    await e.ops.run(() => disconnectPod(this.ctx, e, network));
  }

  // ---------------------------------------------------------------- streams

  attach(ref: string, opts: attachOps.AttachOptions): AttachSession {
    return attachOps.attach(this.ctx, this.ctx.registry.lookup(ref), opts);
  }

  async *logs(ref: string, o: attachOps.LogsOptions): AsyncGenerator<LogEntry> {
    const e = this.ctx.registry.lookup(ref);
    // A read right after the start sees what runc's would have (./io/start-settle.ts).
    if (!o.follow) await podStartSettled(e, o.container);
    yield* attachOps.logs(this.ctx, e, o);
  }

  async resize(ref: string, rows: number, cols: number): Promise<void> {
    return attachOps.resize(this.ctx, this.ctx.registry.lookup(ref), rows, cols);
  }

  // ---------------------------------------------------------------- processes

  execCreate(ref: string, config: ExecConfig): ExecRecord {
    return execOps.execCreate(this.ctx, this.ctx.registry.lookup(ref), config);
  }

  execGet(id: string): ExecRecord {
    return execOps.execGet(this.ctx, id);
  }

  execIds(podId: string): string[] {
    return this.ctx.execs.idsOf(podId);
  }

  async execStart(id: string, session?: AttachSession): Promise<ExecRecord> {
    const x = execOps.execGet(this.ctx, id);
    // An exec right after the start sees what the start's command did first, as under runc
    // (./io/start-settle.ts); the exec's own checks are execStart's.
    if (!x.started) await podStartSettled(this.ctx.registry.lookup(x.containerId), x.config.container);
    return execOps.execStart(this.ctx, id, session);
  }

  execKill(id: string): Promise<void> {
    return execOps.execKill(this.ctx, id);
  }

  execResize(id: string, rows: number, cols: number): Promise<void> {
    return execOps.execResize(this.ctx, id, rows, cols);
  }

  async processes(ref: string, psArgs: string, container?: string): Promise<ContainerProcesses> {
    return processes(this.ctx, this.ctx.registry.lookup(ref), psArgs, container);
  }

  // ---------------------------------------------------------------- checkpoints

  checkpoints(ref: string): Promise<string[]> {
    return listCheckpoints(this.ctx, this.ctx.registry.lookup(ref));
  }

  checkpoint(ref: string, name: string, opts: CheckpointOptions): Promise<void> {
    return createCheckpoint(this.ctx, this.ctx.registry.lookup(ref), ref, name, opts);
  }

  checkpointDir(ref: string, name: string): string {
    const e = this.ctx.registry.lookup(ref);
    if (!hasCheckpoint(this.ctx, e, name)) throw new CheckpointError('missing', ref, name);
    return path.join(checkpointsDir(this.ctx, e), name);
  }

  removeCheckpoint(ref: string, name: string): Promise<void> {
    return removeCheckpoint(this.ctx, this.ctx.registry.lookup(ref), ref, name);
  }

  importCriCheckpoint(
    ref: string,
    name: string,
    unpack: (dir: string) => Promise<{ diskName: string }>,
  ): Promise<void> {
    return importCriCheckpoint(this.ctx, this.ctx.registry.lookup(ref), ref, name, unpack);
  }

  restoreCriSandbox(ref: string, name: string, joiner: string): Promise<void> {
    const reg = this.ctx.registry;
    return restoreCriSandbox(this.ctx, reg.lookup(ref), ref, name, reg.lookup(joiner));
  }

  fork(ref: string, name: string, opts: { count: number; names?: string[] }): Promise<PodRecord[]> {
    return forkCheckpoint(this.ctx, this.ctx.registry.lookup(ref), ref, name, opts);
  }

  // ---------------------------------------------------------------- usage

  async sample(ref: string): Promise<GuestSample | undefined> {
    const e = this.ctx.registry.lookup(ref);
    const main = mainContainer(e.record);
    if (!e.run || main.state.status === 'paused') return undefined;
    // Usage of the main container's cgroup: the only container of the Docker front end's pods.
    return sampleGuest(e.run.vm.agent, main.spec.id);
  }

  async listening(ref: string): Promise<string[] | undefined> {
    const e = this.ctx.registry.lookup(ref);
    const main = mainContainer(e.record);
    if (!e.run || main.state.status === 'paused') return undefined;
    return guestListeners(e.run.vm.agent, main.spec.id);
  }

  reopenCriLog(ref: string): void {
    const e = this.ctx.registry.lookup(ref);
    e.log.reopenCri();
    for (const w of e.containerLogs.values()) w.reopenCri();
  }

  /**
   * The main container's files in a guest, for one archive request of a block-mode container
   * (./mounts/guest-files.ts): its VM, or a short-lived one while it does not run. Call `release`.
   */
  openGuestFiles(ref: string): Promise<GuestFilesSession> {
    return openGuestFiles(this.ctx, this.ctx.registry.lookup(ref), ref);
  }

  async sizeRw(ref: string): Promise<number> {
    const e = this.ctx.registry.lookup(ref);
    // The writable layer of the main container, for the same reason as `sample`.
    const id = mainContainer(e.record).spec.id;
    const host = await this.ctx.deps.rootfs.sizeRw(id).catch(() => 0);
    return e.run && this.ctx.deps.rootfs.diskOf?.(id) ? guestDiskUsed(e.run.vm.agent, id, host) : host;
  }

  // ---------------------------------------------------------------- daemon start and stop

  /**
   * Load every pod from disk after a daemon (re)start and wait for the re-adoptions. Returns
   * the ids of the VMs it adopted: every other VM an earlier daemon left is the caller's to
   * reclaim (src/vm/orphan-vms.ts).
   */
  async restore(): Promise<Set<string>> {
    return (await this.load()).adopted;
  }

  /**
   * Load every pod from disk without waiting for any VM (restore.ts): running pods are
   * re-adopted in the background (`adopted` resolves with their VM ids), and `whenAdopted`
   * tells callers to wait meanwhile.
   */
  load(): Promise<{ adopted: Promise<Set<string>> }> {
    return restoreOps.load(this.ctx);
  }

  /**
   * Daemon shutdown: close agent channels without touching the guests, so running pods keep
   * running and the next daemon re-adopts them. Pending restarts are cancelled.
   */
  shutdown(): void {
    restoreOps.shutdown(this.ctx);
  }

  /** Resolves once no background work (teardowns, deferred storage deletion) is left. */
  settled(): Promise<void> {
    return this.ctx.settled();
  }
}
