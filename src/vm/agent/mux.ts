/**
 * AgentMux: the two channels under an AgentClient, and everything that rides on them but is
 * not a particular request.
 *
 * It writes request frames and matches the ACK or ERROR that answers each one, routes stream
 * frames to the ProcessChannel registered under their handle, and delivers EXIT events. It
 * owns the client's one failure path: any malformed frame, any frame for an unknown request or
 * process, or a closed socket fails the mux, which rejects every pending request and every
 * process's `exited` with the same UnavailableError and destroys both sockets.
 */
import type * as net from 'node:net';
import type { ExitStatus } from '../types';
import type { ListedProcess } from './resume';
import { InvalidArgumentError, UnavailableError } from '../../errors';
import { logger } from '../../util/log';
import { encodeHeader, Frame, FrameDecoder } from './codec';
import { ProcessChannel, type IoBacklog, type ProcessChannelOptions } from './process';
import { agentError } from './requests';
import { FrameType, Limits, Stream, Tag } from './protocol';
import { protocolError, TlvReader, TlvWriter } from './tlv';

const log = logger('agent');

interface Pending {
  op: number;
  resolve: (r: TlvReader) => void;
  reject: (e: Error) => void;
}

/** One channel's socket and parser. */
export interface Channel {
  name: string;
  socket: net.Socket;
  decoder: FrameDecoder;
}

/** What a new process needs besides what the mux fills in (handle, window, send, backlog). */
export type NewProcess = Omit<ProcessChannelOptions, 'handle' | 'window' | 'send' | 'backlog'>;

/** Requests, answers, process routing and failure over the control and stream channels. */
export class AgentMux {
  private readonly pending = new Map<number, Pending>();
  private readonly processes = new Map<number, ProcessChannel>();
  private nextRequest = 1;
  private nextHandle = 1;
  private closedBy: UnavailableError | undefined;
  /** Processes' stdin waiting for the stream channel's queue to drain. */
  private drainWaiters: Array<() => void> = [];
  /** The stream channel's queue towards the agent, as every process's stdin sees it. */
  private readonly backlog: IoBacklog = {
    queued: () => this.io.socket.writableLength,
    whenDrained: (fn) => {
      this.drainWaiters.push(fn);
    },
  };

  /**
   * Both channels are synced; `window` is the output credit window per stream; `syncNonce`
   * the nonce they were synced with (connect.ts), whose SYNC_REPLY may come again: a SYNC sent
   * again while the first answer was on its way is answered again by an agent built before
   * the agent ignored repeats (a VM an older podvisor started). Such a repeat is skipped.
   */
  constructor(
    private readonly ctl: Channel,
    private readonly io: Channel,
    readonly window: number,
    private readonly syncNonce?: Buffer,
  ) {}

  /** True once the channels are closed (for whatever reason). */
  get closed(): boolean {
    return this.closedBy !== undefined;
  }

