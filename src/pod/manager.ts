/**
 * The pod manager: every pod of the daemon and its lifecycle (see ./types for the states).
 *
 * Lifecycle operations on one pod are serialised by a per-pod lock (create/start/stop/
 * restart/remove/rename/pause); kill, wait, attach, exec, logs and stats do not take it. The
 * exit of a pod's main process is handled by a monitor that never takes the lock: it records
 * the exit, publishes `die`, wakes waiters, and then applies AutoRemove or the restart policy.
 *
 * The run's teardown (VM destroyed, rootfs unmounted) starts at the exit but is not waited
 * for there: it is background work (`Entry.teardown`, tracked in `background`), awaited by
 * what needs it: the next start of the pod, the deletion of its storage on removal, and
 * `settled()` (daemon shutdown, tests). A removal whose teardown is still under way answers
 * at once and deletes the rootfs and state once the teardown is done (a daemon that dies
 * meanwhile finishes the removal at its next start, from a `removing` record or an exited
 * AutoRemove one; the VM is reclaimed).
 *
 * Every change of a record is persisted (src/storage/state.ts) before the operation that
 * made it returns, so `restore()` after a crash finds each pod as its last answer said.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AgentProcess, Hypervisor, ResourceLimits, Vm, VmFactory, VmSize } from '../vm/types';
import type { ImageLookup, RootfsManager } from '../storage/types';
import type { StateStore } from '../storage/state';
import { ConflictError, InvalidArgumentError, NotFoundError, NotModifiedError, UnavailableError } from '../errors';
import { logger } from '../util/log';
import { nowRfc3339, parseRfc3339 } from '../util/time';
import { EventBus } from './events';
import { AttachSession, ProcessIo, type AttachSessionOptions } from './io';
import { LogWriter, entryMatches, readLogSnapshot, readLogSync, snapshotLog, type LogEntry, type LogReadOptions } from './logs';
import { DEFAULT_LOG_POLICY, parseLogPolicy } from './log-config';
import { NameIndex } from './names';
import { RestartBackoff, shouldRestart, startsWithDaemon } from './restart';
import { OpQueue, PreemptedError, waitFor, type Preemption } from './op-queue';
import { initProcessId, mergeEnv, resolveUserInGuest, runtimeEnv, startPod } from './runtime';
import { ExecStore, type ExecConfig, type ExecRecord } from './exec';
import { startFailure } from './start-error';
import { checkFitsVm } from './limits';
import { sampleGuest, type GuestSample } from './guest-stats';
import { createdState, mainContainer, type PodRecord, type PodSpec, type RestartPolicy } from './types';

const log = logger('pod');

const SIGKILL = 9;
/** How long kill/stop wait for a SIGKILLed process before destroying its VM. */
const KILL_GRACE_MS = 5000;
/** Longest wait for an agent request on the stop/kill path (a hung guest must not hang stop). */
const AGENT_CALL_MS = 5000;
/** Longest wait for a dead process's output to drain before the run is torn down anyway. */
const OUTPUT_DRAIN_MS = 5000;

/** What the manager is built from. */
export interface PodManagerDeps {
  factory: VmFactory;
  /** For restore: re-adopting VMs that outlived the previous daemon. */
  hypervisor?: Pick<Hypervisor, 'adopt'>;
  images: ImageLookup;
  rootfs: RootfsManager;
  state: StateStore;
  events: EventBus;
  /** `<data-root>/containers`: per-pod directories (state, logs, hosts files, rootfs). */
  containersRoot: string;
  /** Host resolv.conf handed to containers (default /etc/resolv.conf). */
  resolvConf?: string;
  /** Limit of an agent request on the stop/kill path, ms (default 5000). */
  agentTimeoutMs?: number;
  /** How long a SIGKILLed process may take to die before its VM is destroyed, ms (default 5000). */
  killGraceMs?: number;
}

/** Conditions of `wait`. */
export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

/** Result of `wait`. */
export interface WaitResult {
  exitCode: number;
  /** Set when the run ended abnormally (VM died...). */
  error?: string;
}

/** A run: the pod on its VM. */
interface Run {
  vm: Vm;
  init: AgentProcess;
  io: ProcessIo;
  startedMs: number;
  /** Exit code to report if the process never reports one (VM destroyed by the host). */
  forcedExitCode?: number;
  /** Resolves when the exit was handled (state recorded, run torn down). */
  ended: Promise<void>;
}

interface Waiter {
  condition: WaitCondition;
  resolve(r: WaitResult): void;
}

/** In-memory state of one pod. */
interface Entry {
  record: PodRecord;
  run?: Run;
  log: LogWriter;
  pending: Set<AttachSession>;
  waiters: Set<Waiter>;
  backoff: RestartBackoff;
  restartTimer?: NodeJS.Timeout;
  /** Its operations, one at a time; kill/rm -f/shutdown preempt (op-queue.ts). */
  ops: OpQueue;
  removed: boolean;
  /** Follow-mode log readers to end when the run ends. */
  followers: Set<() => void>;
  /** The last run's teardown (VM destroyed, rootfs unmounted) while it is under way. */
  teardown?: Promise<void>;
}

/** Options of attach. */
export interface AttachOptions extends AttachSessionOptions {
  /** Replay the log first (logs=1). */
  logs: boolean;
  /** Stay attached to the live streams (stream=1). */
  stream: boolean;
}

/** Options of logs. */
export interface LogsOptions extends LogReadOptions {
  follow: boolean;
}

/** Every pod of the daemon. */
export class PodManager {
  private readonly entries = new Map<string, Entry>();
  /** Pods being re-adopted after a restart (load), by id. */
  private readonly adopting = new Map<string, Promise<void>>();
  private readonly names = new NameIndex();
  readonly execs = new ExecStore();
  private closing = false;
  /** Work started but not waited for by the operation that started it (see the module comment). */
  private readonly background = new Set<Promise<void>>();

  constructor(private readonly deps: PodManagerDeps) {}

  // ---------------------------------------------------------------- lookup

  /** Directory of a pod's files on the host. */
  dir(id: string): string {
    return path.join(this.deps.containersRoot, id);
  }

  /** Path of a pod's json-file log. */
  logFile(id: string): string {
    return path.join(this.dir(id), `${id}-json.log`);
  }

