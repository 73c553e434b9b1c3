/**
 * gRPC clients in Go of the Kubernetes 1.26 line (the kubelet's remote runtime client, crictl,
 * critest) dialing a unix socket send the socket's path as the HTTP/2 `:authority`
 * (`/run/podvisor/cri.sock`). Node's HTTP/2 server (nghttp2) refuses that value, which is not a
 * valid authority, with RST_STREAM PROTOCOL_ERROR before grpc-js sees the call. The kubelet
 * and containerd never check the authority of a unix socket's calls; neither do we.
 *
 * `AuthorityRewriter` sits on the client-to-server bytes of one connection and replaces the
 * value of each literal `:authority` header field with `localhost` (cut to the old value's
 * length when that is shorter), so nghttp2 accepts it. It works on the HPACK representations
 * without decoding strings: the field is recognised by its name (static table index 1, or a
 * literal `:authority`), and its new value is sent as a plain (not Huffman) string. The two
 * HPACK dynamic tables stay in step: an entry keeps its place, and its rewritten value is
 * never longer, so the server never evicts an entry the client still refers to. A header
 * block split into HEADERS + CONTINUATION frames is rewritten whole and sent as HEADERS +
 * CONTINUATION again; padding is dropped. Every other frame passes as it came.
 *
 * `rewriteAuthority(socket)` gives the Duplex to hand to the HTTP/2 server instead of the socket.
 */
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';

const PREFACE_LENGTH = 24;
const FRAME_HEADER = 9;
const HEADERS = 0x1;
const CONTINUATION = 0x9;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;
/** SETTINGS_MAX_FRAME_SIZE's initial value: the largest frame a server accepts before settings. */
const MAX_FRAME = 16384;
/** The HPACK static table's index of `:authority`. */
const AUTHORITY_INDEX = 1;
const AUTHORITY = Buffer.from(':authority');
const REPLACEMENT = 'localhost';

/** An HPACK integer with an `n`-bit prefix at `buf[pos]`: its value and the position after it. */
function readInt(buf: Buffer, pos: number, n: number): [number, number] {
  const max = (1 << n) - 1;
  let v = buf[pos] & max;
  pos++;
  if (v < max) return [v, pos];
  let shift = 0;
  for (;;) {
    if (pos >= buf.length) throw new Error('HPACK integer cut short');
    const b = buf[pos++];
    v += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (!(b & 0x80)) return [v, pos];
    if (shift > 28) throw new Error('HPACK integer too large');
  }
}

