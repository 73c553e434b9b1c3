/**
 * The pod layer's one service interface: what every front end calls (the Docker Engine API in
 * src/api/v1.41, the native pod API in src/api/native, the Kubernetes CRI in src/api/cri). It speaks of
 * pods, their containers and processes only; how a front end names things, which transport
 * it uses and how it words errors are its own business.
 *
 * A pod is named by a reference: its id, its unique name, or a unique prefix of its id.
 * Failures are the error classes of src/errors.ts: NotFoundError (no such pod or exec),
 * ConflictError (the pod's state forbids the operation), NotModifiedError (already in the
 * asked state), InvalidArgumentError (a bad argument), UnavailableError (the guest or the
 * daemon cannot do it now).
 */
import type { GuestSample } from './stats/guest-stats';
import type { NetworkAttachment } from '../net/container-config';
import type { AttachSession } from './io/io';
import type { AttachOptions, LogsOptions } from './io/attach';
import type { ExecConfig, ExecRecord } from './io/exec';
import type { LogEntry } from './io/logs';
import type { WaitCondition, WaitResult } from './records/registry';
import type { ContainerProcesses } from './stats/top';
import type { PodRecord, PodSpec } from './types';
import type { PodUpdate } from './records/update';
import type { CheckpointOptions } from './checkpoints/checkpoints';

export type { AttachOptions, ContainerProcesses, LogsOptions, PodUpdate, WaitCondition, WaitResult };
export type { GuestProcessTable, GuestTask } from '../vm/types';

// The pod layer's other doors (docs/architecture.md): of its inner modules, a front end uses
// only what is re-exported here (and in ./types, ./errors, ./events); lint refuses the rest.
export type { ExecConfig, ExecRecord, GuestSample, LogEntry };
export type { AttachSessionOptions, OutputSink, StreamName } from './io/io';
export type { PodVmService, PodVmView } from './lifecycle/vms';
/** A client's session on a process's streams (./io/io.ts): what attach and execStart take. */
export { AttachSession } from './io/io';
/** The sysctls every Docker container with a network of its own gets (./lifecycle/guest-altering.ts). */
export { DEFAULT_NETWORK_SYSCTLS } from './lifecycle/guest-altering';
/** The config of an exec whose output is captured (./io/exec.ts): a CRI ExecSync, a probe. */
export { capturedExecConfig } from './io/exec';
/** The /etc files written into a container at each start, which a diff leaves out (./mounts/etc-files.ts). */
export { ETC_FILES_AT_START } from './mounts/etc-files';

/** How a pod starts. */
export interface StartOptions {
  /** The name of one of its checkpoints to start from (see checkpoint()); absent: a fresh start. */
  checkpoint?: string;
  /**
   * A pod that joins another's VM, restored there by restoreCriSandbox: the id the guest knows
   * the saved container by, whose init it takes over instead of creating its container.
   */
  takeOver?: string;
}

/** Counts of pods by state. */
export interface PodCounts {
  total: number;
  running: number;
  paused: number;
  stopped: number;
}

/** Everything a front end can do with pods (see the module comment). */
export interface PodService {
  // ------------------------------------------------------------------ lookup

  /** A pod's record by reference; NotFoundError when there is none. */
  get(ref: string): PodRecord;
  /** Every pod, newest first. */
  list(): PodRecord[];
  /** Whether a pod is on a VM now (running or paused); NotFoundError for an unknown ref. */
  isRunning(ref: string): boolean;
  /**
   * Resolves once no background work is left: the teardowns of runs that ended (their pods
   * off their networks, VMs gone) and deferred storage deletions. Optional.
   */
  settled?(): Promise<void>;
  /** How many pods exist, and how many of them run, are paused, or are stopped. */
  counts(): PodCounts;
  /**
   * While a pod is being re-adopted after a daemon restart: a promise that resolves when that
   * has ended (never rejects). Undefined otherwise, and for unknown refs. A front end makes
   * requests about that pod wait for it.
   */
  whenAdopted(ref: string): Promise<void> | undefined;

  // ------------------------------------------------------------------ lifecycle

