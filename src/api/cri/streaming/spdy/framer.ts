/**
 * SPDY/3.1 frames (draft-mbelshe-httpbis-spdy-00 with the 3.1 session flow control): parsing a
 * byte stream into frames and encoding the frames a streaming endpoint sends. Pure functions;
 * header blocks stay compressed here (see headers.ts for their codec).
 */

/** The control frame types this module knows. */
export const FrameType = {
  SYN_STREAM: 1,
  SYN_REPLY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  HEADERS: 8,
  WINDOW_UPDATE: 9,
} as const;

/** Flags of SYN_STREAM, SYN_REPLY, HEADERS and DATA frames. */
export const FLAG_FIN = 0x01;
/** SYN_STREAM only: the sender will send no data on the stream. */
export const FLAG_UNIDIRECTIONAL = 0x02;

/** RST_STREAM status codes. */
export const RstStatus = {
  PROTOCOL_ERROR: 1,
  INVALID_STREAM: 2,
  REFUSED_STREAM: 3,
  UNSUPPORTED_VERSION: 4,
  CANCEL: 5,
  INTERNAL_ERROR: 6,
  FLOW_CONTROL_ERROR: 7,
  STREAM_IN_USE: 8,
  STREAM_ALREADY_CLOSED: 9,
} as const;

/** GOAWAY status codes. */
export const GoawayStatus = { OK: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2 } as const;

const VERSION = 3;
const HEADER_LEN = 8;
/** The largest payload a SPDY frame's 24-bit length can carry. */
export const MAX_FRAME_PAYLOAD = 0xffffff;

/** One frame as read off the wire. `headerBlock` is still zlib-compressed. */
export type Frame =
  | { kind: 'data'; streamId: number; fin: boolean; data: Buffer }
  | {
      kind: 'syn_stream';
      streamId: number;
      associatedId: number;
      priority: number;
      fin: boolean;
      unidirectional: boolean;
      headerBlock: Buffer;
    }
  | { kind: 'syn_reply'; streamId: number; fin: boolean; headerBlock: Buffer }
  | { kind: 'headers'; streamId: number; fin: boolean; headerBlock: Buffer }
  | { kind: 'rst_stream'; streamId: number; status: number }
  | { kind: 'settings' }
  | { kind: 'ping'; id: number }
  | { kind: 'goaway'; lastGoodStreamId: number; status: number }
  | { kind: 'window_update'; streamId: number; delta: number }
  | { kind: 'unknown'; type: number };

/** A peer broke the framing rules; the connection cannot go on. */
export class SpdyProtocolError extends Error {}

/**
 * Accumulates bytes from the socket and yields complete frames. Frames whose payload is too
 * short for their type, or whose version is not 3, are protocol errors.
 */
export class FrameParser {
  private buf: Buffer = Buffer.alloc(0);

  /** Adds bytes and returns every frame now complete, in order. */
  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const frames: Frame[] = [];
    while (this.buf.length >= HEADER_LEN) {
      const length = this.buf.readUIntBE(5, 3);
      if (this.buf.length < HEADER_LEN + length) break;
      const head = this.buf.subarray(0, HEADER_LEN);
      const payload = Buffer.from(this.buf.subarray(HEADER_LEN, HEADER_LEN + length));
      this.buf = this.buf.subarray(HEADER_LEN + length);
      frames.push(parseFrame(head, payload));
    }
    return frames;
  }
}

function need(payload: Buffer, n: number, what: string): void {
  if (payload.length < n) throw new SpdyProtocolError(`${what} frame too short (${payload.length} bytes)`);
}