  private entry(ref: string): Entry {
    const byId = this.entries.get(ref);
    if (byId && !byId.removed) return byId;
    const named = this.names.get(ref);
    if (named) {
      const e = this.entries.get(named);
      if (e && !e.removed) return e;
    }
    if (ref.length > 0 && /^[0-9a-f]+$/.test(ref)) {
      const matches = [...this.entries.values()].filter((e) => !e.removed && e.record.id.startsWith(ref));
      if (matches.length === 1) return matches[0];
      if (matches.length > 1) throw new InvalidArgumentError(`multiple IDs found with provided prefix: ${ref}`);
    }
    throw new NotFoundError(`No such container: ${ref}`);
  }

  /** A pod's record by id, name or unique id prefix; NotFoundError "No such container: x". */
  get(ref: string): PodRecord {
    return this.entry(ref).record;
  }

  /** Every pod, newest first. */
  list(): PodRecord[] {
    return [...this.entries.values()]
      .filter((e) => !e.removed)
      .map((e) => e.record)
      .sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0));
  }

  /** Whether a pod is on a VM now (running or paused). */
  isRunning(ref: string): boolean {
    return !!this.entry(ref).run;
  }

  /** Pid of a pod's VM process (for stats of the host side), if running. */
  vmOf(ref: string): Vm | undefined {
    return this.entry(ref).run?.vm;
  }

  // ---------------------------------------------------------------- helpers

  /** Run `fn` as the pod's next operation (its signal is aborted when kill/rm -f/shutdown preempt it). */
  private locked<T>(e: Entry, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return e.ops.run(fn);
  }

  private persist(e: Entry): Promise<void> {
    if (e.removed) return Promise.resolve();
    return this.deps.state.save(e.record);
  }

  /** Event attributes of a pod: image, name and its labels. */
  private attrs(r: PodRecord, extra: Record<string, string> = {}): Record<string, string> {
    return { ...r.spec.labels, image: mainContainer(r.spec).imageRef, name: r.name, ...extra };
  }

  private emit(r: PodRecord, action: string, extra: Record<string, string> = {}): void {
    this.deps.events.emit('container', action, r.id, this.attrs(r, extra));
  }

  private newEntry(record: PodRecord): Entry {
    return {
      record,
      // Bad log options fail the start (startLocked); until then nothing is written.
      log: new LogWriter(this.logFile(record.id), tryLogPolicy(record)),
      pending: new Set(),
      waiters: new Set(),
      backoff: new RestartBackoff(),
      ops: new OpQueue(),
      removed: false,
      followers: new Set(),
    };
  }

  private notRunning(r: PodRecord): ConflictError {
    return new ConflictError(`Container ${r.id} is not running`);
  }

  // ---------------------------------------------------------------- create

  /**
   * Create a pod (state Created): name reserved, image marked used, rootfs prepared, record
   * persisted, `create` published. Undone entirely when a step fails.
   */
  async create(spec: PodSpec, name: string | undefined, frontend: unknown): Promise<PodRecord> {
    const id = spec.id;
    let finalName: string;
    if (name) {
      this.names.reserve(name, id);
      finalName = name.replace(/^\//, '');
    } else {
      finalName = this.names.generate(id);
    }
    const record: PodRecord = {
      id,
      name: finalName,
      created: nowRfc3339(),
      spec,
      state: createdState(),
      restartCount: 0,
      manuallyStopped: false,
      frontend,
    };
    const used: string[] = [];
    try {
      for (const c of spec.containers) {
        await this.deps.images.addUser(c.image, c.id);
        used.push(c.image);
        await this.deps.rootfs.prepare(c.id, await this.deps.images.layerDirs(c.image));
      }
      await fs.promises.mkdir(this.dir(id), { recursive: true, mode: 0o700 });
      await this.deps.state.save(record);
    } catch (err) {
      for (const c of spec.containers) await this.deps.rootfs.remove(c.id).catch(() => undefined);
      for (const img of used) await this.deps.images.removeUser(img, id).catch(() => undefined);
      await this.deps.state.remove(id).catch(() => undefined);
      this.names.release(finalName, id);
      throw err;
    }
    const e = this.newEntry(record);
    this.entries.set(id, e);
    this.emit(record, 'create');
    return record;
  }

  // ---------------------------------------------------------------- start

  /** Start a created or exited pod; NotModifiedError (304) when it already runs. */
  async start(ref: string): Promise<void> {
    const e = this.entry(ref);
    await this.locked(e, async (signal) => {
      if (e.removed) throw new NotFoundError(`No such container: ${ref}`);
      if (e.record.state.status === 'paused') throw new ConflictError('cannot start a paused container, try unpause instead');
      if (e.run) throw new NotModifiedError('container already started');
      this.cancelRestart(e);
      e.record.manuallyStopped = false;
      e.record.restartCount = 0;
      e.backoff.reset();
      try {
        await this.startLocked(e, signal);
      } catch (err) {
        // dockerd removes an AutoRemove container whose start failed (`docker run --rm`
        // waits for that removal).
        if (e.record.spec.autoRemove) await this.removeEntry(e).catch(() => undefined);
        throw err;
      }
    });
  }

  private cancelRestart(e: Entry): void {
    if (e.restartTimer) clearTimeout(e.restartTimer);
    e.restartTimer = undefined;
  }

  /** The start itself (lock held). On failure the record keeps its state and gets the error. */
  /** Boot the pod. Preempted by kill or rm -f while booting, it kills what it booted. */
  private async startLocked(e: Entry, signal?: AbortSignal): Promise<void> {
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
      parseLogPolicy(r.spec.log); // dockerd: "failed to initialize logging driver: ..."
      started = await startPod(
        {
          factory: this.deps.factory,
          rootfs: this.deps.rootfs,
          containerDir: (id) => this.dir(id),
          resolvConf: this.deps.resolvConf,
          signal: giveUp.signal,
          discard: (vm) => void this.track(vm.destroy()),
        },
        r.spec,
      );
    } catch (err) {
      const by = preemptedBy(signal);
      if (giveUp.signal.aborted && (by === 'kill' || by === 'remove')) {
        throw new ConflictError(`Cannot start container ${r.id}: it was ${by === 'kill' ? 'killed' : 'removed'} while starting`);
      }
      const failed = startFailure(err, mainContainer(r.spec).args[0] ?? '', r.state.exitCode || 128);
      r.state.error = failed.error.message;
      if (r.state.status === 'restarting') r.state.status = 'exited';
      r.state.exitCode = failed.exitCode;
      await this.persist(e);
      throw failed.error;
    } finally {
      signal?.removeEventListener('abort', onPreempt);
    }
    const main = mainContainer(r.spec);
    const init = started.inits.get(main.id) as AgentProcess;
    log.debug(`container ${r.id.slice(0, 12)}: started on VM ${started.vm.id} (guest pid ${init.pid})`);
    r.state = {
      status: 'running',
      pid: init.pid,
      exitCode: 0,
      error: '',
      startedAt: nowRfc3339(),
      finishedAt: r.state.finishedAt,
      oomKilled: false,
    };
    r.vmId = started.vm.id;
    r.initProcessIds = Object.fromEntries([...started.inits.entries()].map(([cid, p]) => [cid, p.processId]));
    // `start` is published before the exit monitor exists, so `die` can never precede it.
    this.emit(r, 'start');
    const run = this.bindRun(e, started.vm, init, Date.now());
    await this.persist(e);
    const by = preemptedBy(signal);
    if (by === 'kill' || by === 'remove') {
      await this.hardKill(e, run);
      await run.ended;
      throw new ConflictError(`Cannot start container ${r.id}: it was ${by === 'kill' ? 'killed' : 'removed'} while starting`);
    }
  }

  /** Wire a (new or re-adopted) run: io to log and sessions, exit monitor. */
  private bindRun(e: Entry, vm: Vm, init: AgentProcess, startedMs: number): Run {
    const main = mainContainer(e.record.spec);
    const io = new ProcessIo(init, { log: e.log, stdinOnce: main.stdinOnce, tty: main.tty });
    let resolveEnded!: () => void;
    const run: Run = { vm, init, io, startedMs, ended: new Promise<void>((r) => (resolveEnded = r)) };
    e.run = run;
    for (const s of [...e.pending]) {
      e.pending.delete(s);
      io.add(s);
    }
    void this.monitor(e, run).finally(resolveEnded);
    return run;
  }

  /** Wait for the main process to end, then tear the run down and record the exit. */
  private async monitor(e: Entry, run: Run): Promise<void> {
    let exitCode: number;
    let oomKilled = false;
    let error = '';
    const vmDeath = run.vm.exited.then((x) => {
      throw new UnavailableError(x.expected ? `VM ${run.vm.id} was stopped` : `VM ${run.vm.id} exited unexpectedly: ${x.reason}`);
    });
    vmDeath.catch(() => undefined);
    try {
      const status = await Promise.race([run.init.exited, vmDeath]);
      exitCode = status.exitCode;
      oomKilled = status.oomKilled === true;
    } catch (err) {
      if (run.forcedExitCode !== undefined) {
        exitCode = run.forcedExitCode;
      } else {
        exitCode = 255;
        error = err instanceof Error ? err.message : String(err);
        // The agent channel usually breaks a moment before QEMU's exit is seen: prefer the
        // VM's own reason (it names the crash and the console's last words) when it comes.
        const gone = await Promise.race([run.vm.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 2000).unref())]);
        if (gone && !gone.expected) error = `VM ${run.vm.id} exited unexpectedly: ${gone.reason.split('\n').slice(0, 3).join(' / ')}`;
      }
    }
    if (this.closing) return;
    log.debug(`container ${e.record.id.slice(0, 12)}: main process exited (${exitCode}${error ? `: ${error}` : ''})`);
    // Let the output drain (bounded: a dead VM's streams end at once).
    await Promise.race([run.io.done, new Promise((r) => setTimeout(r, OUTPUT_DRAIN_MS).unref())]);
    log.debug(`container ${e.record.id.slice(0, 12)}: output drained, tearing down VM ${run.vm.id} in the background`);
    const teardown = this.track(this.tearDown(e, run));
    e.teardown = teardown;
    void teardown.then(() => {
      if (e.teardown === teardown) e.teardown = undefined;
    });
    const r = e.record;
    r.state = { ...r.state, status: 'exited', pid: 0, exitCode, error, finishedAt: nowRfc3339(), oomKilled };
    r.vmId = undefined;
    r.initProcessIds = undefined;
    await this.persist(e).catch((err) => log.error(`persisting ${r.id}: ${(err as Error).message}`));
    // Only now is the pod "not running": a wait that arrives meanwhile is woken below, after
    // `die`, so no client sees the exit before the event.
    e.run = undefined;
    log.debug(`container ${r.id.slice(0, 12)}: exited ${exitCode}, run torn down`);
    // dockerd sends `oom` (from the cgroup's OOM notification) before `die`.
    if (oomKilled) this.emit(r, 'oom', {});
    this.emit(r, 'die', { exitCode: String(exitCode) });
    for (const f of [...e.followers]) f();
    this.wake(e, 'exit', { exitCode, ...(error ? { error } : {}) });
    if (this.closing || e.removed) return;
    if (r.spec.autoRemove) {
      await this.removeEntry(e).catch((err) => log.error(`auto-removing ${r.id}: ${(err as Error).message}`));
      return;
    }
    const ranMs = Date.now() - run.startedMs;
    if (shouldRestart(r.spec.restartPolicy, exitCode, r.restartCount, r.manuallyStopped)) {
      this.scheduleRestart(e, e.backoff.next(ranMs));
    }
  }

  /** Destroy a finished run's VM, then unmount its rootfs (never rejects). */
  private async tearDown(e: Entry, run: Run): Promise<void> {
    const t0 = Date.now();
    await run.vm.destroy().catch((err) => log.warn(`destroying VM ${run.vm.id}: ${(err as Error).message}`));
    const t1 = Date.now();
    for (const c of e.record.spec.containers) {
      await this.deps.rootfs.unmount(c.id).catch((err) => log.warn(`unmounting rootfs of ${c.id}: ${(err as Error).message}`));
    }
    log.debug(`container ${e.record.id.slice(0, 12)}: VM destroyed in ${t1 - t0} ms, rootfs unmounted in ${Date.now() - t1} ms`);
  }

  /** Keep `p` in `background` until it settles; its failure is logged, never thrown. */
  private track(p: Promise<void>): Promise<void> {
    const q: Promise<void> = p
      .catch((err) => log.error(`background work: ${(err as Error).message}`))
      .finally(() => this.background.delete(q));
    this.background.add(q);
    return q;
  }

  /** Resolves once no background work (teardowns, deferred storage deletion) is left. */
  async settled(): Promise<void> {
    while (this.background.size > 0) await Promise.all([...this.background]);
  }

  private scheduleRestart(e: Entry, delayMs: number): void {
    const r = e.record;
    r.state.status = 'restarting';
    void this.persist(e).catch(() => undefined);
    this.cancelRestart(e);
    e.restartTimer = setTimeout(() => {
      e.restartTimer = undefined;
      void this.locked(e, async () => {
        if (e.removed || e.run || r.state.status !== 'restarting') return;
        if (r.manuallyStopped) {
          r.state.status = 'exited';
          await this.persist(e).catch(() => undefined);
          return;
        }
        r.restartCount++;
        try {
          await this.startLocked(e);
        } catch (err) {
          log.warn(`restart of ${r.id} failed: ${(err as Error).message}`);
          r.state.status = 'exited';
          await this.persist(e).catch(() => undefined);
        }
      });
    }, delayMs);
  }

  private wake(e: Entry, what: 'exit' | 'removed', result: WaitResult): void {
    for (const w of [...e.waiters]) {
      if (what === 'removed' ? w.condition === 'removed' : w.condition !== 'removed') {
        e.waiters.delete(w);
        w.resolve(result);
      }
    }
  }

  // ---------------------------------------------------------------- stop / kill

  /**
   * Stop: the stop signal, up to `timeoutSec` (pod default when undefined; negative = for
   * ever) for the exit, then SIGKILL. NotModifiedError (304) when it does not run.
   */
  async stop(ref: string, timeoutSec?: number): Promise<void> {
    const e = this.entry(ref);
    await this.locked(e, (signal) => this.stopLocked(e, timeoutSec, signal));
  }

  /**
   * The stop itself. Preempted (signal aborted) by kill or rm -f, it stops waiting and kills
   * at once; by daemon shutdown, it gives up and leaves the pod running.
   */
  private async stopLocked(e: Entry, timeoutSec?: number, signal?: AbortSignal): Promise<void> {
    const r = e.record;
    // A stop always wins over a pending or imminent policy restart, even when it answers 304.
    this.cancelRestart(e);
    r.manuallyStopped = true;
    if (!e.run) {
      const wasRestarting = r.state.status === 'restarting';
      if (wasRestarting) r.state.status = 'exited';
      await this.persist(e);
      if (wasRestarting) return;
      throw new NotModifiedError('container already stopped');
    }
    const run = e.run;
    const main = mainContainer(r.spec);
    await this.persist(e);
    const t = timeoutSec ?? main.stopTimeout;
    await this.resumeIfPaused(e);
    this.emit(r, 'kill', { signal: String(main.stopSignal) });
    try {
      await bounded(run.vm.agent.signalProcess(run.init.processId, main.stopSignal), this.deps.agentTimeoutMs ?? AGENT_CALL_MS, 'stop signal');
    } catch (err) {
      log.debug(`stop signal to ${r.id}: ${(err as Error).message}`);
    }
    // Negative: no deadline (dockerd); huge values: clamped by waitFor (no timer overflow).
    const exited = await waitFor(run.ended, t < 0 ? undefined : t * 1000, signal);
    if (!exited && preemptedBy(signal) === 'shutdown') throw new UnavailableError('the daemon is shutting down');
    if (!exited) await this.hardKill(e, run);
    await run.ended;
    if (r.state.status === 'restarting') {
      // It exited by itself just before the stop and a restart was scheduled: cancel it.
      this.cancelRestart(e);
      r.state.status = 'exited';
      await this.persist(e);
    }
    this.emit(r, 'stop');
  }

  /** SIGKILL, and if the process still does not go, destroy its VM (exit code 137). */
  private async hardKill(e: Entry, run: Run): Promise<void> {
    this.emit(e.record, 'kill', { signal: String(SIGKILL) });
    try {
      await bounded(run.vm.agent.signalProcess(run.init.processId, SIGKILL), this.deps.agentTimeoutMs ?? AGENT_CALL_MS, 'SIGKILL');
    } catch (err) {
      log.debug(`SIGKILL to ${e.record.id}: ${(err as Error).message}`);
    }
    if (!(await waitFor(run.ended, this.deps.killGraceMs ?? KILL_GRACE_MS))) {
      run.forcedExitCode = 137;
      await run.vm.destroy().catch(() => undefined);
    }
  }

  private async resumeIfPaused(e: Entry): Promise<void> {
    if (e.record.state.status === 'paused' && e.run) {
      await e.run.vm.resume();
      e.record.state.status = 'running';
      await this.persist(e);
      this.emit(e.record, 'unpause');
    }
  }

  /** Send a signal to the main process; SIGKILL also waits until it is dead. */
  async kill(ref: string, signal: number): Promise<void> {
    const e = this.entry(ref);
    const r = e.record;
    const run = e.run;
    if (!run) {
      if (r.state.status === 'restarting') {
        this.cancelRestart(e);
        r.manuallyStopped = true;
        r.state.status = 'exited';
        await this.persist(e);
        return;
      }
      throw new ConflictError(`Cannot kill container: ${r.id}: Container ${r.id} is not running`);
    }
    r.manuallyStopped = true;
    await this.persist(e);
    await this.resumeIfPaused(e);
    if (signal === SIGKILL) {
      // SIGKILL wins over a pending stop, restart or start (they stop waiting and kill).
      this.cancelRestart(e);
      await e.ops.force('kill', async () => {
        const now = e.run;
        if (!now) return;
        await this.hardKill(e, now);
        await now.ended;
      });
      return;
    }
    this.emit(r, 'kill', { signal: String(signal) });
    try {
      await bounded(run.vm.agent.signalProcess(run.init.processId, signal), this.deps.agentTimeoutMs ?? AGENT_CALL_MS, 'signal');
    } catch (err) {
      if (err instanceof NotFoundError) throw new ConflictError(`Cannot kill container: ${r.id}: Container ${r.id} is not running`);
      throw err;
    }
  }

  /** Stop (if running) then start; publishes `restart`. */
  async restart(ref: string, timeoutSec?: number): Promise<void> {
    const e = this.entry(ref);
    await this.locked(e, async (signal) => {
      if (e.run || e.record.state.status === 'restarting') {
        await this.stopLocked(e, timeoutSec, signal).catch((err) => {
          if (!(err instanceof NotModifiedError)) throw err;
        });
      }
      // A kill or rm -f that came in during the stop wins: no start after it.
      if (signal.aborted || e.removed) throw new ConflictError(`Cannot restart container ${e.record.id}: it was ${preemptedBy(signal) ?? 'remove'}${preemptedBy(signal) === 'kill' ? 'ed' : 'd'} while the restart was pending`);
      this.cancelRestart(e);
      e.record.manuallyStopped = false;
      e.record.restartCount = 0;
      e.backoff.reset();
      await this.startLocked(e, signal);
      this.emit(e.record, 'restart');
    });
  }

  // ---------------------------------------------------------------- pause

  /** Freeze the pod's whole VM. */
  async pause(ref: string): Promise<void> {
    const e = this.entry(ref);
    await this.locked(e, async () => {
      const r = e.record;
      if (!e.run) throw this.notRunning(r);
      if (r.state.status === 'paused') throw new ConflictError(`Container ${r.id} is already paused`);
      await e.run.vm.pause();
      r.state.status = 'paused';
      await this.persist(e);
      this.emit(r, 'pause');
    });
  }

  /** Thaw a paused pod. */
  async unpause(ref: string): Promise<void> {
    const e = this.entry(ref);
    await this.locked(e, async () => {
      const r = e.record;
      if (!e.run || r.state.status !== 'paused') throw new ConflictError(`Container ${r.id} is not paused`);
      await e.run.vm.resume();
      r.state.status = 'running';
      await this.persist(e);
      this.emit(r, 'unpause');
    });
  }

  // ---------------------------------------------------------------- remove / rename

  /** Remove a pod; a running one only with `force` (killed first). */
  async remove(ref: string, opts: { force: boolean }): Promise<void> {
    const e = this.entry(ref);
    // rm -f preempts a pending stop, restart or start; a plain rm waits its turn.
    const queue = <T>(fn: () => Promise<T>) => (opts.force ? e.ops.force('remove', fn) : this.locked(e, fn));
    if (opts.force) this.cancelRestart(e);
    await queue(async () => {
      if (e.removed) return;
      const r = e.record;
      if (e.run || r.state.status === 'restarting') {
        if (!opts.force) {
          throw new ConflictError(`You cannot remove a running container ${r.id}. Stop the container before attempting removal or force remove`);
        }
        this.cancelRestart(e);
        r.manuallyStopped = true;
        const run = e.run;
        if (run) {
          await this.resumeIfPaused(e).catch(() => undefined);
          await this.hardKill(e, run);
          await run.ended;
        }
      }
      if (!e.removed) await this.removeEntry(e);
    });
  }

  private async removeEntry(e: Entry): Promise<void> {
    if (e.removed) return;
    const r = e.record;
    this.cancelRestart(e);
    r.state.status = 'removing';
    e.removed = true;
    for (const s of [...e.pending]) s.finish('cancelled');
    e.pending.clear();
    try {
      e.log.close();
    } catch {
      // Nothing was open.
    }
    const deleteStorage = async (): Promise<void> => {
      for (const c of r.spec.containers) await this.deps.rootfs.remove(c.id);
      await this.deps.state.remove(r.id);
    };
    const teardown = e.teardown;
    if (teardown) {
      // The rootfs is still being unmounted: answer now, delete afterwards. A daemon that dies
      // before that finds the record and removes it at its next start: `removing` is written
      // for that, except for AutoRemove pods, whose exited record restore() removes anyway.
      if (!r.spec.autoRemove) await this.deps.state.save(r);
      void this.track(teardown.then(deleteStorage));
    }
    for (const c of r.spec.containers) {
      if (!teardown) await this.deps.rootfs.remove(c.id);
      await this.deps.images.removeUser(c.image, c.id).catch((err) => log.warn(`releasing image of ${c.id}: ${(err as Error).message}`));
    }
    if (!teardown) await this.deps.state.remove(r.id);
    this.names.release(r.name, r.id);
    this.entries.delete(r.id);
    for (const x of this.execs.of(r.id)) this.execs.delete(x.id);
    log.debug(`container ${r.id.slice(0, 12)}: removed`);
    this.emit(r, 'destroy');
    // As dockerd: the removal itself carries no error (a failed start was already answered).
    this.wake(e, 'removed', { exitCode: r.state.exitCode });
    this.wake(e, 'exit', { exitCode: r.state.exitCode });
  }

  /** Give a pod a new (validated) name. */
  async rename(ref: string, newName: string): Promise<void> {
    const e = this.entry(ref);
    await this.locked(e, async () => {
      const r = e.record;
      const n = newName.replace(/^\//, '');
      if (n === r.name) throw new InvalidArgumentError('Renaming a container with the same name as its current name');
      try {
        this.names.reserve(n, r.id);
      } catch (err) {
        throw new ConflictError(`Error when allocating new name: ${(err as Error).message}`);
      }
      const old = r.name;
      r.name = n;
      try {
        await this.persist(e);
      } catch (err) {
        r.name = old;
        this.names.release(n, r.id);
        throw err;
      }
      this.names.release(old, r.id);
      this.emit(r, 'rename', { oldName: `/${old}` });
    });
  }

  /** Change the restart policy (docker update --restart). */
  async updateRestartPolicy(ref: string, policy: RestartPolicy): Promise<void> {
    const e = this.entry(ref);
    await this.locked(e, async () => {
      if (e.record.spec.autoRemove && policy.name !== 'no') {
        throw new InvalidArgumentError('Restart policy cannot be updated because AutoRemove is enabled for the container');
      }
      e.record.spec.restartPolicy = policy;
      await this.persist(e);
    });
  }

  /** Change the VM size used from the next start (docker update of a stopped container). */
  async updateVmSize(ref: string, size: VmSize): Promise<void> {
    const e = this.entry(ref);
    await this.locked(e, async () => {
      e.record.spec.vm = { ...size };
      await this.persist(e);
    });
  }

  /**
   * docker update of memory / CPUs. A stopped container gets a VM of `size` at its next start;
   * a running one gets `limits` applied live in its guest cgroup, as far as its VM allows (a
   * VM is not resized while it runs: a limit beyond it is refused, 409, saying so).
   */
  async updateResources(ref: string, size: VmSize, limits: ResourceLimits | undefined): Promise<void> {
    const e = this.entry(ref);
    await this.locked(e, async () => {
      const run = e.run;
      const main = mainContainer(e.record.spec);
      if (run) checkFitsVm(e.record.id, run.vm.size, size, limits);
      if (run && limits) {
        const agent = run.vm.agent;
        if (!agent.updateResources) throw new ConflictError(`Cannot update container ${e.record.id}: its VM cannot change limits live (stop it first)`);
        // A limit that was set and is now gone is lifted ("max").
        const apply: ResourceLimits = { ...limits };
        if (apply.memoryMax === undefined && main.limits?.memoryMax !== undefined) apply.memoryMax = 0;
        if (apply.cpuQuota === undefined && main.limits?.cpuQuota !== undefined) apply.cpuQuota = 0;
        await agent.updateResources(main.id, apply);
      }
      if (limits) main.limits = { ...limits };
      else delete main.limits;
      // The VM keeps its size while it runs; the next start sizes it for the new limits.
      e.record.spec.vm = { ...size };
      await this.persist(e);
    });
  }

  /** Replace the opaque frontend data (e.g. the Docker HostConfig after an update) and persist. */
  async updateFrontend(ref: string, frontend: unknown): Promise<void> {
    const e = this.entry(ref);
    e.record.frontend = frontend;
    await this.persist(e);
  }

  // ---------------------------------------------------------------- wait

  /** Wait for a pod to stop (or be removed), as `POST /containers/{id}/wait`. */
  wait(ref: string, condition: WaitCondition): Promise<WaitResult> {
    const e = this.entry(ref);
    const r = e.record;
    const running = !!e.run || r.state.status === 'restarting';
    if (condition === 'not-running' && !running) {
      return Promise.resolve({ exitCode: r.state.exitCode, ...(r.state.error ? { error: r.state.error } : {}) });
    }
    return new Promise((resolve) => e.waiters.add({ condition, resolve }));
  }

  // ---------------------------------------------------------------- attach / logs

  /**
   * Attach a client. With `logs`, the log so far is replayed first; with `stream`, the session
   * follows the live output (waiting for the next start when the pod is not running) until
   * the process exits or the client detaches. Returns the session (its `ended` says how).
   */
  attach(ref: string, opts: AttachOptions): AttachSession {
    const e = this.entry(ref);
    const main = mainContainer(e.record.spec);
    const session = new AttachSession({ ...opts, stdin: main.openStdin ? opts.stdin : null });
    if (!main.openStdin && opts.stdin) opts.stdin.resume(); // Docker ignores input then.
    if (opts.logs) {
      const entries = readLogSync(this.logFile(e.record.id));
      for (const le of entries) {
        if (!session.wants(le.stream)) continue;
        try {
          opts.sink.write(le.stream, le.log);
        } catch {
          session.finish('client-gone');
          return session;
        }
      }
    }
    if (!opts.stream) {
      session.finish('exited');
      return session;
    }
    this.emit(e.record, 'attach');
    if (e.run && !e.run.io.isDone) {
      e.run.io.add(session);
    } else {
      session.opts.stdin?.pause();
      e.pending.add(session);
      void session.ended.then(() => e.pending.delete(session));
    }
    return session;
  }

  /** Log entries (optionally following the live output until the run ends). */
  async *logs(ref: string, o: LogsOptions): AsyncGenerator<LogEntry> {
    const e = this.entry(ref);
    const file = this.logFile(e.record.id);
    const follow = o.follow && !!e.run;
    const queue: LogEntry[] = [];
    let wake: (() => void) | null = null;
    let ended = false;
    let unsubscribe = () => {};
    const onEnd = () => {
      ended = true;
      wake?.();
    };
    if (follow) {
      unsubscribe = e.log.subscribe((le) => {
        queue.push(le);
        wake?.();
      });
      e.followers.add(onEnd);
    }
    // Taken in the same tick as the subscription: nothing is missed or seen twice.
    const snap = snapshotLog(file);
    try {
      const past = await readLogSnapshot(snap, o);
      for (const le of past) yield le;
      if (!follow) return;
      for (;;) {
        while (queue.length) {
          const le = queue.shift() as LogEntry;
          if (o.untilNano !== undefined && !entryMatches(le, { ...o, sinceNano: undefined })) return;
          if (entryMatches(le, o)) yield le;
        }
        if (ended) return;
        await new Promise<void>((r) => (wake = r));
        wake = null;
      }
    } finally {
      unsubscribe();
      e.followers.delete(onEnd);
    }
  }

  /** Resize the main process's terminal (ignored without a TTY, as dockerd does). */
  async resize(ref: string, rows: number, cols: number): Promise<void> {
    const e = this.entry(ref);
    if (!e.run) throw this.notRunning(e.record);
    if (!mainContainer(e.record.spec).tty) return;
    await e.run.vm.agent.resizeTerminal(e.run.init.processId, rows, cols);
    this.emit(e.record, 'resize', { height: String(rows), width: String(cols) });
  }

  // ---------------------------------------------------------------- exec

  /** Create an exec instance in a running pod's main container. */
  execCreate(ref: string, config: ExecConfig): ExecRecord {
    const e = this.entry(ref);
    if (!e.run) throw this.notRunning(e.record);
    if (e.record.state.status === 'paused') throw new ConflictError(`Container ${e.record.id} is paused, unpause the container before exec`);
    const x = this.execs.create(e.record.id, config);
    this.emit(e.record, `exec_create: ${config.args.join(' ')}`, { execID: x.id });
    return x;
  }

  /** An exec by id; NotFoundError "No such exec instance: x". */
  execGet(id: string): ExecRecord {
    const x = this.execs.get(id);
    if (!x) throw new NotFoundError(`No such exec instance: ${id}`);
    return x;
  }

  /**
   * Start an exec. With a session, its output goes there and its input to the process (the
   * process's stdin closes when the client's input ends). Resolves once the process started;
   * `record.finished` resolves when it has exited. When the start fails, the session is not
   * ended (the caller reports the error on it first).
   */
  async execStart(id: string, session?: AttachSession): Promise<ExecRecord> {
    const x = this.execGet(id);
    if (x.started) throw new ConflictError(`Error: Exec command ${x.id} has already run`);
    const e = this.entry(x.containerId);
    const run = e.run;
    if (!run) throw this.notRunning(e.record);
    if (e.record.state.status === 'paused') throw new ConflictError(`Container ${e.record.id} is paused, unpause the container before exec`);
    x.started = true;
    const main = mainContainer(e.record.spec);
    let proc: AgentProcess;
    try {
      const user = await resolveUserInGuest(run.vm.agent, main.id, x.config.user || main.user, main.groupAdd);
      const env = runtimeEnv(mergeEnv(main.env, x.config.env), e.record.spec.hostname, x.config.tty, user.home);
      proc = await run.vm.agent.startProcess({
        containerId: main.id,
        processId: `exec-${x.id.slice(0, 16)}`,
        args: x.config.args,
        env,
        cwd: x.config.workingDir || main.workingDir || '/',
        user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
        terminal: x.config.tty,
        stdin: x.config.attachStdin && !!session,
        ...(x.config.tty ? { rows: 24, cols: 80 } : {}),
      });
    } catch (err) {
      const failed = startFailure(err, x.config.args[0] ?? '', 126);
      x.exitCode = failed.exitCode;
      x.markReady();
      this.execs.retire(x.id);
      // The session is left open: the caller reports the error on it (dockerd writes it on
      // the hijacked stream) and then ends it.
      throw failed.error;
    }
    x.proc = proc;
    x.processId = proc.processId;
    x.pid = proc.pid;
    x.running = true;
    x.markReady();
    const io = new ProcessIo(proc, { stdinOnce: true, tty: x.config.tty, endSessions: false });
    x.io = io;
    if (session) io.add(session);
    this.emit(e.record, `exec_start: ${x.config.args.join(' ')}`, { execID: x.id });
    x.finished = (async () => {
      let code: number;
      try {
        code = (await proc.exited).exitCode;
      } catch {
        code = 255;
      }
      await Promise.race([io.done, new Promise((r) => setTimeout(r, OUTPUT_DRAIN_MS).unref())]);
      x.exitCode = code;
      x.running = false;
      x.proc = undefined;
      x.io = undefined;
      this.execs.retire(x.id);
      this.emit(e.record, 'exec_die', { execID: x.id, exitCode: String(code) });
      // Only now close the client's stream: the CLI inspects the exit code right after.
      io.endSessions();
      session?.finish('exited');
    })();
    return x;
  }

  /**
   * Resize a running exec's terminal. Like dockerd, a resize that arrives before the process
   * has started (clients resize right after the hijack) waits for the start, up to 10 s.
   */
  async execResize(id: string, rows: number, cols: number): Promise<void> {
    const x = this.execs.get(id);
    if (!x) throw new NotFoundError('no such exec');
    if (!x.proc && x.exitCode === null) {
      await Promise.race([x.ready, new Promise((r) => setTimeout(r, 10000).unref())]);
    }
    if (!x.running || !x.proc) throw new NotFoundError('no such exec');
    const e = this.entry(x.containerId);
    if (!e.run) throw this.notRunning(e.record);
    if (!x.config.tty) return;
    await e.run.vm.agent.resizeTerminal(x.proc.processId, rows, cols);
  }

  // ---------------------------------------------------------------- top / stats

  /** Run `ps <args>` in the container and return its table (Docker's top). */
  async top(ref: string, psArgs: string): Promise<{ titles: string[]; processes: string[][] }> {
    const e = this.entry(ref);
    if (!e.run) throw this.notRunning(e.record);
    const args = ['ps', ...psArgs.split(/\s+/).filter(Boolean)];
    const x = this.execs.create(e.record.id, {
      args, env: [], workingDir: '/', user: '0', tty: false, attachStdin: false, attachStdout: true, attachStderr: true,
      detachKeys: '', privileged: false,
    });
    const out: Buffer[] = [];
    const errOut: Buffer[] = [];
    const session = new AttachSession({
      stdin: null,
      stdout: true,
      stderr: true,
      detachKeys: Buffer.alloc(0),
      sink: {
        write: (s, d) => {
          (s === 'stdout' ? out : errOut).push(d);
          return true;
        },
        drain: async () => {},
        end: () => {},
      },
    });
    try {
      const started = await this.execStart(x.id, session);
      await started.finished;
    } finally {
      this.execs.delete(x.id);
    }
    if (x.exitCode !== 0) {
      throw new UnavailableError(`Error running top: ps ${psArgs}: ${Buffer.concat(errOut).toString().trim() || `exit status ${x.exitCode}`}`);
    }
    this.emit(e.record, 'top');
    return parsePs(Buffer.concat(out).toString('utf8'), args.join(' '));
  }

  /** One sample of the pod's resource usage, from the guest. */
  async sample(ref: string): Promise<GuestSample | undefined> {
    const e = this.entry(ref);
    if (!e.run || e.record.state.status === 'paused') return undefined;
    return sampleGuest(e.run.vm.agent, mainContainer(e.record.spec).id);
  }

  /** Bytes in the writable layer of the main container. */
  async sizeRw(ref: string): Promise<number> {
    const e = this.entry(ref);
    return this.deps.rootfs.sizeRw(mainContainer(e.record.spec).id).catch(() => 0);
  }

  // ---------------------------------------------------------------- restore / shutdown

  /**
   * Load every pod from disk after a daemon (re)start and wait for the re-adoptions (see
   * `load`). Returns the ids of the VMs it adopted: every other VM an earlier daemon left is
   * the caller's to reclaim (src/vm/reclaim.ts).
   */
  async restore(): Promise<Set<string>> {
    return (await this.load()).adopted;
  }

  /**
   * Load every pod from disk after a daemon (re)start, without waiting for any VM: pods that
   * were running are re-adopted in the background, all at once (`adopted` resolves with their
   * VM ids when every adoption has ended). Meanwhile each such pod's lock is held, and
   * `whenAdopted` tells callers (the API) to wait. A pod whose VM is gone or whose init no
   * longer runs is marked exited (255) with an error. `always`/`unless-stopped` pods are
   * started (in the background).
   */
  async load(): Promise<{ adopted: Promise<Set<string>> }> {
    const { records, orphans } = await this.deps.state.loadAll();
    for (const id of orphans) {
      log.warn(`removing half-created container directory ${id}`);
      await this.deps.rootfs.remove(id).catch(() => undefined);
      await this.deps.state.remove(id).catch(() => undefined);
    }
    const claimed = new Set<string>();
    const adoptions: Promise<void>[] = [];
    for (const r of records) {
      const e = this.newEntry(r);
      try {
        this.names.reserve(r.name, r.id);
      } catch {
        r.name = this.names.generate(r.id);
      }
      this.entries.set(r.id, e);
      const wasOnVm = r.state.status === 'running' || r.state.status === 'paused';
      if (wasOnVm) {
        const vmId = r.vmId;
        const done = this.locked(e, async () => {
          if (await this.readopt(e)) claimed.add(vmId as string);
          else await this.markLost(e);
        }).catch((err) => log.error(`restoring ${r.id}: ${(err as Error).message}`)).finally(() => this.adopting.delete(r.id));
        this.adopting.set(r.id, done);
        adoptions.push(done);
      } else if (r.state.status === 'restarting') {
        await this.markLost(e);
      } else if (r.state.status === 'exited' && startsWithDaemon(r.spec.restartPolicy, r.manuallyStopped)) {
        this.startInBackground(e);
      } else if (r.state.status === 'removing' || (r.state.status === 'exited' && r.spec.autoRemove)) {
        // A removal cut short, or an AutoRemove pod that exited (dockerd removes those at its
        // start too).
        await this.removeEntry(e).catch((err) => log.error(`finishing removal of ${r.id}: ${(err as Error).message}`));
      }
    }
    return { adopted: Promise.all(adoptions).then(() => claimed) };
  }

  /**
   * While pod `ref` is being re-adopted after a restart: a promise that resolves when that has
   * ended (never rejects). Undefined otherwise, and for unknown refs.
   */
  whenAdopted(ref: string): Promise<void> | undefined {
    if (this.adopting.size === 0) return undefined;
    try {
      return this.adopting.get(this.entry(ref).record.id);
    } catch {
      return undefined;
    }
  }

  /** Start a restored pod in the background (restart policy at daemon start). */
  private startInBackground(e: Entry): void {
    void this.locked(e, () => this.startLocked(e)).catch((err) => log.warn(`starting ${e.record.id} at daemon start: ${(err as Error).message}`));
  }

  /** A restored pod whose run did not survive the restart: exited, and restarted by policy. */
  private async markLost(e: Entry): Promise<void> {
    const r = e.record;
    const restarting = r.state.status === 'restarting';
    for (const c of r.spec.containers) await this.deps.rootfs.unmount(c.id).catch(() => undefined);
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
    await this.persist(e);
    if (!restarting) this.emit(r, 'die', { exitCode: '255' });
    if (restarting || shouldRestart(r.spec.restartPolicy, 255, r.restartCount, r.manuallyStopped)) this.startInBackground(e);
  }

  private async readopt(e: Entry): Promise<boolean> {
    const r = e.record;
    if (!r.vmId || !this.deps.hypervisor) return false;
    let vm: Vm | undefined;
    try {
      vm = await this.deps.hypervisor.adopt(r.vmId);
    } catch (err) {
      log.warn(`adopting VM ${r.vmId} of ${r.id}: ${(err as Error).message}`);
      return false;
    }
    if (!vm) return false;
    try {
      const main = mainContainer(r.spec);
      const wanted = r.initProcessIds?.[main.id] ?? initProcessId(main.id);
      const procs = await vm.agent.reattach((p) => (p.processId === wanted ? e.log.resumePoint() : undefined));
      const init = procs.find((p) => p.processId === wanted);
      if (!init) throw new Error(`process ${wanted} is gone`);
      this.bindRun(e, vm, init, parseRfc3339(r.state.startedAt) || Date.now());
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
  shutdown(): void {
    this.closing = true;
    for (const e of this.entries.values()) {
      this.cancelRestart(e);
      e.ops.abortCurrent('shutdown');
      e.run?.vm.agent.close();
      for (const s of [...e.pending]) s.finish('cancelled');
    }
  }

  /** Counts for `docker info`. */
  counts(): { total: number; running: number; paused: number; stopped: number } {
    let running = 0;
    let paused = 0;
    let total = 0;
    for (const e of this.entries.values()) {
      if (e.removed) continue;
      total++;
      if (e.record.state.status === 'paused') paused++;
      else if (e.run || e.record.state.status === 'restarting') running++;
    }
    return { total, running, paused, stopped: total - running - paused };
  }
}

/** `p`, or an UnavailableError after `ms` (the request itself is left to settle). */
function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new UnavailableError(`${what}: the agent did not answer within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}


/** A pod's log policy; the default one when its options are bad (its start fails then). */
function tryLogPolicy(r: PodRecord): typeof DEFAULT_LOG_POLICY {
  try {
    return parseLogPolicy(r.spec.log);
  } catch {
    return DEFAULT_LOG_POLICY;
  }
}

/**
 * Parse `ps` output into Docker's top table: the header's words are the titles; each row is
 * cut into as many fields, the last one taking the rest of the line (the command). Kernel
 * threads (`[kthreadd]`) and the ps process itself (`psCommand`) are left out: dockerd runs
 * ps outside the container, so neither shows in its answer.
 */
export function parsePs(text: string, psCommand: string): { titles: string[]; processes: string[][] } {
  const lines = text.split('\n').filter((l) => l.trim());
  if (lines.length === 0) return { titles: [], processes: [] };
  const titles = lines[0].trim().split(/\s+/);
  const processes: string[][] = [];
  for (const line of lines.slice(1)) {
    const fields = line.trim().split(/\s+/);
    const row = fields.slice(0, titles.length - 1);
    row.push(fields.slice(titles.length - 1).join(' '));
    const cmd = row[row.length - 1];
    if (/^\[.*\]$/.test(cmd)) continue;
    if (cmd === psCommand) continue;
    processes.push(row);
  }
  return { titles, processes };
}

/** What preempted the operation owning `signal`, if anything. */
function preemptedBy(signal?: AbortSignal): Preemption | undefined {
  return signal?.aborted && signal.reason instanceof PreemptedError ? signal.reason.by : undefined;
}
