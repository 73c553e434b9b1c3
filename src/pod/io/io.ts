/**
 * The plumbing between one guest process and the host: its output goes to the json-file log
 * (for a container's main process) and to every attached client; attached clients' input
 * goes to its stdin.
 *
 *   const io = new ProcessIo(proc, { log, stdinOnce: true });
 *   io.add(new AttachSession({ stdin: socket, stdout: true, stderr: true, sink, detachKeys }));
 *   await io.done;   // every byte the process wrote has been passed on; sessions are ended
 *
 * Output is read as fast as the slowest attached client takes it (a client whose sink says
 * "full" pauses the pump until it drains), which in turn pauses the guest (flow control), so
 * memory stays bounded. With StdinOnce, the end of the first client's input (or the client
 * going away) closes the process's stdin (Docker's `docker run -i` half-close).
 */
import type { Readable } from 'node:stream';
import type { AgentProcess } from '../../vm/types';
import type { LogWriter } from './logs';
import { DetachScanner } from './detach';

/** stdout or stderr. */
export type StreamName = 'stdout' | 'stderr';

/** Where an attached client's output goes (the API layer frames it for the wire). */
export interface OutputSink {
  /** Deliver a chunk; false asks the producer to wait for `drain()` before more. */
  write(stream: StreamName, data: Buffer): boolean;
  /** Resolves when the sink can take more (or is gone). */
  drain(): Promise<void>;
  /** No more output will come (the process ended, or the client detached). */
  end(): void;
}

/** How an attach session ended. */
export type SessionEnd = 'exited' | 'detached' | 'client-gone' | 'cancelled';

/** Options of an attach session. */
export interface AttachSessionOptions {
  /** The client's input, or null when it attached without stdin. */
  stdin: Readable | null;
  stdout: boolean;
  stderr: boolean;
  sink: OutputSink;
  /** Detach sequence; empty for none. Only applied when the process has a TTY (as dockerd). */
  detachKeys: Buffer;
}

/** One attached client. */
export class AttachSession {
  readonly ended: Promise<SessionEnd>;
  private resolveEnd!: (e: SessionEnd) => void;
  private done = false;
  private io: ProcessIo | null = null;

  constructor(readonly opts: AttachSessionOptions) {
    this.ended = new Promise((r) => (this.resolveEnd = r));
  }

  /** Whether the client wants this stream. */
  wants(stream: StreamName): boolean {
    return stream === 'stdout' ? this.opts.stdout : this.opts.stderr;
  }

  get isEnded(): boolean {
    return this.done;
  }

  /** Bound to a running process's io (called by ProcessIo.add). */
  bind(io: ProcessIo): void {
    this.io = io;
  }

  /** End the session: sink ended, removed from its process. Idempotent. */
  finish(why: SessionEnd): void {
    if (this.done) return;
    this.done = true;
    this.io?.remove(this);
    this.io = null;
    try {
      this.opts.sink.end();
    } finally {
      this.resolveEnd(why);
    }
  }
}

/** Options of a ProcessIo. */
export interface ProcessIoOptions {
  /** Where output is logged (containers' main processes); none for execs. */
  log?: LogWriter;
  /**
   * Close the process's stdin when an attached client's input ends (StdinOnce). As dockerd
   * does, only without a TTY: with a TTY, or without StdinOnce, the end of a client's input
   * ends that client's attach instead (the docker CLI half-closes on its detach keys).
   */
  stdinOnce: boolean;
  /** The process has a terminal. */
  tty: boolean;
  /**
   * End attached sessions when the output ends (default true). Exec sets false and ends them
   * itself once the exit code is recorded: the docker CLI reads it right after the stream ends.
   */
  endSessions?: boolean;
}

/** Fan-out of one process's output and fan-in of its input. */
export class ProcessIo {
  /** Resolves once both output streams ended and every session was ended. */
  readonly done: Promise<void>;
  private readonly sessions = new Set<AttachSession>();
  private finished = false;

