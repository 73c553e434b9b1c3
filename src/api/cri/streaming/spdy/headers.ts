/**
 * SPDY/3 header blocks: the name/value block layout and its compression. Each direction of a
 * connection is one zlib stream primed with the SPDY/3 dictionary, flushed (Z_SYNC_FLUSH) at the
 * end of each block, so the codecs keep state for the connection's life and must see the blocks
 * in order: both serialise their work.
 */
import * as zlib from 'node:zlib';
import { SPDY3_DICTIONARY } from './dictionary';
import { SpdyProtocolError } from './framer';

/** Header names (lower-case, as SPDY/3 requires) to their values, several values per name allowed. */
export type SpdyHeaders = Record<string, string[]>;

/** Lays out a header block (uncompressed): count, then length-prefixed names and NUL-joined values. */
export function serializeHeaders(headers: SpdyHeaders): Buffer {
  const parts: Buffer[] = [];
  const entries = Object.entries(headers).filter(([, v]) => v.length > 0);
  const count = Buffer.alloc(4);
  count.writeUInt32BE(entries.length);
  parts.push(count);
  for (const [name, values] of entries) {
    for (const s of [name.toLowerCase(), values.join('\0')]) {
      const b = Buffer.from(s, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32BE(b.length);
      parts.push(len, b);
    }
  }
  return Buffer.concat(parts);
}

/** Reads an uncompressed header block; malformed blocks are protocol errors. */
export function parseHeaders(block: Buffer): SpdyHeaders {
  const fail = (why: string): never => {
    throw new SpdyProtocolError(`bad header block: ${why}`);
  };
  if (block.length < 4) fail('no pair count');
  const count = block.readUInt32BE(0);
  let off = 4;
  const read = (): string => {
    if (off + 4 > block.length) fail('truncated length');
    const len = block.readUInt32BE(off);
    off += 4;
    if (off + len > block.length) fail('truncated string');
    const s = block.toString('utf8', off, off + len);
    off += len;
    return s;
  };
  const out: SpdyHeaders = {};
  for (let i = 0; i < count; i++) {
    const name = read().toLowerCase();
    if (name.length === 0) fail('empty header name');
    const values = read().split('\0');
    out[name] = [...(out[name] ?? []), ...values];
  }
  return out;
}

/** Feeds one zlib stream block by block, each block ending with a sync flush. */
class ZlibBlocks {
  private chain: Promise<unknown> = Promise.resolve();
  private chunks: Buffer[] = [];
  private size = 0;
  private failed: Error | undefined;

  constructor(
    private readonly z: zlib.Deflate | zlib.Inflate,
    private readonly maxOutput: number,
  ) {
    z.on('data', (c: Buffer) => {
      this.size += c.length;
      if (this.size <= this.maxOutput) this.chunks.push(c);
    });
    z.on('error', (e: Error) => {
      this.failed = e;
    });
  }

  run(input: Buffer): Promise<Buffer> {
    const step = this.chain.then(
      () =>
        new Promise<Buffer>((resolve, reject) => {
          if (this.failed) return reject(this.failed);
          this.chunks = [];
          this.size = 0;
          this.z.write(input);
          this.z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
            if (this.failed) return reject(new SpdyProtocolError(`header block: ${this.failed.message}`));
            if (this.size > this.maxOutput) return reject(new SpdyProtocolError('header block too large'));
            resolve(Buffer.concat(this.chunks));
          });
        }),
    );
    this.chain = step.catch(() => undefined);
    return step;
  }

  close(): void {
    this.z.close();
  }
}

/** The compressing side of one connection direction. */
export class HeaderCompressor {
  private readonly blocks = new ZlibBlocks(zlib.createDeflate({ dictionary: SPDY3_DICTIONARY }), Infinity);

  /** Serialises and compresses one header block. */
  compress(headers: SpdyHeaders): Promise<Buffer> {
    return this.blocks.run(serializeHeaders(headers));
  }

  close(): void {
    this.blocks.close();
  }
}

/** The decompressing side of one connection direction; blocks over `maxBytes` are refused. */
export class HeaderDecompressor {
  private readonly blocks: ZlibBlocks;

  constructor(maxBytes = 64 * 1024) {
    this.blocks = new ZlibBlocks(zlib.createInflate({ dictionary: SPDY3_DICTIONARY }), maxBytes);
  }

  /** Decompresses and parses one header block. */
  async decompress(block: Buffer): Promise<SpdyHeaders> {
    return parseHeaders(await this.blocks.run(block));
  }

  close(): void {
    this.blocks.close();
  }
}
