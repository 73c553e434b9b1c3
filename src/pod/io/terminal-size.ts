/**
 * Resizing a process's terminal, and the one resize that needs no trip to the guest: a client's
 * first resize after the start, to the size the process was started with.
 *
 * The docker CLI (`run -it`, `start -ai`, `exec -it`) sends the terminal's size with the create
 * (HostConfig.ConsoleSize: the init starts with it) and, once the start has answered, resizes
 * to the terminal's size again; only when that resize has been answered does it listen for
 * SIGWINCH (docker/cli MonitorTtySize). A window resized in between is lost: the daemon never
 * hears of it and the container keeps the old size. Under dockerd that resize takes a
 * millisecond; sent to a guest under TCG it took tens to hundreds, and the compat test's
 * resize, made as soon as the shell answered, fell in that gap (it kept `30 90`). Answered at
 * once, the gap is dockerd's again. Nothing is lost by not sending it: the terminal already has
 * that size (the kernel would neither change anything nor send SIGWINCH).
 */
import type { Agent, AgentProcess } from '../../vm/types';

/** The size each process with a terminal was started with, until its first resize. */
const startSizes = new WeakMap<AgentProcess, string>();

/** Remember that `p` was started with a terminal of `rows` x `cols`. */
export function startedWithTerminal(p: AgentProcess, rows: number, cols: number): void {
  startSizes.set(p, `${rows}x${cols}`);
}

/**
 * Resize the terminal of process `p` through `agent`; a first resize to the start size answers
 * at once. Rejects with the agent's error (the process gone, a bad size).
 */
export async function resizeTerminal(agent: Agent, p: AgentProcess, rows: number, cols: number): Promise<void> {
  const start = startSizes.get(p);
  startSizes.delete(p);
  if (start === `${rows}x${cols}`) return;
  await agent.resizeTerminal(p.processId, rows, cols);
}
