/**
 * The pieces bench/fs.ts and its database rows (bench/fs-db.ts) share: the docker CLI call, a
 * timed step, and a group of steps with the containers it needs on each daemon.
 */
import { execFileSync } from 'node:child_process';

/** Run the docker CLI against one daemon (classic builder) and return its trimmed stdout. */
export const docker = (env: NodeJS.ProcessEnv, args: string[], timeout = 900000): string =>
  execFileSync('docker', args, {
    env: { ...env, DOCKER_BUILDKIT: '0' },
    encoding: 'utf8',
    timeout,
    maxBuffer: 64 << 20,
  }).trim();

/** Whether a client is one of the podvisor daemons (the guest tmpfs rows run there only). */
export const isPodvisor = (name: string): boolean => name.startsWith('podvisor');

/** The block-mode podvisor's client name (bench/fs.ts): the only one that runs `--storage-opt image=disk`. */
export const BLOCK_PODVISOR = 'podvisor-blk';

/** Whether step `st` runs on client `who`. */
export const runsOn = (st: Pick<Step, 'podvisorOnly' | 'blockOnly'>, who: string): boolean =>
  st.blockOnly ? who === BLOCK_PODVISOR : !st.podvisorOnly || isPodvisor(who);

/** One row of the table: a name, the daemons it runs on, and what it runs. */
export interface Step {
  name: string;
  podvisorOnly?: boolean;
  /** Only on the block-mode podvisor (an `--storage-opt image=disk` container's rows). */
  blockOnly?: boolean;
  /**
   * 's' (the default): seconds, lower is better. 'tps': transactions per second, higher is
   * better; its ratios are taken the other way round, so that a ratio above 1 always means
   * slower than the reference.
   */
  unit?: 's' | 'tps';
  /** The name of the guest tmpfs row this row is compared with (its floor), if any. */
  floor?: string;
  /**
   * The work. Its figure is what it returns (a time or a rate measured inside the container),
   * or, when it returns nothing, the docker CLI's wall time of the call.
   */
  run(env: NodeJS.ProcessEnv): number | void;
  /** Untimed work after the step (removing what it made). */
  after?(env: NodeJS.ProcessEnv): void;
}

/** Steps that need containers of their own: started on each daemon before them, removed after. */
export interface Group {
  name: string;
  /** Start the group's containers on one daemon (`who`: the client's name). */
  start(who: string, env: NodeJS.ProcessEnv): void;
  /** Wait until what `start` started serves (called after `start` on every daemon, so they start together). */
  ready?(who: string, env: NodeJS.ProcessEnv): Promise<void>;
  /** The names of the containers `start` starts, removed (with their volumes) after the group. */
  containers: string[];
  steps: Step[];
}

/** Remove a group's containers and their anonymous volumes on one daemon; what is gone already is fine. */
export function removeContainers(env: NodeJS.ProcessEnv, names: string[]): void {
  for (const name of names) {
    try {
      execFileSync('docker', ['rm', '-f', '-v', name], { env, stdio: 'ignore', timeout: 300000 });
    } catch {
      // Not there (a group not reached), or the daemon is gone: the caller's cleanup says what matters.
    }
  }
}