function parseFrame(head: Buffer, payload: Buffer): Frame {
  const flags = head[4];
  if ((head[0] & 0x80) === 0) {
    return { kind: 'data', streamId: head.readUInt32BE(0) & 0x7fffffff, fin: (flags & FLAG_FIN) !== 0, data: payload };
  }
  const version = head.readUInt16BE(0) & 0x7fff;
  if (version !== VERSION) throw new SpdyProtocolError(`unsupported SPDY version ${version}`);
  const type = head.readUInt16BE(2);
  const fin = (flags & FLAG_FIN) !== 0;
  switch (type) {
    case FrameType.SYN_STREAM:
      need(payload, 10, 'SYN_STREAM');
      return {
        kind: 'syn_stream',
        streamId: payload.readUInt32BE(0) & 0x7fffffff,
        associatedId: payload.readUInt32BE(4) & 0x7fffffff,
        priority: payload[8] >> 5,
        fin,
        unidirectional: (flags & FLAG_UNIDIRECTIONAL) !== 0,
        headerBlock: payload.subarray(10),
      };
    case FrameType.SYN_REPLY:
      need(payload, 4, 'SYN_REPLY');
      return {
        kind: 'syn_reply',
        streamId: payload.readUInt32BE(0) & 0x7fffffff,
        fin,
        headerBlock: payload.subarray(4),
      };
    case FrameType.HEADERS:
      need(payload, 4, 'HEADERS');
      return { kind: 'headers', streamId: payload.readUInt32BE(0) & 0x7fffffff, fin, headerBlock: payload.subarray(4) };
    case FrameType.RST_STREAM:
      need(payload, 8, 'RST_STREAM');
      return { kind: 'rst_stream', streamId: payload.readUInt32BE(0) & 0x7fffffff, status: payload.readUInt32BE(4) };
    case FrameType.SETTINGS:
      return { kind: 'settings' };
    case FrameType.PING:
      need(payload, 4, 'PING');
      return { kind: 'ping', id: payload.readUInt32BE(0) };
    case FrameType.GOAWAY:
      need(payload, 4, 'GOAWAY');
      return {
        kind: 'goaway',
        lastGoodStreamId: payload.readUInt32BE(0) & 0x7fffffff,
        status: payload.length >= 8 ? payload.readUInt32BE(4) : GoawayStatus.OK,
      };
    case FrameType.WINDOW_UPDATE:
      need(payload, 8, 'WINDOW_UPDATE');
      return {
        kind: 'window_update',
        streamId: payload.readUInt32BE(0) & 0x7fffffff,
        delta: payload.readUInt32BE(4) & 0x7fffffff,
      };
    default:
      return { kind: 'unknown', type };
  }
}

function control(type: number, flags: number, payload: Buffer): Buffer {
  if (payload.length > MAX_FRAME_PAYLOAD) throw new RangeError('SPDY frame payload too large');
  const head = Buffer.alloc(HEADER_LEN);
  head.writeUInt16BE(0x8000 | VERSION, 0);
  head.writeUInt16BE(type, 2);
  head[4] = flags;
  head.writeUIntBE(payload.length, 5, 3);
  return Buffer.concat([head, payload]);
}

function u32s(...values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeUInt32BE(v >>> 0, i * 4));
  return b;
}

/** A DATA frame; `data` must fit one frame (callers chunk). */
export function encodeData(streamId: number, data: Buffer, fin: boolean): Buffer {
  if (data.length > MAX_FRAME_PAYLOAD) throw new RangeError('SPDY frame payload too large');
  const head = Buffer.alloc(HEADER_LEN);
  head.writeUInt32BE(streamId & 0x7fffffff, 0);
  head[4] = fin ? FLAG_FIN : 0;
  head.writeUIntBE(data.length, 5, 3);
  return Buffer.concat([head, data]);
}

/** A SYN_STREAM frame with an already compressed header block. */
export function encodeSynStream(
  streamId: number,
  headerBlock: Buffer,
  opts: { fin?: boolean; unidirectional?: boolean; priority?: number; associatedId?: number } = {},
): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt32BE(streamId & 0x7fffffff, 0);
  fixed.writeUInt32BE((opts.associatedId ?? 0) & 0x7fffffff, 4);
  fixed[8] = ((opts.priority ?? 0) & 0x7) << 5;
  const flags = (opts.fin ? FLAG_FIN : 0) | (opts.unidirectional ? FLAG_UNIDIRECTIONAL : 0);
  return control(FrameType.SYN_STREAM, flags, Buffer.concat([fixed, headerBlock]));
}

/** A SYN_REPLY frame with an already compressed header block. */
export function encodeSynReply(streamId: number, headerBlock: Buffer, fin = false): Buffer {
  return control(FrameType.SYN_REPLY, fin ? FLAG_FIN : 0, Buffer.concat([u32s(streamId & 0x7fffffff), headerBlock]));
}

/** A RST_STREAM frame. */
export function encodeRstStream(streamId: number, status: number): Buffer {
  return control(FrameType.RST_STREAM, 0, u32s(streamId & 0x7fffffff, status));
}

/** A PING frame (a reply echoes the peer's id). */
export function encodePing(id: number): Buffer {
  return control(FrameType.PING, 0, u32s(id));
}

/** A GOAWAY frame. */
export function encodeGoaway(lastGoodStreamId: number, status: number = GoawayStatus.OK): Buffer {
  return control(FrameType.GOAWAY, 0, u32s(lastGoodStreamId & 0x7fffffff, status));
}

/** A WINDOW_UPDATE frame; stream 0 is the session window (SPDY/3.1). */
export function encodeWindowUpdate(streamId: number, delta: number): Buffer {
  return control(FrameType.WINDOW_UPDATE, 0, u32s(streamId & 0x7fffffff, delta & 0x7fffffff));
}
