/**
 * The pod model (the seeds' "Life of Pod"): a PodSpec describes what to run; a PodRecord is a
 * pod that exists (state Created or Running, with its persistent data) until it is removed.
 *
 *   None --create--> Created (rootfs prepared on the host, no VM)
 *        --start---> Running (a VM from the factory, rootfs shared into it, processes started)
 *        --stop / exit--> Created again (VM destroyed, rootfs unmounted, writable layer kept;
 *                         Docker calls this "exited")
 *        --remove--> None (storage deleted)
 *
 * A pod may hold several containers in its spec (they share the VM); the Docker API creates
 * pods of exactly one container whose id is the pod's id.
 */
import type { VmSize } from '../vm/types';
import type { PodLogConfig } from './log-config';

/** Docker's restart policy names. */
export type RestartPolicyName = 'no' | 'always' | 'unless-stopped' | 'on-failure';

/** When a pod is started again after its main process exits. */
export interface RestartPolicy {
  name: RestartPolicyName;
  /** on-failure only: give up after this many restarts (0 = never give up). */
  maximumRetryCount: number;
}

/** One container of a pod: its image, its rootfs and its first process. */
export interface PodContainerSpec {
  /** Container id (64 hex for Docker containers), also the agent's container id. */
  id: string;
  /** Image id (`sha256:...`) whose layers make the rootfs. */
  image: string;
  /** The image as the user named it (`busybox`), for listings and events. */
  imageRef: string;
  /** argv of the init process (Entrypoint + Cmd, already merged with the image). */
  args: string[];
  /** KEY=VALUE, image env merged with the caller's. */
  env: string[];
  /** Absolute working directory ('/' when unset). */
  workingDir: string;
  /**
   * The user, unresolved: '' (root), `name`, `uid`, `name:group`, `uid:gid`... It is resolved
   * against the container's /etc/passwd and /etc/group at each start.
   */
  user: string;
  tty: boolean;
  /**
   * Initial terminal size [rows, cols] of the init with a TTY (HostConfig.ConsoleSize, which
   * the docker CLI sends with create); absent or zero: 24x80 until the client's resize.
   */
  consoleSize?: [number, number];
  /** Keep stdin open (docker -i). */
  openStdin: boolean;
  /** Close the process's stdin when the first attached client's stdin ends. */
  stdinOnce: boolean;
  /** Signal number sent by stop (default SIGTERM). */
  stopSignal: number;
  /** Seconds between the stop signal and SIGKILL (default 10). */
  stopTimeout: number;
}

/** What to run: the pod's VM and its containers. */
export interface PodSpec {
  /** Pod id; equal to the container's id for Docker's single-container pods. */
  id: string;
  hostname: string;
  domainname: string;
  /** User labels (image labels merged under the caller's). */
  labels: Record<string, string>;
  /** VM size asked for this pod. */
  vm: VmSize;
  restartPolicy: RestartPolicy;
  /** Remove the pod when it exits (docker run --rm). */
  autoRemove: boolean;
  /** Log driver and options (absent: json-file without rotation). */
  log?: PodLogConfig;
  containers: PodContainerSpec[];
}

/** Docker's container status words. */
export type PodStatusName = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

/** The observable state of a pod (Docker's State object, in our words). */
export interface PodState {
  status: PodStatusName;
  /** Guest pid of the main process while running, else 0. */
  pid: number;
  exitCode: number;
  /** Why the last start failed or the last run ended abnormally ('' when none). */
  error: string;
  /** RFC 3339 with nanoseconds; ZERO_TIME when never. */
  startedAt: string;
  finishedAt: string;
  oomKilled: boolean;
}

/** Go's zero time, as Docker prints it for "never". */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

/** A pod that exists: what is persisted per pod (see src/storage/state.ts). */
export interface PodRecord {
  id: string;
  /** Unique name without the leading '/'. */
  name: string;
  /** RFC 3339 creation time. */
  created: string;
  spec: PodSpec;
  state: PodState;
  /** Restarts done by the restart policy since the last manual start. */
  restartCount: number;
  /** Set by stop/kill; keeps `always`/`unless-stopped` from restarting it. */
  manuallyStopped: boolean;
  /** While running: the VM it runs in, and the agent process id of each container's init. */
  vmId?: string;
  initProcessIds?: Record<string, string>;
  /**
   * Data of the API that created the pod, opaque to the pod layer (the Docker API keeps
   * Config and HostConfig here, as the client sent them, merged with the image's).
   */
  frontend: unknown;
}

/** The main container of a pod (the only one for Docker pods). */
export function mainContainer(spec: PodSpec): PodContainerSpec {
  const c = spec.containers[0];
  if (!c) throw new Error(`pod ${spec.id} has no container`);
  return c;
}

/** A fresh state for a pod that was never started. */
export function createdState(): PodState {
  return { status: 'created', pid: 0, exitCode: 0, error: '', startedAt: ZERO_TIME, finishedAt: ZERO_TIME, oomKilled: false };
}