  /**
   * Create a pod (state Created) from `spec`, named `name` (a name is generated when absent):
   * images marked used, rootfs prepared, record persisted. `frontend` is the creating front
   * end's own data, kept with the record and never read by the pod layer. ConflictError when
   * the name is taken. Undone entirely when a step fails.
   */
  create(spec: PodSpec, name: string | undefined, frontend: unknown): Promise<PodRecord>;
  /**
   * Start a created or exited pod on a VM; NotModifiedError when it runs already. With
   * `checkpoint`, from that checkpoint of the pod (CheckpointError when it cannot be).
   */
  start(ref: string, opts?: StartOptions): Promise<void>;
  /**
   * Stop a running pod: its stop signal, then up to `timeoutSec` seconds (the spec's default
   * when undefined; negative: no limit) for it to exit, then SIGKILL. NotModifiedError when
   * it does not run. `stopSignal`, when given, is sent instead of each container's own.
   */
  stop(ref: string, timeoutSec?: number, stopSignal?: number): Promise<void>;
  /** Stop (if running; `stopSignal` as for stop) and start again. */
  restart(ref: string, timeoutSec?: number, stopSignal?: number): Promise<void>;
  /**
   * Send signal number `signal` to the pod's main process; SIGKILL (9) also waits until it
   * has died (and preempts a stop, restart or start under way). ConflictError when it does
   * not run.
   */
  kill(ref: string, signal: number): Promise<void>;
  /** Freeze a running pod's VM; ConflictError when it does not run or is paused already. */
  pause(ref: string): Promise<void>;
  /** Thaw a paused pod; ConflictError when it is not paused. */
  unpause(ref: string): Promise<void>;
  /**
   * Remove a pod and its storage. A running pod only with `force` (killed first); otherwise
   * ConflictError.
   */
  remove(ref: string, opts: { force: boolean }): Promise<void>;
  /** Give a pod a new name; ConflictError when the name is taken, InvalidArgumentError when it is its name. */
  rename(ref: string, newName: string): Promise<void>;
  /**
   * Change a pod's restart policy, resources and front-end data in one step: everything is
   * checked before anything changes, and the record is persisted once.
   */
  update(ref: string, change: PodUpdate): Promise<void>;
  /**
   * Resolves when the pod is not running (`not-running`, at once if it does not run), after
   * its next exit (`next-exit`), or once it is removed (`removed`): its main container's, or
   * in a pod of several the one named by `container` (id, name or prefix in the pod).
   */
  wait(ref: string, condition: WaitCondition, container?: string): Promise<WaitResult>;

  // ------------------------------------------------------------------ streams

  /**
   * Attach a client session to the pod's main process: optionally the log so far first,
   * then (with `stream`) the live output until the process exits or the client detaches.
   */
  attach(ref: string, opts: AttachOptions): AttachSession;
  /**
   * The log entries of the pod's main container, or of the container `opts.container` names
   * (id, name or unique id prefix; NoSuchContainerInPodError when none), optionally following
   * the live output until the run ends.
   */
  logs(ref: string, opts: LogsOptions): AsyncGenerator<LogEntry>;
  /**
   * Throws what `attach` would refuse before anything is streamed (optional: a front end's
   * view of pods may refuse some references; the pod layer itself refuses none).
   */
  checkAttach?(ref: string): void;
  /** Resize the main process's terminal (ignored without one); ConflictError when it does not run. */
  resize(ref: string, rows: number, cols: number): Promise<void>;

  // ------------------------------------------------------------------ processes

  /**
   * Create an extra process (not started yet) in a running pod: in its main container, or in
   * the running container `config.container` names (NoSuchContainerInPodError,
   * ContainerNotRunningError).
   */
  execCreate(ref: string, config: ExecConfig): ExecRecord;
  /** An extra process by id; NotFoundError when there is none. */
  execGet(id: string): ExecRecord;
  /** Ids of a pod's extra processes still known. */
  execIds(podId: string): string[];
  /**
   * Start an extra process; with a session, its streams are connected to it. Resolves once it
   * runs; the record's `finished` resolves after it has exited.
   */
  execStart(id: string, session?: AttachSession): Promise<ExecRecord>;
  /** SIGKILL an extra process that still runs and wait briefly for its end (NotFoundError: no such exec). */
  execKill(id: string): Promise<void>;
  /** Resize an extra process's terminal (waiting briefly for it to start). */
  execResize(id: string, rows: number, cols: number): Promise<void>;
  /**
   * The processes of a running pod's container `container` (default: the main one), as its
   * guest lists them (docker top; a front renders them). `psArgs`: what a guest whose agent
   * predates the process table runs `ps` with in the container, whose output is then the answer.
   */
  processes(ref: string, psArgs: string, container?: string): Promise<ContainerProcesses>;

