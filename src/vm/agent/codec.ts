/**
 * Frames of the agent protocol (guest/include/podvisor_agent.h):
 * `| u32 length | u16 type | u16 aux | u32 id | payload |`, little-endian.
 *
 * FrameDecoder turns a byte stream from the guest into frames. It never holds more than one
 * maximal frame plus one read chunk, and rejects (throws UnavailableError) a length over the
 * channel's limit or a type the agent may not send on that channel, so a broken or hostile
 * guest cannot make the host buffer without bound. SyncScanner finds the SYNC_REPLY that
 * starts a session and drops whatever came before it.
 */
import { FrameType, Limits } from './protocol';
import { protocolError } from './tlv';

/** One frame. `payload` may share memory with the chunk it was read from. */
export interface Frame {
  type: number;
  aux: number;
  id: number;
  payload: Buffer;
}

/** Encode one frame. */
export function encodeFrame(type: number, aux: number, id: number, payload?: Buffer): Buffer {
  const len = payload?.length ?? 0;
  const out = Buffer.allocUnsafe(Limits.HEADER_SIZE + len);
  out.writeUInt32LE(len, 0);
  out.writeUInt16LE(type, 4);
  out.writeUInt16LE(aux, 6);
  out.writeUInt32LE(id >>> 0, 8);
  if (payload) payload.copy(out, Limits.HEADER_SIZE);
  return out;
}

/** Encode a frame's header only (the payload is written separately, without a copy). */
export function encodeHeader(type: number, aux: number, id: number, length: number): Buffer {
  const h = Buffer.allocUnsafe(Limits.HEADER_SIZE);
  h.writeUInt32LE(length, 0);
  h.writeUInt16LE(type, 4);
  h.writeUInt16LE(aux, 6);
  h.writeUInt32LE(id >>> 0, 8);
  return h;
}

/** What a channel accepts from the guest. */
export interface DecoderOptions {
  /** For error messages: "control" or "stream". */
  channel: string;
  /** Largest payload (PV_MAX_CTL_PAYLOAD or PV_MAX_IO_PAYLOAD). */
  maxPayload: number;
  /** Frame types the agent may send on this channel. */
  allowedType: (type: number) => boolean;
}

/** Incremental, bounded frame parser for one channel. */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Header of the frame being assembled, once its 12 bytes are in. */
  private header: { type: number; aux: number; id: number; len: number } | undefined;

  constructor(private readonly opts: DecoderOptions) {}

  /** Bytes held for an incomplete frame. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** Feed bytes; returns the frames they complete. Throws on a malformed frame. */
  push(chunk: Buffer): Frame[] {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const frames: Frame[] = [];
    for (;;) {
      if (!this.header) {
        if (this.buffered < Limits.HEADER_SIZE) break;
        const h = this.take(Limits.HEADER_SIZE);
        const len = h.readUInt32LE(0);
        const type = h.readUInt16LE(4);
        if (len > this.opts.maxPayload) {
          throw protocolError(
            `${this.opts.channel} frame of ${len} bytes exceeds the limit of ${this.opts.maxPayload}`,
          );
        }
        if (!this.opts.allowedType(type))
          throw protocolError(`unexpected frame type ${type} on the ${this.opts.channel} channel`);
        this.header = { type, aux: h.readUInt16LE(6), id: h.readUInt32LE(8), len };
      }
      if (this.buffered < this.header.len) break;
      const { type, aux, id, len } = this.header;
      this.header = undefined;
      frames.push({ type, aux, id, payload: len === 0 ? Buffer.alloc(0) : this.take(len) });
    }
    return frames;
  }

  /** Remove n buffered bytes from the front (n <= buffered); no copy when one chunk has them. */
  private take(n: number): Buffer {
    const first = this.chunks[0];
    if (first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0];
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.buffered -= n;
    return out;
  }
}

/**
 * Finds `SYNC_REPLY(nonce)` in the bytes that follow the host's SYNC. Keeps at most one
 * pattern's worth of bytes while searching.
 */
export class SyncScanner {
  private readonly pattern: Buffer;
  private tail: Buffer = Buffer.alloc(0);

  constructor(nonce: Buffer) {
    if (nonce.length !== Limits.NONCE_SIZE) throw new Error('nonce must be 16 bytes');
    this.pattern = encodeFrame(FrameType.SYNC_REPLY, 0, 0, nonce);
  }

  /** Feed bytes; returns what follows the SYNC_REPLY once it is found, else undefined. */
  push(chunk: Buffer): Buffer | undefined {
    const hay = this.tail.length ? Buffer.concat([this.tail, chunk]) : chunk;
    const at = hay.indexOf(this.pattern);
    if (at >= 0) {
      this.tail = Buffer.alloc(0);
      return hay.subarray(at + this.pattern.length);
    }
    const keep = Math.min(hay.length, this.pattern.length - 1);
    this.tail = Buffer.from(hay.subarray(hay.length - keep));
    return undefined;
  }
}
