/**
 * A pod's streams for clients: attach (replay of the log, then the live streams), logs
 * (optionally following the live output) and the terminal size of its main process.
 */
import type { PodContext } from '../context';
import { AttachSession, type AttachSessionOptions } from './io';
import { entryMatches, readLogSnapshot, readLogSync, snapshotLog, type LogEntry, type LogReadOptions } from './logs';
import type { Entry } from '../records/registry';
import { NoSuchContainerInPodError, PodNotRunningError } from '../errors';
import { findContainer, mainContainer } from '../types';
import { resizeTerminal } from './terminal-size';

/** Options of attach. */
export interface AttachOptions extends AttachSessionOptions {
  /** Replay the log first. */
  logs: boolean;
  /** Stay attached to the live streams. */
  stream: boolean;
}

/** Options of logs. */
export interface LogsOptions extends LogReadOptions {
  follow: boolean;
  /** A container of the pod by id, name or unique id prefix (default: its main container). */
  container?: string;
}

/**
 * Attach a client. With `logs`, the log so far is replayed first; with `stream`, the session
 * follows the live output (waiting for the next start when the pod is not running) until
 * the process exits or the client detaches. Returns the session (its `ended` says how).
 */
export function attach(ctx: PodContext, e: Entry, opts: AttachOptions): AttachSession {
  // Sessions attach to the main container's init: the one process whose streams a pod of the
  // Docker front end has (the log is that process's output too).
  const main = mainContainer(e.record).spec;
  const session = new AttachSession({ ...opts, stdin: main.openStdin ? opts.stdin : null });
  if (!main.openStdin && opts.stdin) opts.stdin.resume(); // Docker ignores input then.
  if (opts.logs) {
    const entries = readLogSync(ctx.logFile(e.record.id));
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
  ctx.emit(e.record, 'attach');
  if (e.run?.io && !e.run.io.isDone) {
    e.run.io.add(session);
  } else {
    session.opts.stdin?.pause();
    e.pending.add(session);
    void session.ended.then(() => e.pending.delete(session));
  }
  return session;
}

/** Log entries (optionally following the live output until the run ends). */
export async function* logs(ctx: PodContext, e: Entry, o: LogsOptions): AsyncGenerator<LogEntry> {
  const c = o.container === undefined ? mainContainer(e.record) : findContainer(e.record, o.container);
  if (!c) throw new NoSuchContainerInPodError(e.record.id, o.container as string);
  const file = ctx.containerLogFile(e.record, c.spec.id);
  const writer = ctx.containerLog(e, c.spec.id);
  // An init container's log is complete once the pod runs: nothing to follow.
  const follow = o.follow && !!e.run && !c.spec.init;
  const queue: LogEntry[] = [];
  let wake: (() => void) | null = null;
  let ended = false;
  let unsubscribe = () => {};
  const onEnd = () => {
    ended = true;
    wake?.();
  };
  if (follow) {
    unsubscribe = writer.subscribe((le) => {
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
export async function resize(ctx: PodContext, e: Entry, rows: number, cols: number): Promise<void> {
  const main = mainContainer(e.record);
  // In a pod of several, the main container may be between its exit and its restart in place.
  if (!e.run?.init || (e.run.inPlace && main.process === undefined)) throw new PodNotRunningError(e.record.id);
  if (!main.spec.tty) return;
  await resizeTerminal(e.run.vm.agent, e.run.init, rows, cols);
  ctx.emit(e.record, 'resize', { height: String(rows), width: String(cols) });
}