  // ------------------------------------------------------------------ networks

  /** Connect a pod to a network (now if it runs, else at its next start); optional for fakes. */
  connectNetwork?(ref: string, att: NetworkAttachment): Promise<void>;
  /** Disconnect a pod from a network; optional for fakes. */
  disconnectNetwork?(ref: string, network: string): Promise<void>;

  // ------------------------------------------------------------------ checkpoints

  /** The names of a pod's checkpoints, in name order. Optional: fakes leave it out. */
  checkpoints?(ref: string): Promise<string[]>;
  /**
   * Save running pod `ref` as checkpoint `name` (stopping it after with `exit`). Refusals are
   * CheckpointError (./errors.ts); a refused save makes nothing and the pod runs on.
   */
  checkpoint?(ref: string, name: string, opts: CheckpointOptions): Promise<void>;
  /**
   * The directory of checkpoint `name` of pod `ref` (CheckpointError when it has none): what a
   * checkpoint image packs (docs/checkpoint-images.md). Optional, as checkpoint().
   */
  checkpointDir?(ref: string, name: string): string;
  /** Remove checkpoint `name` of pod `ref` (CheckpointError when it has none). */
  removeCheckpoint?(ref: string, name: string): Promise<void>;
  /**
   * A CRI restore's saved sandbox VM imported as checkpoint `name` of sandbox pod `ref`:
   * `unpack` writes the archive's files into the directory it is given and answers the saved
   * container's disk name; the records are rebuilt from their checked fields
   * (InvalidArgumentError), and a save this daemon cannot start is refused (CheckpointError
   * `cannot-restore`). Nothing is left on a refusal (./checkpoints/cri-restore.ts).
   */
  importCriCheckpoint?(
    ref: string,
    name: string,
    unpack: (dir: string) => Promise<{ diskName: string }>,
  ): Promise<void>;
  /**
   * The VM of running sandbox pod `ref` replaced by one started from its checkpoint `name`
   * (importCriCheckpoint's), the saved container's disks kept for pod `joiner`, created and
   * joining it, whose start then takes that container over (StartOptions.takeOver).
   */
  restoreCriSandbox?(ref: string, name: string, joiner: string): Promise<void>;
  /**
   * Start `count` new pods from checkpoint `name` of pod `ref` (./checkpoints/forks.ts), named by `names`
   * or generated; their records. Optional: fakes leave it out.
   */
  fork?(ref: string, name: string, opts: { count: number; names?: string[] }): Promise<PodRecord[]>;

  // ------------------------------------------------------------------ usage

  /** One sample of a running pod's resource usage from its guest; undefined when not running or paused. */
  sample(ref: string): Promise<GuestSample | undefined>;
  /**
   * The sockets listening in a running pod's guest (`tcp:<port>`, `unix:<path>`:
   * ./stats/guest-sockets.ts); undefined when not running, paused, or the guest cannot tell.
   * Optional: fakes leave it out.
   */
  listening?(ref: string): Promise<string[] | undefined>;
  /** Bytes in the writable layer of the pod's main container. */
  sizeRw(ref: string): Promise<number>;
  /** Close a pod's CRI log files so that the next output opens them again (log rotation by the kubelet). */
  reopenCriLog?(ref: string): void;
}

/**
 * Create-time check of a pod's bind sources, as a front end's create makes it before the pod
 * is recorded: a bind whose source is not to be made at start must exist
 * (BindSourceMissingError, an InvalidArgumentError naming the path, otherwise). Used by the creation service (src/engine).
 */
export { pinBindSources } from './mounts/bind-sources';
export { readSavedState, savedStateOf, writeSavedPodRecord } from './checkpoints/saved-state';
export type { SavedContainerState } from './checkpoints/saved-state';
/** The log option that names a CRI container's log file (the kubelet's path; src/translate/request/container-request.ts sets it for the CRI front). */
export { CRI_LOG_PATH_OPT } from './io/log-config';
