/**
 * The registry of pods: each pod's in-memory entry (record, current run, log writer, waiters,
 * operation queue), looked up by id, name or unique id prefix, and the index of names.
 */
import type { AgentProcess, Vm } from '../../vm/types';
import { InvalidArgumentError } from '../../errors';
import { NoSuchPodError } from '../errors';
import type { AttachSession, ProcessIo } from '../io/io';
import { LogWriter } from '../io/logs';
import { DEFAULT_LOG_POLICY, parseLogPolicy } from '../io/log-config';
import { NameIndex } from './names';
import { OpQueue } from '../op-queue';
import { RestartBackoff } from '../lifecycle/restart';
import { mainContainer, type PodFailure, type PodRecord } from '../types';

/** Conditions of `wait`. */
export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

/** Result of `wait`. */
export interface WaitResult {
  exitCode: number;
  /** Set when the run ended abnormally (VM died...), or its start failed. */
  error?: string;
  /** The facts of `error`, when the pod layer knows them (PodState.failure). */
  failure?: PodFailure;
}

/** A run: the pod on its VM. */
export interface Run {
  vm: Vm;
  /** Init process of each container on the VM, by container id. */
  inits: Map<string, AgentProcess>;
  /**
   * Init process of the pod's main container (its exit ends the run of a pod of one app
   * container); in a pod of several, its current one (a restart in place replaces it), and
   * none when a restored run found it gone.
   */
  init?: AgentProcess;
  /** The main container's output to the pod's log and attach sessions (as `init`). */
  io?: ProcessIo;
  startedMs: number;
  /** The VM is another pod's (joinPod): the run's end destroys its containers, not the VM. */
  borrowed?: boolean;
  /**
   * Set by the watchdog (../lifecycle/watchdog.ts) while the agent has stopped answering: stop, kill and
   * rm -f destroy the VM without waiting on it.
   */
  unresponsive?: boolean;
  /** Set while a checkpoint saves the VM (its vCPUs stopped): the watchdog does not ping it. */
  saving?: boolean;
  /** Exit code to report if the process never reports one (VM destroyed by the host). */
  forcedExitCode?: number;
  /**
   * Set once something ran in this run that can change the VM for later pods beyond what
   * the pod's spec says (a privileged exec): why, in words (../lifecycle/guest-altering.ts). Its VM is
   * then never kept for another pod.
   */
  guestAltered?: string;
  /** Resolves when the exit was handled (state recorded, run torn down). */
  ended: Promise<void>;
  /**
   * Archive requests (docker cp, diff, commit, export) reading the container's files through
   * this run's VM (../mounts/guest-files.ts): the teardown waits for them before the VM goes.
   */
  archives?: Set<Promise<void>>;
  /** Set when the teardown starts: a new archive request takes the stopped container's path. */
  ending?: boolean;
  /**
   * In a pod of several app containers: each container's restart in place
   * (../lifecycle/container-restart.ts); absent in a pod of one.
   */
  inPlace?: InPlaceRestarts;
}

/** The per-container restart state of one run (../lifecycle/container-restart.ts). */
export interface InPlaceRestarts {
  backoff: Map<string, RestartBackoff>;
  timers: Map<string, NodeJS.Timeout>;
  /** When each container's current init started (its run's length resets its backoff). */
  startedMs: Map<string, number>;
  /** Containers whose current init runs. */
  live: Set<string>;
  /** Containers whose restart in place is scheduled or under way. */
  pending: Set<string>;
  /** Called, then forgotten, at each change of `live` or `pending`. */
  onChange: Set<() => void>;
  /** Set once the run ends: no restart in place after that. */
  ended: boolean;
  /**
   * Containers killed by a failing liveness or startup probe (../health/probes.ts), until their exit
   * is seen: they restart under any policy but Never, whatever their exit code.
   */
  probeKilled: Set<string>;
}

