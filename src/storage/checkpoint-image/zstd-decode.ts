/**
 * zstd decoding of hostile input, in-process (fzstd, as ../decompress.ts; no zstd binary
 * ever reads what a registry sent), with its memory bounded whatever the input claims.
 * fzstd alone trusts its input more than we can: it allocates each frame's window as the
 * frame header says (up to 2 GiB), and decodes every block a pushed chunk holds before
 * returning (a 4-byte RLE block may claim 2 MiB). So the compressed bytes are first walked
 * here, frame by frame and block by block (RFC 8878 section 3.1): only zstd frames, with no
 * dictionary and a window of at most ZSTD_MAX_WINDOW, blocks of at most 128 KiB (the format's
 * own maximum), and the input is handed to fzstd cut so that each push completes at most one
 * block. Each push's output (at most 128 KiB) is handed to the caller's sink, and awaited,
 * before the next: the sink is where the caller bounds the total (and writes).
 */
import { Decompress } from 'fzstd';
import { InvalidArgumentError } from '../../errors';

/**
 * Largest window a frame may ask for: 8 MiB. `zstd -3` (what ./compress.ts runs) uses 2 MiB;
 * fzstd allocates the window and moves it at every block, so a bigger one costs memory and time.
 */
export const ZSTD_MAX_WINDOW = 8 * 1024 * 1024;
/** The format's largest block (Block_Maximum_Size). */
const MAX_BLOCK = 128 * 1024;
const ZSTD_MAGIC = 0xfd2fb528;

/**
 * Walks zstd frames as their bytes come and cuts them into the pieces to push: each piece
 * ends at most one block. Throws InvalidArgumentError on anything it does not allow.
 */
class FrameWalker {
  /** Header bytes gathered for the current state. */
  private head: number[] = [];
  private state: 'magic' | 'descriptor' | 'header' | 'block' | 'content' | 'checksum' = 'magic';
  /** Bytes still needed by the current state (header bytes, content or checksum). */
  private need = 4;
  private checksum = false;
  private lastBlock = false;
  private window = 0;
  /** Frames completed. */
  frames = 0;

  /** `chunk` cut into the pieces to push, in order. */
  feed(chunk: Buffer): Buffer[] {
    const pieces: Buffer[] = [];
    let start = 0;
    let pos = 0;
    while (pos < chunk.length) {
      if (this.state === 'content' || this.state === 'checksum') {
        const n = Math.min(this.need, chunk.length - pos);
        pos += n;
        this.need -= n;
        if (this.need > 0) continue;
        if (this.state === 'content') {
          // A block is complete: the piece ends here.
          pieces.push(chunk.subarray(start, pos));
          start = pos;
          this.blockDone();
        } else this.frameDone();
        continue;
      }
      this.head.push(chunk[pos++]);
      if (this.head.length < this.need) continue;
      this.onHeader();
    }
    if (start < chunk.length) pieces.push(chunk.subarray(start));
    return pieces;
  }

  /** The input is over: an error unless it ended between frames, after one at least. */
  end(): void {
    if (this.state !== 'magic' || this.head.length > 0) throw new InvalidArgumentError('zstd: truncated stream');
    if (this.frames === 0) throw new InvalidArgumentError('zstd: empty stream (no frame)');
  }

  private expect(state: FrameWalker['state'], need: number): void {
    this.state = state;
    this.need = need;
    this.head = [];
  }

  private blockDone(): void {
    if (!this.lastBlock) this.expect('block', 3);
    else if (this.checksum) this.expect('checksum', 4);
    else this.frameDone();
  }

  private frameDone(): void {
    this.frames++;
    this.expect('magic', 4);
  }

  private onHeader(): void {
    const h = this.head;
    switch (this.state) {
      case 'magic': {
        const magic = (h[0] | (h[1] << 8) | (h[2] << 16) | (h[3] << 24)) >>> 0;
        if (magic !== ZSTD_MAGIC) throw new InvalidArgumentError('zstd: not a zstd frame');
        this.expect('descriptor', 1);
        return;
      }
      case 'descriptor': {
        const fhd = h[0];
        if (fhd & 0x08) throw new InvalidArgumentError('zstd: reserved frame header bit set');
        if (fhd & 0x03) throw new InvalidArgumentError('zstd: frames with a dictionary are not accepted');
        const singleSegment = (fhd >> 5) & 1;
        const fcsFlag = fhd >> 6;
        const fcsBytes = fcsFlag ? 1 << fcsFlag : singleSegment;
        this.checksum = ((fhd >> 2) & 1) === 1;
        // The rest of the header: the window descriptor (unless single segment), then the content size.
        this.state = 'header';
        this.need = 1 + (singleSegment ? 0 : 1) + fcsBytes;
        return;
      }
      case 'header': {
        const fhd = h[0];
        const singleSegment = (fhd >> 5) & 1;
        if (singleSegment) {
          // The window is the content size (little-endian, 1, 2, 4 or 8 bytes; 2 bytes add 256).
          let size = 0;
          for (let i = h.length - 1; i >= 1; i--) size = size * 256 + h[i];
          if (h.length === 3) size += 256;
          this.window = size;
        } else {
          const wd = h[1];
          const base = 2 ** (10 + (wd >> 3));
          this.window = base + (base / 8) * (wd & 7);
        }
        if (this.window > ZSTD_MAX_WINDOW) {
          throw new InvalidArgumentError(`zstd: a frame's window of ${this.window} bytes is over ${ZSTD_MAX_WINDOW}`);
        }
        this.expect('block', 3);
        return;
      }
      case 'block': {
        const v = h[0] | (h[1] << 8) | (h[2] << 16);
        this.lastBlock = (v & 1) === 1;
        const type = (v >> 1) & 3;
        const size = v >>> 3;
        if (type === 3) throw new InvalidArgumentError('zstd: reserved block type');
        if (size > MAX_BLOCK || size > Math.max(this.window, 1)) {
          throw new InvalidArgumentError(`zstd: a block of ${size} bytes is over the format's maximum`);
        }
        const content = type === 1 ? 1 : size;
        // An empty block is complete already (and decodes to nothing: no cut needed).
        if (content === 0) this.blockDone();
        else this.expect('content', content);
        return;
      }
      default:
        return;
    }
  }
}

/**
 * Decode the zstd stream `source` (one or more frames, nothing else), handing each piece of
 * output (at most 128 KiB) to `sink` and awaiting it before decoding more. Rejects with an
 * InvalidArgumentError ("zstd: ...") on a corrupt, truncated or disallowed stream, or with
 * whatever `sink` throws.
 */
export async function decodeZstd(source: AsyncIterable<Buffer>, sink: (chunk: Buffer) => Promise<void>): Promise<void> {
  const walker = new FrameWalker();
  const out: Buffer[] = [];
  const dec = new Decompress((c) => {
    if (c.length) out.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
  });
  const push = (piece: Uint8Array, final: boolean) => {
    try {
      dec.push(piece, final);
    } catch (e) {
      throw new InvalidArgumentError(`zstd: ${(e as Error).message}`);
    }
  };
  const drain = async () => {
    while (out.length) await sink(out.shift()!);
  };
  for await (const chunk of source) {
    for (const piece of walker.feed(chunk)) {
      push(piece, false);
      await drain();
    }
  }
  walker.end();
  push(new Uint8Array(0), true);
  await drain();
}
