/**
 * A container's start settling, for the reads a client makes right after it: under runc a
 * short command has printed, written its files or exited by the time `docker start` (or `run
 * -d`) has answered and the client's next request arrives; in a VM under emulation its first
 * instructions are still being translated then (docs/limitations.md, "A process's first
 * output"). So `docker logs` and an `exec` that come within START_SETTLE_WINDOW_MS of the
 * container's start first wait, for at most START_SETTLE_BOUND_MS, until none of its
 * processes is running or waiting on I/O (each asleep or stopped: the start's burst is over)
 * or its exit has been recorded (its output all in its log). A read later than that, or one of a program that keeps computing,
 * is not held back beyond the bound.
 */
import { findContainer, mainContainer, type ContainerRecord } from '../types';
import type { Entry } from '../records/registry';
import { parseRfc3339 } from '../../util/time';

/** How long after a container's start a read waits for it to settle. */
export const START_SETTLE_WINDOW_MS = 2000;
/** The longest a read waits. */
export const START_SETTLE_BOUND_MS = 500;
/** How often the guest's process table is read meanwhile. */
const POLL_MS = 15;

/** Task states of a process still at work: running, or in an uninterruptible wait (a page-in). */
const BUSY_STATES = new Set(['R', 'D']);

/**
 * Resolve once container `c` of pod `e` has settled after its start (see the module comment),
 * at once when it started longer ago than the window, is not running, or its guest cannot
 * list its processes. Never rejects.
 */
export async function startSettled(e: Entry, c: ContainerRecord): Promise<void> {
  const started = parseRfc3339(c.state.startedAt);
  if (!started) return;
  const deadline = Math.min(started + START_SETTLE_WINDOW_MS, Date.now() + START_SETTLE_BOUND_MS);
  while (Date.now() < deadline) {
    const run = e.run;
    if (!run || c.state.status !== 'running' || !run.inits.has(c.spec.id)) return;
    let settled: boolean;
    try {
      // None left: it has exited, and its output is on its way to the log, which the exit's
      // record waits for (../lifecycle/monitor.ts): waited for here as the status.
      const { tasks } = await run.vm.agent.processTable(c.spec.id);
      settled = tasks.length > 0 && !tasks.some((t) => BUSY_STATES.has(t.state));
    } catch {
      return;
    }
    if (settled) return;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** startSettled for container `containerId` of pod `e` (its main one when undefined; none for an unknown one). */
export async function podStartSettled(e: Entry, containerId?: string): Promise<void> {
  const c = containerId === undefined ? mainContainer(e.record) : findContainer(e.record, containerId);
  if (c) await startSettled(e, c);
}