/** A client waiting for a pod to stop or be removed. */
export interface Waiter {
  condition: WaitCondition;
  /** In a pod of several, the container whose exit it waits for (absent: the main one). */
  container?: string;
  resolve(r: WaitResult): void;
}

/** In-memory state of one pod. */
export interface Entry {
  record: PodRecord;
  run?: Run;
  log: LogWriter;
  /** Logs of its containers other than the main one (../context.ts containerLog), by id. */
  containerLogs: Map<string, LogWriter>;
  /** Attach sessions waiting for the next run. */
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

/** Every pod of the daemon, by id, with the index of their names. */
export class PodRegistry {
  private readonly entries = new Map<string, Entry>();
  readonly names = new NameIndex();
  /** Pods being re-adopted after a restart (restore.ts), by id. */
  readonly adopting = new Map<string, Promise<void>>();

  constructor(private readonly logFile: (id: string) => string) {}

  /** A fresh entry for a record (not yet registered). */
  newEntry(record: PodRecord): Entry {
    return {
      record,
      // Bad log options fail the start (lifecycle.ts); until then nothing is written.
      log: new LogWriter(this.logFile(record.id), tryLogPolicy(record)),
      containerLogs: new Map(),
      pending: new Set(),
      waiters: new Set(),
      backoff: new RestartBackoff(),
      ops: new OpQueue(),
      removed: false,
      followers: new Set(),
    };
  }

  /** Register an entry under its pod's id. */
  add(e: Entry): void {
    this.entries.set(e.record.id, e);
  }

  /** Forget a pod. */
  delete(id: string): void {
    this.entries.delete(id);
  }

  /** Every entry, removed ones included. */
  all(): IterableIterator<Entry> {
    return this.entries.values();
  }

  /** A pod's entry by id, name or unique id prefix; NotFoundError when none. */
  lookup(ref: string): Entry {
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
    throw new NoSuchPodError(ref);
  }

  /** Every pod, newest first. */
  list(): PodRecord[] {
    return [...this.entries.values()]
      .filter((e) => !e.removed)
      .map((e) => e.record)
      .sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0));
  }

  /** How many pods exist, run, are paused or stopped. */
  counts(): { total: number; running: number; paused: number; stopped: number } {
    let running = 0;
    let paused = 0;
    let total = 0;
    for (const e of this.entries.values()) {
      if (e.removed) continue;
      total++;
      const status = mainContainer(e.record).state.status;
      if (status === 'paused') paused++;
      else if (e.run || status === 'restarting') running++;
    }
    return { total, running, paused, stopped: total - running - paused };
  }
}

/**
 * Wake the waiters of a pod for its exit (every condition but `removed`) or its removal, each
 * with `result`, or its own container's (`resultOf`: a pod of several, whose waiters may wait
 * for a container other than the main one).
 */
export function wake(
  e: Entry,
  what: 'exit' | 'removed',
  result: WaitResult,
  resultOf?: (container: string) => WaitResult,
): void {
  for (const w of [...e.waiters]) {
    if (what === 'removed' ? w.condition === 'removed' : w.condition !== 'removed') {
      e.waiters.delete(w);
      w.resolve(w.container !== undefined && resultOf ? resultOf(w.container) : result);
    }
  }
}

/** Wake the waiters for container `id`'s exit (in a pod of several: it exited, and may restart). */
export function wakeContainer(e: Entry, id: string, result: WaitResult): void {
  const main = mainContainer(e.record).spec.id;
  for (const w of [...e.waiters]) {
    if (w.condition !== 'removed' && (w.container ?? main) === id) {
      e.waiters.delete(w);
      w.resolve(result);
    }
  }
}

/** A pod's log policy; the default one when its options are bad (its start fails then). */
export function tryLogPolicy(r: PodRecord): typeof DEFAULT_LOG_POLICY {
  try {
    return parseLogPolicy(r.sandbox.spec.log);
  } catch {
    return DEFAULT_LOG_POLICY;
  }
}
