/**
 * Exec instances (`docker exec`): created against a running container, started once
 * (attached or detached), inspected for Running/ExitCode/Pid, resized while running.
 * Records of finished execs are kept EXEC_RETENTION_MS (so the CLI can read the exit code
 * after the stream ends) and dropped when their container stops or is removed.
 */
import * as crypto from 'node:crypto';
import type { AgentProcess } from '../../vm/types';
import { AttachSession, ProcessIo } from './io';

/** How long a finished exec stays inspectable. */
export const EXEC_RETENTION_MS = 5 * 60 * 1000;

/** What to run (the body of `POST /containers/{id}/exec`, in our words). */
export interface ExecConfig {
  args: string[];
  /** Extra KEY=VALUE (over the container's env). */
  env: string[];
  /** '' = the container's working directory. */
  workingDir: string;
  /** '' = the container's user. */
  user: string;
  tty: boolean;
  attachStdin: boolean;
  attachStdout: boolean;
  attachStderr: boolean;
  detachKeys: string;
  privileged: boolean;
  /** The container of the pod it runs in, by id, name or unique id prefix (default: the main one). */
  container?: string;
}

/**
 * The config of an exec whose output is captured rather than attached to a client (a CRI
 * ExecSync, a probe): `args` as the container's user, in its working directory and
 * environment, stdout and stderr attached, no stdin, no TTY; in `container` of the pod (absent:
 * its main container).
 */
export function capturedExecConfig(args: string[], container?: string): ExecConfig {
  return {
    args,
    env: [],
    workingDir: '',
    user: '',
    tty: false,
    attachStdin: false,
    attachStdout: true,
    attachStderr: true,
    detachKeys: '',
    privileged: false,
    ...(container !== undefined ? { container } : {}),
  };
}

/** One exec instance. */
export interface ExecRecord {
  id: string;
  containerId: string;
  config: ExecConfig;
  running: boolean;
  /** null until it has exited. */
  exitCode: number | null;
  pid: number;
  started: boolean;
  /** Agent process id while it runs. */
  processId?: string;
  proc?: AgentProcess;
  io?: ProcessIo;
  /** Resolves when the exec has exited and its output was passed on. */
  finished?: Promise<void>;
  /** Resolves once the process has started (or failed to). */
  ready: Promise<void>;
  /** Settles `ready`. */
  markReady: () => void;
}

/** Options of starting an exec. */
export interface ExecStartOptions {
  /** The client's streams; undefined for a detached start. */
  session?: AttachSession;
}

/** The daemon's exec instances, by id. */
export class ExecStore {
  private readonly execs = new Map<string, ExecRecord>();
  private readonly timers = new Map<string, NodeJS.Timeout>();

  /** A new exec record for a container. */
  create(containerId: string, config: ExecConfig): ExecRecord {
    const id = crypto.randomBytes(32).toString('hex');
    let markReady!: () => void;
    const ready = new Promise<void>((res) => (markReady = res));
    const r: ExecRecord = {
      id,
      containerId,
      config,
      running: false,
      exitCode: null,
      pid: 0,
      started: false,
      ready,
      markReady,
    };
    this.execs.set(id, r);
    return r;
  }

  /** Look up by id (full, or a unique prefix). */
  get(id: string): ExecRecord | undefined {
    const r = this.execs.get(id);
    if (r) return r;
    if (id.length < 1) return undefined;
    const matches = [...this.execs.values()].filter((e) => e.id.startsWith(id));
    return matches.length === 1 ? matches[0] : undefined;
  }

  /** Ids of a container's execs, oldest first. */
  idsOf(containerId: string): string[] {
    return [...this.execs.values()].filter((e) => e.containerId === containerId).map((e) => e.id);
  }

  /** Records of a container. */
  of(containerId: string): ExecRecord[] {
    return [...this.execs.values()].filter((e) => e.containerId === containerId);
  }

  /** An exec ended: forget it after the retention time. */
  retire(id: string): void {
    const t = setTimeout(() => this.delete(id), EXEC_RETENTION_MS);
    t.unref();
    this.timers.set(id, t);
  }

  /** Forget one exec. */
  delete(id: string): void {
    this.execs.delete(id);
    const t = this.timers.get(id);
    if (t) clearTimeout(t);
    this.timers.delete(id);
  }

  /** Forget every exec of a container (it stopped or was removed). */
  dropContainer(containerId: string): void {
    for (const e of this.of(containerId)) if (!e.running) this.delete(e.id);
  }
}
