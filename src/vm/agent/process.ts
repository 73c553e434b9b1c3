/**
 * The host side of one guest process: its stdout/stderr Readables fed by DATA frames under
 * credit flow control, its stdin Writable sending DATA frames within the agent's credit, and
 * the `exited` promise, which resolves only after the EXIT event and both output EOFs.
 *
 * AgentClient owns these objects and feeds them frames; when the channel dies it calls
 * `fail`, which destroys the streams and rejects `exited` with that error.
 */
import { Readable, Writable } from 'node:stream';
import type { AgentProcess, ExitStatus, PeerCredentials } from '../types';
import { UnavailableError } from '../../errors';
import { InputCredit, OutputCredit } from './flow';
import { FrameType, Limits, Stream } from './protocol';
import { protocolError } from './tlv';

/** How a process object sends stream frames (to the client's stream channel). */
export type SendIo = (type: number, aux: number, payload?: Buffer) => void;

/** What waits on the stream channel towards the agent, so that stdin can wait for it to drain. */
export interface IoBacklog {
  /** Bytes written to the stream channel that the guest has not taken yet (the socket's queue). */
  queued(): number;
  /** Call `fn` once, when that queue has drained (never, if the channel fails: `fail` comes instead). */
  whenDrained(fn: () => void): void;
}

/**
 * The most stdin bytes sent on while the stream channel already holds this much for the
 * guest. The agent's credit says how much it accepts, but a guest (root in it, untrusted) can
 * grant any credit and then not read: stdin then waits for the channel to drain, so its
 * Writable stops taking the client's input and the client's socket stops being read (src/pod/io/io.ts).
 */
export const MAX_QUEUED_TO_AGENT = 4 * Limits.MAX_IO_PAYLOAD;

/** Where a process's streams start (non-zero offsets after a reattach). */
export interface StreamOffsets {
  stdoutSent: number;
  stderrSent: number;
  stdinReceived: number;
  stdinLimit: number;
}

/** Construction parameters of a ProcessChannel. */
export interface ProcessChannelOptions {
  handle: number;
  processId: string;
  containerId: string;
  terminal: boolean;
  stdin: boolean;
  /** Output credit window per stream. */
  window: number;
  send: SendIo;
  /** The stream channel's queue towards the agent (stdin waits while it holds MAX_QUEUED_TO_AGENT). */
  backlog: IoBacklog;
  /** Present for a reattached process; absent for a new one (START_PROCESS gave WINDOW). */
  offsets?: StreamOffsets;
  pid?: number;
}

/** A Readable whose producer is the agent, paced by credit. */
class OutputStream extends Readable {
  private wanting = false;
  private ended = false;

  constructor(
    private readonly credit: OutputCredit,
    private readonly sendCredit: (limit: number) => void,
  ) {
    super({ highWaterMark: Limits.MAX_IO_PAYLOAD });
  }

  override _read(): void {
    this.wanting = true;
    this.maybeGrant();
  }

  /** A DATA frame's bytes. Throws a protocol error beyond credit or after EOF. */
  deliver(chunk: Buffer): void {
    if (this.ended) throw protocolError('stream data after EOF');
    this.credit.onData(chunk.length);
    if (this.destroyed) {
      // Nobody reads any more: keep the guest going, drop the bytes.
      const l = this.credit.grantAll();
      if (l !== undefined) this.sendCredit(l);
      return;
    }
    if (!this.push(chunk)) this.wanting = false;
    this.maybeGrant();
  }

