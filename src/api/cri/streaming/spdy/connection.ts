/**
 * A SPDY/3.1 session over an upgraded socket, in the server role (the streaming server) or the
 * client role (our tests, the way client-go's spdystream dials). Streams are Node duplexes.
 *
 * What it implements is what k8s.io/apimachinery's httpstream/spdy (over moby/spdystream)
 * needs: SYN_STREAM/SYN_REPLY with compressed header blocks, DATA with FIN half-closes,
 * RST_STREAM, PING echo, GOAWAY. Flow control: we send WINDOW_UPDATEs for what we receive, but
 * like spdystream we do not hold our own sends to the peer's window (spdystream never sends
 * WINDOW_UPDATE, so a sender that waited would stall after 64 KiB).
 */
import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import {
  encodeData,
  encodeGoaway,
  encodePing,
  encodeRstStream,
  encodeSynReply,
  encodeSynStream,
  encodeWindowUpdate,
  Frame,
  FrameParser,
  GoawayStatus,
  RstStatus,
  SpdyProtocolError,
} from './framer';
import { HeaderCompressor, HeaderDecompressor, SpdyHeaders } from './headers';

/** DATA frames we send carry at most this many bytes. */
const MAX_DATA_CHUNK = 32 * 1024;
/** After GOAWAY and our end of the socket, how long the peer has to close its side. */
const CLOSE_GRACE_MS = 5000;

/** A stream of a SpdyConnection: reading gives the peer's DATA, writing sends ours, end() sends FIN. */
export class SpdyStream extends Duplex {
  /** Set once the peer has reset the stream (or we did). */
  resetStatus: number | undefined;
  private localDone = false;
  private remoteDone = false;
  private openResolve!: () => void;
  private openReject!: (e: Error) => void;
  /** Resolves when the stream may carry data: our SYN_REPLY sent (server) or the peer's received (client). */
  readonly opened: Promise<void>;

  constructor(
    private readonly conn: SpdyConnection,
    /** The stream id (odd: opened by the client). */
    readonly id: number,
    /** The headers of the SYN_STREAM that opened it. */
    readonly headers: SpdyHeaders,
  ) {
    super({ allowHalfOpen: true });
    this.opened = new Promise<void>((resolve, reject) => {
      this.openResolve = resolve;
      this.openReject = reject;
    });
    this.opened.catch(() => undefined);
  }

  /** The first value of a header (names are case-insensitive), or undefined. */
  header(name: string): string | undefined {
    return this.headers[name.toLowerCase()]?.[0];
  }

  /** Server role: accepts the stream by sending SYN_REPLY. */
  reply(headers: SpdyHeaders = {}): Promise<void> {
    this.conn.sendReply(this, headers).then(this.openResolve, this.openReject);
    return this.opened;
  }

  /** Abandons the stream both ways with RST_STREAM. */
  reset(status: number = RstStatus.CANCEL): void {
    if (this.resetStatus !== undefined) return;
    this.conn.sendRst(this.id, status);
    this.onReset(status);
  }

  /** @internal the peer replied (client role). */
  onReplied(): void {
    this.openResolve();
  }

  /** @internal DATA from the peer. */
  onData(data: Buffer, fin: boolean): void {
    if (this.remoteDone) return;
    if (data.length > 0) this.push(data);
    if (fin) this.onRemoteFin();
  }

  /** @internal the peer half-closed. */
  onRemoteFin(): void {
    if (this.remoteDone) return;
    this.remoteDone = true;
    this.push(null);
    this.maybeForget();
  }

  /** @internal the stream was reset, by either side, or the connection went away. */
  onReset(status: number): void {
    if (this.resetStatus !== undefined) return;
    this.resetStatus = status;
    this.localDone = true;
    this.openReject(new Error(`stream ${this.id} reset (status ${status})`));
    if (!this.remoteDone) {
      this.remoteDone = true;
      this.push(null);
    }
    this.emit('reset', status);
    this.conn.forget(this.id);
  }

  override _read(): void {
    // Data is pushed as frames arrive; the peer is not flow-controlled (see the module comment).
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.opened.then(
      () => {
        if (this.localDone) return cb();
        let ok = true;
        for (let off = 0; off < chunk.length; off += MAX_DATA_CHUNK) {
          ok = this.conn.writeRaw(encodeData(this.id, chunk.subarray(off, off + MAX_DATA_CHUNK), false)) && ok;
        }
        if (ok) cb();
        else this.conn.onDrain(() => cb());
      },
      () => cb(),
    );
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.opened.then(
      () => {
        if (!this.localDone) {
          this.localDone = true;
          this.conn.writeRaw(encodeData(this.id, Buffer.alloc(0), true));
          this.maybeForget();
        }
        cb();
      },
      () => cb(),
    );
  }