  /** Start reading; `ctlRest` / `ioRest` are the bytes that followed each channel's SYNC. */
  start(ctlRest: Buffer, ioRest: Buffer): void {
    for (const ch of [this.ctl, this.io]) {
      ch.socket.on('data', (chunk: Buffer) => this.onBytes(ch, chunk));
      ch.socket.on('error', (e) => this.fail(new UnavailableError(`agent channel closed (${ch.name}: ${e.message})`)));
      ch.socket.on('close', () => this.fail(new UnavailableError(`agent channel closed (${ch.name})`)));
      ch.socket.resume(); // paused by syncChannel so no byte was lost in between
    }
    this.io.socket.on('drain', () => {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const fn of waiters) fn();
    });
    if (ctlRest.length) this.onBytes(this.ctl, ctlRest);
    if (ioRest.length) this.onBytes(this.io, ioRest);
  }

  /** Send one request; resolves with its ACK's payload, rejects with its ERROR or a failure. */
  request(op: number, w: TlvWriter): Promise<TlvReader> {
    return new Promise<TlvReader>((resolve, reject) => {
      if (this.closedBy) return reject(this.closedBy);
      const payload = w.toBuffer();
      if (payload.length > Limits.MAX_CTL_PAYLOAD)
        return reject(new InvalidArgumentError('request too large for the agent'));
      const id = this.nextRequest;
      this.nextRequest = this.nextRequest >= 0xffffffff ? 1 : this.nextRequest + 1;
      this.pending.set(id, { op, resolve, reject });
      this.ctl.socket.write(encodeHeader(op, 0, id, payload.length));
      if (payload.length) this.ctl.socket.write(payload);
    });
  }

  /** Throws the failure if the channels are closed. */
  assertOpen(): void {
    if (this.closedBy) throw this.closedBy;
  }

  /** True if a live process already uses this process id. */
  hasProcessId(processId: string): boolean {
    for (const p of this.processes.values()) if (p.processId === processId) return true;
    return false;
  }

  /**
   * A new process under a fresh handle, registered at once: its output may arrive before the
   * START_PROCESS answer. `drop` it if the request fails.
   */
  newProcess(o: NewProcess): ProcessChannel {
    this.assertOpen();
    const handle = this.allocHandle();
    const proc = new ProcessChannel({
      ...o,
      handle,
      window: this.window,
      send: this.sender(handle),
      backlog: this.backlog,
    });
    this.processes.set(handle, proc);
    return proc;
  }

  /** Forget a process registered by newProcess whose start failed. */
  drop(proc: ProcessChannel): void {
    if (this.processes.get(proc.handle) === proc) this.processes.delete(proc.handle);
  }

  /** The live process under a handle, if any. */
  process(handle: number): ProcessChannel | undefined {
    return this.processes.get(handle);
  }

  /**
   * Register a process a LIST_PROCESSES answer named (one started by an earlier client). It is
   * not attached yet: its output flows once the caller calls attach().
   */
  adopt(l: ListedProcess): ProcessChannel {
    const proc = new ProcessChannel({ ...l, window: this.window, send: this.sender(l.handle), backlog: this.backlog });
    this.processes.set(l.handle, proc);
    this.nextHandle = Math.max(this.nextHandle, l.handle + 1);
    return proc;
  }

  /** Run a decoder over an answer; a malformed answer is a protocol violation. */
  decode<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof UnavailableError) throw this.violation(e);
      throw e;
    }
  }

  /** A protocol violation: log it and close like a dead channel. Returns the error. */
  violation(err: UnavailableError): UnavailableError {
    if (!this.closedBy) log.error(`${err.message}; closing the agent channels`);
    this.fail(err);
    return err;
  }

  /** Close both channels; every pending request and live process fails with `err`. */
  fail(err: UnavailableError): void {
    if (this.closedBy) return;
    this.closedBy = err;
    this.ctl.socket.destroy();
    this.io.socket.destroy();
    this.drainWaiters = [];
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(err);
    const procs = [...this.processes.values()];
    this.processes.clear();
    for (const p of procs) p.fail(err);
  }

  private sender(handle: number): ProcessChannelOptions['send'] {
    return (type, aux, payload) => {
      if (this.closedBy) return;
      this.io.socket.write(encodeHeader(type, aux, handle, payload?.length ?? 0));
      if (payload?.length) this.io.socket.write(payload);
    };
  }

  private onBytes(ch: Channel, chunk: Buffer): void {
    if (this.closedBy) return;
    try {
      for (const f of ch.decoder.push(chunk)) {
        if (this.isRepeatedSyncReply(f)) continue;
        if (ch === this.ctl) this.onCtlFrame(f);
        else this.onIoFrame(f);
        if (this.closedBy) return;
      }
    } catch (e) {
      const err = e instanceof UnavailableError ? e : protocolError((e as Error).message);
      this.violation(err);
    }
  }

  private isRepeatedSyncReply(f: Frame): boolean {
    return (
      f.type === FrameType.SYNC_REPLY &&
      f.aux === 0 &&
      f.id === 0 &&
      this.syncNonce !== undefined &&
      f.payload.equals(this.syncNonce)
    );
  }

  private onCtlFrame(f: Frame): void {
    if (f.aux !== 0) throw protocolError(`control frame with aux ${f.aux}`);
    if (f.type === FrameType.EXIT) return this.onExit(f);
    if (f.type !== FrameType.ACK && f.type !== FrameType.ERROR)
      throw protocolError(`unexpected control frame ${f.type}`);
    const p = this.pending.get(f.id);
    if (!p) throw protocolError(`answer to unknown request ${f.id}`);
    this.pending.delete(f.id);
    let answer: TlvReader | Error;
    try {
      const r = TlvReader.parse(f.payload);
      answer = f.type === FrameType.ACK ? r : agentError(r);
    } catch (e) {
      p.reject(e as Error); // this request fails with the protocol error; fail() handles the rest
      throw e;
    }
    if (answer instanceof TlvReader) p.resolve(answer);
    else p.reject(answer);
  }

  private onExit(f: Frame): void {
    const r = TlvReader.parse(f.payload);
    const handle = r.needU32(Tag.HANDLE);
    const proc = this.processes.get(handle);
    if (!proc) throw protocolError(`exit event for unknown process handle ${handle}`);
    const code = r.needU32(Tag.EXIT_CODE);
    const signal = r.u32(Tag.SIGNAL);
    if (code > 255 || (signal !== undefined && (signal < 1 || signal > 64)))
      throw protocolError('exit status out of range');
    const status: ExitStatus = signal ? { exitCode: code, signal } : { exitCode: code };
    if (r.u32(Tag.OOM_KILLED) === 1) status.oomKilled = true;
    proc.onExit(status);
    this.forgetIfDone(proc);
  }

  private onIoFrame(f: Frame): void {
    const proc = this.processes.get(f.id);
    if (!proc) throw protocolError(`stream frame for unknown process handle ${f.id}`);
    switch (f.type) {
      case FrameType.DATA:
        if (f.payload.length === 0) throw protocolError('empty DATA frame');
        proc.onData(f.aux, f.payload);
        return;
      case FrameType.EOF:
        if (f.payload.length !== 0) throw protocolError('EOF frame with a payload');
        proc.onEof(f.aux);
        this.forgetIfDone(proc);
        return;
      case FrameType.CREDIT: {
        if (f.aux !== Stream.STDIN || f.payload.length !== 8) throw protocolError('malformed CREDIT frame');
        const limit = f.payload.readBigUInt64LE(0);
        if (limit > BigInt(Number.MAX_SAFE_INTEGER)) throw protocolError('credit out of range');
        proc.onStdinCredit(Number(limit));
        return;
      }
      default:
        throw protocolError(`unexpected stream frame ${f.type}`);
    }
  }

  private forgetIfDone(proc: ProcessChannel): void {
    if (proc.done) this.drop(proc);
  }

  private allocHandle(): number {
    for (;;) {
      const h = this.nextHandle;
      this.nextHandle = this.nextHandle >= 0xffffffff ? 1 : this.nextHandle + 1;
      if (!this.processes.has(h)) return h;
    }
  }
}