  /** The EOF frame. */
  finish(): void {
    if (this.ended) throw protocolError('duplicate EOF');
    this.ended = true;
    if (!this.destroyed) this.push(null);
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Re-announce credit so the agent attaches this stream in a new session. */
  attach(): void {
    const l = this.credit.grantAll();
    if (l !== undefined) this.sendCredit(l);
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    if (!this.ended) {
      const l = this.credit.grantAll();
      if (l !== undefined) this.sendCredit(l);
    }
    cb(err);
  }

  private maybeGrant(): void {
    if (!this.wanting || this.ended) return;
    const l = this.credit.grant();
    if (l !== undefined) this.sendCredit(l);
  }
}

interface PendingWrite {
  chunk: Buffer;
  offset: number;
  cb: (error?: Error | null) => void;
}

/**
 * The process's stdin: sends within the agent's credit, waits for CREDIT frames otherwise, and
 * for the stream channel to drain while it holds MAX_QUEUED_TO_AGENT, whatever the credit.
 */
class InputStream extends Writable {
  private pending: PendingWrite | undefined;
  private shut = false;
  private waitingForDrain = false;

  constructor(
    private readonly credit: InputCredit,
    private readonly send: SendIo,
    private readonly backlog: IoBacklog,
  ) {
    super({ highWaterMark: Limits.MAX_IO_PAYLOAD });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (error?: Error | null) => void): void {
    if (this.shut) return cb();
    this.pending = { chunk, offset: 0, cb };
    this.pump();
  }

  override _final(cb: (error?: Error | null) => void): void {
    if (!this.shut) this.send(FrameType.EOF, Stream.STDIN);
    this.shut = true;
    cb();
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    const p = this.pending;
    this.pending = undefined;
    if (!this.shut && !err) this.send(FrameType.EOF, Stream.STDIN);
    this.shut = true;
    p?.cb(err ?? undefined);
    cb(err);
  }

  /** A CREDIT frame for stdin. */
  onCredit(limit: number): void {
    if (this.credit.onCredit(limit)) this.pump();
  }

  /** The process exited: nothing more will be read; complete pending writes, drop the rest. */
  discard(): void {
    this.shut = true;
    const p = this.pending;
    this.pending = undefined;
    p?.cb();
  }

  /** The channel died. */
  fail(err: Error): void {
    const p = this.pending;
    this.pending = undefined;
    this.shut = true;
    p?.cb(err);
  }

  private pump(): void {
    const p = this.pending;
    if (!p) return;
    while (p.offset < p.chunk.length) {
      if (this.backlog.queued() >= MAX_QUEUED_TO_AGENT) return this.waitForDrain();
      const n = Math.min(this.credit.available(), Limits.MAX_IO_PAYLOAD, p.chunk.length - p.offset);
      if (n <= 0) return; // wait for credit
      this.send(FrameType.DATA, Stream.STDIN, p.chunk.subarray(p.offset, p.offset + n));
      this.credit.onSent(n);
      p.offset += n;
    }
    this.pending = undefined;
    p.cb();
  }

  private waitForDrain(): void {
    if (this.waitingForDrain) return;
    this.waitingForDrain = true;
    this.backlog.whenDrained(() => {
      this.waitingForDrain = false;
      if (!this.shut) this.pump();
    });
  }
}

/** A process in the guest, as the client sees it. */
export class ProcessChannel implements AgentProcess {
  readonly handle: number;
  readonly processId: string;
  readonly containerId: string;
  readonly terminal: boolean;
  readonly stdout: Readable;
  readonly stderr: Readable | null;
  readonly stdin: Writable | null;
  readonly exited: Promise<ExitStatus>;
  readonly outputStart: { stdout: number; stderr: number };
  /** A connection's (SOCKET_ACCEPT): who connected, set by the client from the ACK. */
  peer?: PeerCredentials;
  private readonly out: OutputStream;
  private readonly err: OutputStream | null;
  private readonly input: InputStream | null;
  /** Listed by LIST_PROCESSES after a reattach, not started by this session. */
  private readonly reattached: boolean;
  private guestPid = 0;
  private status: ExitStatus | undefined;
  private settled = false;
  private resolveExit!: (s: ExitStatus) => void;
  private rejectExit!: (e: Error) => void;