  private maybeForget(): void {
    if (this.localDone && this.remoteDone) this.conn.forget(this.id);
  }
}

/** Options of a SpdyConnection. */
export interface SpdyConnectionOptions {
  /** Server role: accepts odd (client-opened) streams. Client role: opens them. */
  server: boolean;
  /** Largest decompressed header block accepted from the peer (default 64 KiB). */
  maxHeaderBytes?: number;
}

/**
 * One SPDY/3.1 session over `socket`. Server role: emits `stream` (SpdyStream) for each stream the
 * client opens; the listener accepts it with reply() or refuses it with reset(). Emits `close`
 * once the socket is gone; every open stream is then reset.
 */
export class SpdyConnection extends EventEmitter {
  private readonly parser = new FrameParser();
  private readonly compressor = new HeaderCompressor();
  private readonly decompressor: HeaderDecompressor;
  private readonly streams = new Map<number, SpdyStream>();
  private readonly pendingOpen = new Map<number, SpdyStream>();
  private inChain: Promise<void> = Promise.resolve();
  private outChain: Promise<void> = Promise.resolve();
  private lastRemoteId = 0;
  private nextLocalId = 1;
  private nextPingId: number;
  private readonly pings = new Map<number, () => void>();
  private goneAway = false;
  private closed = false;

  constructor(
    private readonly socket: Duplex,
    private readonly opts: SpdyConnectionOptions,
  ) {
    super();
    this.decompressor = new HeaderDecompressor(opts.maxHeaderBytes);
    this.nextPingId = opts.server ? 2 : 1;
    socket.on('data', (chunk: Buffer) => this.onBytes(chunk));
    // The socket's end comes after frames still being handled (header blocks inflate
    // asynchronously): tear down once those are done.
    const later = (): void => {
      this.inChain = this.inChain.then(() => this.teardown());
    };
    socket.on('end', later);
    socket.on('close', later);
    socket.on('error', later);
  }

  /** Whether the session is over (socket closed). */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Client role: opens a stream with `headers` and resolves once the server replied. */
  async createStream(headers: SpdyHeaders): Promise<SpdyStream> {
    if (this.opts.server) throw new Error('a server does not open streams here');
    if (this.goneAway || this.closed) throw new Error('connection is closing');
    const id = this.nextLocalId;
    this.nextLocalId += 2;
    const stream = new SpdyStream(this, id, headers);
    this.streams.set(id, stream);
    this.pendingOpen.set(id, stream);
    this.enqueueOut(async () => {
      const block = await this.compressor.compress(headers);
      this.writeRaw(encodeSynStream(id, block));
    });
    await stream.opened;
    return stream;
  }

  /** Sends a PING and resolves when the peer echoes it. */
  ping(): Promise<void> {
    const id = this.nextPingId;
    this.nextPingId += 2;
    return new Promise<void>((resolve) => {
      this.pings.set(id, resolve);
      this.writeRaw(encodePing(id));
    });
  }