  constructor(
    private readonly proc: AgentProcess,
    private readonly opts: ProcessIoOptions,
  ) {
    // The log counts stream offsets from where this process's output starts (./log-position.ts).
    opts.log?.startProcess(proc.outputStart);
    const pumps = [this.pump('stdout', proc.stdout)];
    if (proc.stderr) pumps.push(this.pump('stderr', proc.stderr));
    this.done = Promise.all(pumps).then(() => {
      this.finished = true;
      if (opts.endSessions !== false) this.endSessions();
    });
  }

  /** Whether the process's output has ended. */
  get isDone(): boolean {
    return this.finished;
  }

  private async pump(stream: StreamName, src: Readable): Promise<void> {
    try {
      for await (const chunk of src as AsyncIterable<Buffer>) {
        const data = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
        this.opts.log?.write(stream, data);
        for (const s of [...this.sessions]) {
          if (!s.wants(stream) || s.isEnded) continue;
          let ok = true;
          try {
            ok = s.opts.sink.write(stream, data);
          } catch {
            s.finish('client-gone');
            continue;
          }
          if (!ok) await s.opts.sink.drain();
        }
      }
    } catch {
      // The stream was destroyed (VM or agent gone): what arrived was passed on.
    } finally {
      this.opts.log?.flush(stream);
    }
  }

  /** Attach a client: it gets output from now on, and its input goes to stdin. */
  add(session: AttachSession): void {
    if (session.isEnded) return;
    if (this.finished && this.opts.endSessions !== false) {
      session.finish('exited');
      return;
    }
    this.sessions.add(session);
    session.bind(this);
    const input = session.opts.stdin;
    if (!input) return;
    const stdin = this.proc.stdin;
    // dockerd (container/stream/attach.go) applies detach keys only with a TTY: without
    // one, stdin is copied as is, so binary input containing ctrl-p ctrl-q passes unchanged.
    const scanner = new DetachScanner(this.opts.tty ? session.opts.detachKeys : Buffer.alloc(0));
    const onData = (chunk: Buffer) => {
      const r = scanner.feed(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
      if (r.data.length && stdin && !stdin.writableEnded && !stdin.destroyed) {
        if (!stdin.write(r.data)) {
          input.pause();
          stdin.once('drain', () => input.resume());
        }
      }
      if (r.detach) {
        cleanup();
        session.finish('detached');
      }
    };
    const closesStdin = this.opts.stdinOnce && !this.opts.tty;
    const onEnd = () => {
      cleanup();
      const rest = scanner.flush();
      const open = stdin && !stdin.writableEnded && !stdin.destroyed;
      if (open && rest.length) stdin.write(rest);
      // dockerd (container/stream attach): StdinOnce without TTY closes the process's stdin
      // and the client keeps its output; otherwise the client's attach ends here.
      if (closesStdin) {
        if (open) stdin.end();
      } else {
        session.finish('detached');
      }
    };
    const onGone = () => {
      // The client went away without a clean end of input.
      if (closesStdin && stdin && !stdin.writableEnded && !stdin.destroyed) stdin.end();
      cleanup();
      session.finish('client-gone');
    };
    const cleanup = () => {
      input.off('data', onData);
      input.off('end', onEnd);
      input.off('error', onGone);
      input.off('close', onClose);
    };
    const onClose = () => {
      if (!input.readableEnded) onGone();
    };
    input.on('data', onData);
    input.on('end', onEnd);
    input.on('error', onGone);
    input.on('close', onClose);
    input.resume();
  }

  /** End every attached session (the process is over). */
  endSessions(): void {
    for (const s of [...this.sessions]) s.finish('exited');
  }

  /** Remove a session (it ended or detached). */
  remove(session: AttachSession): void {
    this.sessions.delete(session);
  }

  /** Sessions currently attached. */
  get attachedCount(): number {
    return this.sessions.size;
  }
}
