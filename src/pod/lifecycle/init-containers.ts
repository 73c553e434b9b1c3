/**
 * Init containers (Kubernetes semantics): each runs to completion, in spec order, before the
 * pod's app containers start; its output goes to its own log; a non-zero exit (or a failed
 * start) ends the pod's start with InitContainerFailedError, which names the container, its
 * exit code and the last lines it wrote. A finished init container is destroyed in the guest
 * at once (its rootfs stays mounted until the run's teardown, as every container's does).
 */
import { ConflictError } from '../../errors';
import { nowRfc3339 } from '../../util/time';
import type { AgentProcess } from '../../vm/types';
import type { LogWriter } from '../io/logs';
import type { PodContainerSpec } from '../types';

/** How one init container's run ended. */
export interface InitRun {
  exitCode: number;
  startedAt: string;
  finishedAt: string;
  /** Why it could not start ('' when it ran). */
  error: string;
}

/** Bytes of an init container's last output kept for the error. */
const TAIL_BYTES = 2048;

/** An init container failed: the pod's start fails with its exit code and last output. */
export class InitContainerFailedError extends ConflictError {
  constructor(
    readonly container: PodContainerSpec,
    readonly exitCode: number,
    /** Its last output (stdout and stderr, interleaved as read), at most 2 KiB. */
    readonly output: string,
    /** Every init container that ran in this start, this one included, by id. */
    readonly runs: Map<string, InitRun>,
  ) {
    const name = container.name ?? container.id.slice(0, 12);
    const tail = output.trim() ? `: ${output.trim().split('\n').slice(-5).join(' / ')}` : '';
    super(`init container ${name} failed with exit code ${exitCode}${tail}`);
  }
}

/** What running the init containers needs. */
export interface InitDeps {
  /** Create the container in the guest and start its init (mounts done). */
  start(c: PodContainerSpec): Promise<AgentProcess>;
  /** Destroy the finished container in the guest. */
  destroy(c: PodContainerSpec): Promise<void>;
  /** Its log, if it is logged. */
  logFor?(containerId: string): LogWriter | undefined;
}

/** Read a process's output to its end into `log`, keeping the last TAIL_BYTES. */
async function drain(p: AgentProcess, log: LogWriter | undefined): Promise<string> {
  let tail = Buffer.alloc(0);
  log?.startProcess(p.outputStart);
  const pump = async (stream: 'stdout' | 'stderr', src: NodeJS.ReadableStream) => {
    for await (const chunk of src as AsyncIterable<Buffer>) {
      const data = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
      log?.write(stream, data);
      tail = Buffer.concat([tail, data]);
      if (tail.length > TAIL_BYTES) tail = tail.subarray(tail.length - TAIL_BYTES);
    }
    log?.flush(stream);
  };
  await Promise.all([pump('stdout', p.stdout), ...(p.stderr ? [pump('stderr', p.stderr)] : [])]);
  return tail.toString('utf8');
}

/**
 * Run the init containers of `containers` in order. Resolves with each one's run; rejects with
 * InitContainerFailedError at the first that fails (the later ones never run).
 */
export async function runInitContainers(deps: InitDeps, containers: PodContainerSpec[]): Promise<Map<string, InitRun>> {
  const runs = new Map<string, InitRun>();
  for (const c of containers) {
    if (!c.init) continue;
    const startedAt = nowRfc3339();
    let p: AgentProcess;
    try {
      p = await deps.start(c);
    } catch (err) {
      const msg = (err as Error).message;
      runs.set(c.id, { exitCode: 128, startedAt, finishedAt: nowRfc3339(), error: msg });
      await deps.destroy(c).catch(() => undefined);
      throw new InitContainerFailedError(c, 128, msg, runs);
    }
    const [output, status] = await Promise.all([drain(p, deps.logFor?.(c.id)), p.exited]);
    runs.set(c.id, { exitCode: status.exitCode, startedAt, finishedAt: nowRfc3339(), error: '' });
    await deps.destroy(c).catch(() => undefined);
    if (status.exitCode !== 0) throw new InitContainerFailedError(c, status.exitCode, output, runs);
  }
  return runs;
}