  /**
   * Ends the session: GOAWAY after every header frame already queued, then our end of the
   * socket; the socket is destroyed if the peer does not close its side in a few seconds.
   */
  close(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.enqueueOut(async () => {
        if (!this.closed) {
          this.goneAway = true;
          this.writeRaw(encodeGoaway(this.lastRemoteId, GoawayStatus.OK));
          this.socket.end();
          const timer = setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS);
          timer.unref();
        }
        resolve();
      });
    });
  }

  /** Drops the socket at once, resetting every stream. */
  destroy(): void {
    this.socket.destroy();
    this.teardown();
  }

  /** @internal SYN_REPLY for a stream the peer opened. */
  sendReply(stream: SpdyStream, headers: SpdyHeaders): Promise<void> {
    return this.enqueueOut(async () => {
      const block = await this.compressor.compress(headers);
      if (stream.resetStatus !== undefined || this.closed) throw new Error('stream gone before its reply');
      this.writeRaw(encodeSynReply(stream.id, block));
    });
  }

  /** @internal */
  sendRst(id: number, status: number): void {
    this.writeRaw(encodeRstStream(id, status));
  }

  /** @internal writes bytes unless the socket is gone; false when the caller should wait for drain. */
  writeRaw(buf: Buffer): boolean {
    if (this.closed || this.socket.destroyed || this.socket.writableEnded) return true;
    return this.socket.write(buf);
  }

  /** @internal */
  onDrain(fn: () => void): void {
    if (this.closed) return fn();
    const done = (): void => {
      this.socket.off('drain', done);
      this.off('close', done);
      fn();
    };
    this.socket.once('drain', done);
    this.once('close', done);
  }

  /** @internal a stream is finished both ways. */
  forget(id: number): void {
    this.streams.delete(id);
    this.pendingOpen.delete(id);
  }

  private enqueueOut(step: () => Promise<void>): Promise<void> {
    const run = this.outChain.then(step);
    this.outChain = run.catch(() => undefined);
    return run;
  }

  private onBytes(chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.parser.push(chunk);
    } catch (e) {
      return this.protocolError(e as Error);
    }
    for (const frame of frames) {
      this.inChain = this.inChain.then(() => this.handle(frame)).catch((e: Error) => this.protocolError(e));
    }
  }

  private protocolError(_e: Error): void {
    if (this.closed) return;
    this.writeRaw(encodeGoaway(this.lastRemoteId, GoawayStatus.PROTOCOL_ERROR));
    this.destroy();
  }

  private async handle(frame: Frame): Promise<void> {
    if (this.closed) return;
    switch (frame.kind) {
      case 'syn_stream': {
        // The header block is decompressed first, whatever becomes of the stream: the zlib
        // context spans the session.
        const headers = await this.decompressor.decompress(frame.headerBlock);
        const id = frame.streamId;
        if (!this.opts.server || id % 2 === 0 || id <= this.lastRemoteId) {
          this.sendRst(id, RstStatus.PROTOCOL_ERROR);
          return;
        }
        this.lastRemoteId = id;
        if (this.goneAway) {
          this.sendRst(id, RstStatus.REFUSED_STREAM);
          return;
        }
        const stream = new SpdyStream(this, id, headers);
        this.streams.set(id, stream);
        if (frame.fin || frame.unidirectional) stream.onRemoteFin();
        if (!this.emit('stream', stream)) stream.reset(RstStatus.REFUSED_STREAM);
        return;
      }
      case 'syn_reply': {
        await this.decompressor.decompress(frame.headerBlock);
        const stream = this.pendingOpen.get(frame.streamId);
        if (!stream) return;
        this.pendingOpen.delete(frame.streamId);
        stream.onReplied();
        if (frame.fin) stream.onRemoteFin();
        return;
      }
      case 'headers': {
        await this.decompressor.decompress(frame.headerBlock);
        if (frame.fin) this.streams.get(frame.streamId)?.onRemoteFin();
        return;
      }
      case 'data': {
        const stream = this.streams.get(frame.streamId);
        if (frame.data.length > 0) {
          this.writeRaw(encodeWindowUpdate(0, frame.data.length));
          if (stream && !frame.fin) this.writeRaw(encodeWindowUpdate(frame.streamId, frame.data.length));
        }
        if (!stream) {
          this.sendRst(frame.streamId, RstStatus.INVALID_STREAM);
          return;
        }
        stream.onData(frame.data, frame.fin);
        return;
      }
      case 'rst_stream':
        this.streams.get(frame.streamId)?.onReset(frame.status);
        return;
      case 'ping': {
        const ours = frame.id % 2 === (this.opts.server ? 0 : 1);
        if (!ours) this.writeRaw(encodePing(frame.id));
        else {
          this.pings.get(frame.id)?.();
          this.pings.delete(frame.id);
        }
        return;
      }
      case 'goaway':
        this.goneAway = true;
        return;
      default:
        // SETTINGS, WINDOW_UPDATE and unknown control frames carry nothing we act on.
        return;
    }
  }

  private teardown(): void {
    if (this.closed) return;
    this.closed = true;
    this.goneAway = true;
    for (const stream of [...this.streams.values()]) stream.onReset(RstStatus.CANCEL);
    this.streams.clear();
    this.compressor.close();
    this.decompressor.close();
    if (!this.socket.destroyed) this.socket.destroy();
    this.emit('close');
  }
}

export { SpdyProtocolError };