/** An HPACK integer with an `n`-bit prefix, the prefix byte's other bits `flags`. */
function writeInt(v: number, n: number, flags: number): Buffer {
  const max = (1 << n) - 1;
  if (v < max) return Buffer.from([flags | v]);
  const out = [flags | max];
  v -= max;
  while (v >= 128) {
    out.push(v % 128 | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

/** A string literal at `pos`: whether Huffman-coded, its bytes' span, and the position after it. */
function readString(buf: Buffer, pos: number): { huffman: boolean; start: number; end: number } {
  const huffman = (buf[pos] & 0x80) !== 0;
  const [len, start] = readInt(buf, pos, 7);
  if (start + len > buf.length) throw new Error('HPACK string cut short');
  return { huffman, start, end: start + len };
}

/** A header block with each literal `:authority` value replaced (see the module comment). */
export function rewriteHeaderBlock(block: Buffer): Buffer {
  const out: Buffer[] = [];
  let pos = 0;
  while (pos < block.length) {
    const b = block[pos];
    if (b & 0x80) {
      // Indexed field: refers to a table entry, which holds the rewritten value already.
      const [, next] = readInt(block, pos, 7);
      out.push(block.subarray(pos, next));
      pos = next;
      continue;
    }
    if ((b & 0xe0) === 0x20) {
      // Dynamic table size update.
      const [, next] = readInt(block, pos, 5);
      out.push(block.subarray(pos, next));
      pos = next;
      continue;
    }
    // A literal: with incremental indexing (01), without indexing (0000), never indexed (0001).
    const prefix = (b & 0xc0) === 0x40 ? 6 : 4;
    const start = pos;
    const [index, afterIndex] = readInt(block, pos, prefix);
    let isAuthority = index === AUTHORITY_INDEX;
    let valueAt = afterIndex;
    if (index === 0) {
      const name = readString(block, afterIndex);
      isAuthority = !name.huffman && block.subarray(name.start, name.end).equals(AUTHORITY);
      valueAt = name.end;
    }
    const value = readString(block, valueAt);
    if (isAuthority && value.end > value.start) {
      // A Huffman code is at most 30 bits a character, with up to 7 bits of padding.
      const bytes = value.end - value.start;
      const oldLength = value.huffman ? Math.floor((bytes * 8 - 7) / 30) : bytes;
      const replacement = Buffer.from(REPLACEMENT.slice(0, Math.max(1, Math.min(REPLACEMENT.length, oldLength))));
      out.push(block.subarray(start, valueAt), writeInt(replacement.length, 7, 0), replacement);
    } else {
      out.push(block.subarray(start, value.end));
    }
    pos = value.end;
  }
  return Buffer.concat(out);
}

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(FRAME_HEADER);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}

/** Rewrites the client-to-server bytes of one HTTP/2 connection (see the module comment). */
export class AuthorityRewriter {
  private buf: Buffer = Buffer.alloc(0);
  private prefaceSeen = false;
  /** A header block being collected: its HEADERS frame's flags, stream, priority bytes and fragments. */
  private pending?: { flags: number; stream: number; priority: Buffer; fragments: Buffer[] };

  /** Feed bytes from the client; returns the bytes to give the server now. */
  push(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Buffer[] = [];
    if (!this.prefaceSeen) {
      if (this.buf.length < PREFACE_LENGTH) return out;
      out.push(this.buf.subarray(0, PREFACE_LENGTH));
      this.buf = this.buf.subarray(PREFACE_LENGTH);
      this.prefaceSeen = true;
    }
    while (this.buf.length >= FRAME_HEADER) {
      const length = this.buf.readUIntBE(0, 3);
      if (this.buf.length < FRAME_HEADER + length) break;
      const type = this.buf[3];
      const flags = this.buf[4];
      const stream = this.buf.readUInt32BE(5) & 0x7fffffff;
      const whole = this.buf.subarray(0, FRAME_HEADER + length);
      const payload = whole.subarray(FRAME_HEADER);
      this.buf = this.buf.subarray(FRAME_HEADER + length);
      if (type === HEADERS) {
        let p = payload;
        let padding = 0;
        if (flags & PADDED) {
          padding = p[0];
          p = p.subarray(1);
        }
        const priority = flags & PRIORITY ? p.subarray(0, 5) : Buffer.alloc(0);
        p = p.subarray(priority.length, p.length - padding);
        this.pending = { flags: flags & ~PADDED, stream, priority, fragments: [p] };
        if (flags & END_HEADERS) out.push(...this.flush());
      } else if (type === CONTINUATION && this.pending) {
        this.pending.fragments.push(payload);
        if (flags & END_HEADERS) out.push(...this.flush());
      } else {
        out.push(whole);
      }
    }
    return out;
  }

  private flush(): Buffer[] {
    const p = this.pending;
    this.pending = undefined;
    if (!p) return [];
    let block: Buffer;
    try {
      block = rewriteHeaderBlock(Buffer.concat(p.fragments));
    } catch {
      // Not HPACK we can read: pass it unchanged and let the server judge it.
      block = Buffer.concat(p.fragments);
    }
    const first = Buffer.concat([p.priority, block]);
    const frames: Buffer[] = [];
    let rest = first.subarray(Math.min(first.length, MAX_FRAME));
    const endFlag = rest.length ? 0 : END_HEADERS;
    frames.push(frame(HEADERS, (p.flags & ~END_HEADERS) | endFlag, p.stream, first.subarray(0, MAX_FRAME)));
    while (rest.length) {
      const part = rest.subarray(0, MAX_FRAME);
      rest = rest.subarray(part.length);
      frames.push(frame(CONTINUATION, rest.length ? 0 : END_HEADERS, p.stream, part));
    }
    return frames;
  }
}

/** A Duplex over `socket` whose readable side is the client's bytes with `:authority` rewritten. */
export function rewriteAuthority(socket: Socket): Duplex {
  const rewriter = new AuthorityRewriter();
  const duplex = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      socket.write(chunk, cb);
    },
    final(cb) {
      socket.end();
      cb();
    },
    destroy(err, cb) {
      socket.destroy();
      cb(err);
    },
  });
  socket.on('data', (d: Buffer) => {
    for (const b of rewriter.push(d)) if (!duplex.push(b)) socket.pause();
  });
  socket.on('end', () => duplex.push(null));
  socket.on('error', (e) => duplex.destroy(e));
  socket.on('close', () => duplex.destroy());
  return duplex;
}