  constructor(o: ProcessChannelOptions) {
    this.reattached = o.offsets !== undefined;
    this.handle = o.handle;
    this.processId = o.processId;
    this.containerId = o.containerId;
    this.terminal = o.terminal;
    this.guestPid = o.pid ?? 0;
    const off = o.offsets;
    this.outputStart = { stdout: off?.stdoutSent ?? 0, stderr: off?.stderrSent ?? 0 };
    const credit = (sent: number | undefined) =>
      off ? new OutputCredit(o.window, sent ?? 0, sent ?? 0) : new OutputCredit(o.window, 0, o.window);
    this.out = new OutputStream(credit(off?.stdoutSent), (l) => o.send(FrameType.CREDIT, Stream.STDOUT, u64(l)));
    this.err = o.terminal
      ? null
      : new OutputStream(credit(off?.stderrSent), (l) => o.send(FrameType.CREDIT, Stream.STDERR, u64(l)));
    this.input = o.stdin
      ? new InputStream(
          off ? new InputCredit(off.stdinReceived, off.stdinLimit) : new InputCredit(0, Limits.STDIN_WINDOW),
          o.send,
          o.backlog,
        )
      : null;
    this.stdout = this.out;
    this.stderr = this.err;
    this.stdin = this.input;
    this.exited = new Promise<ExitStatus>((resolve, reject) => {
      this.resolveExit = resolve;
      this.rejectExit = reject;
    });
    // Callers may never look at `exited`; a rejection must not become an unhandled one.
    this.exited.catch(() => undefined);
    for (const s of [this.out, this.err, this.input]) s?.on('error', () => undefined);
    for (const s of [this.out, this.err]) s?.on('end', () => this.maybeSettle());
  }

  /** Guest pid (known once START_PROCESS was acknowledged). */
  get pid(): number {
    return this.guestPid;
  }

  /** Set by the client from the START_PROCESS ACK. */
  setPid(pid: number): void {
    this.guestPid = pid;
  }

  /** After a reattach: tell the agent this session wants the output (attaches the process). */
  attach(): void {
    this.out.attach();
    this.err?.attach();
  }

  /** A DATA frame for stdout or stderr. */
  onData(stream: number, chunk: Buffer): void {
    this.outputStream(stream).deliver(chunk);
  }

  /** An EOF frame for stdout or stderr. */
  onEof(stream: number): void {
    this.outputStream(stream).finish();
    this.maybeSettle();
  }

  /**
   * A CREDIT frame for stdin. A reattached process that LIST_PROCESSES showed with its stdin
   * already ended (an earlier daemon sent its EOF while data was still pending) may still get
   * one, from an agent that sends it as that data drains: nothing to write, so it is dropped.
   * A process that never had stdin getting one is a protocol violation.
   */
  onStdinCredit(limit: number): void {
    if (this.input) return this.input.onCredit(limit);
    if (!this.reattached) throw protocolError(`stdin credit for process ${this.processId} without stdin`);
  }

  /** The EXIT event. */
  onExit(status: ExitStatus): void {
    if (this.status) throw protocolError(`duplicate exit event for ${this.processId}`);
    this.status = status;
    this.input?.discard();
    this.maybeSettle();
  }

  /** True once the exit status and both EOFs arrived (the client then forgets it). */
  get done(): boolean {
    return this.status !== undefined && this.out.isEnded && (this.err?.isEnded ?? true);
  }

  /** The channel died: reject `exited`, destroy the streams with the error. */
  fail(err: UnavailableError): void {
    if (this.settled) return;
    this.settled = true;
    this.input?.fail(err);
    for (const s of [this.out, this.err, this.input]) if (s && !s.destroyed) s.destroy(err);
    this.rejectExit(err);
  }

  private outputStream(stream: number): OutputStream {
    if (stream === Stream.STDOUT) return this.out;
    if (stream === Stream.STDERR && this.err) return this.err;
    throw protocolError(`output on stream ${stream} of process ${this.processId}`);
  }

  private maybeSettle(): void {
    if (this.settled || !this.done || !this.status) return;
    this.settled = true;
    this.resolveExit(this.status);
  }
}

function u64(n: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64LE(BigInt(n), 0);
  return b;
}
