/**
 * The reading of a sparse-extent stream (./extents.ts) into a file, taking the stream as
 * hostile (it comes from a registry): the file is cut to the stream's logical size and each
 * record's bytes are written at its offset as they arrive, and anything that breaks the
 * layout (bad magic, a record out of order, overlapping another or past the size, too long,
 * more data or a bigger size than the caller allows, a stream cut short or going on after its
 * end record) fails with an InvalidArgumentError naming it. Nothing is written before the
 * bytes that say where have been checked.
 */
import type { FileHandle } from 'node:fs/promises';
import { EXTENT_HEADER_BYTES, EXTENT_MAGIC, EXTENT_MAX_LENGTH, EXTENT_RECORD_HEADER_BYTES } from './extents';
import { InvalidArgumentError } from '../../errors';

/** What a caller allows of an extent stream. */
export interface ExtentLimits {
  /** Most data bytes in all records together. */
  maxDataBytes: number;
  /** Largest logical size. */
  maxSize: number;
  /** The logical size the stream must declare, when the caller knows it. */
  size?: number;
}

/** A u64 big-endian at `at` of `b`, or an error when it is not a safe integer. */
function readU64(b: Buffer, at: number, what: string): number {
  const v = b.readBigUInt64BE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidArgumentError(`extent stream: ${what} ${v} is too large`);
  return Number(v);
}

/**
 * An extent stream applied to an open, empty file as its bytes are pushed: `push(chunk)` for
 * each piece in order, then `end()`. Every error is an InvalidArgumentError; after one, the
 * applier is unusable and the file holds a partial result for the caller to remove.
 */
export class ExtentApplier {
  /** Bytes of the header being gathered (the stream's or a record's). */
  private head = Buffer.alloc(EXTENT_HEADER_BYTES);
  private headHave = 0;
  private state: 'header' | 'record' | 'data' | 'done' = 'header';
  /** The logical size, once the header is read. */
  private size = 0;
  /** Data bytes so far. */
  private data = 0;
  /** Where the previous record started and ended. */
  private prevStart = -1;
  private prevEnd = 0;
  /** Where the current record's next byte goes, and how many of its bytes are left. */
  private at = 0;
  private left = 0;

  constructor(
    private readonly fh: FileHandle,
    private readonly limits: ExtentLimits,
  ) {}

  /** The logical size declared and the data bytes written so far. */
  get progress(): { size: number; dataBytes: number } {
    return { size: this.size, dataBytes: this.data };
  }

  /** Apply the next bytes of the stream. */
  async push(chunk: Buffer): Promise<void> {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.state === 'done') {
        throw new InvalidArgumentError(`extent stream: ${chunk.length - pos} bytes after its end record`);
      }
      if (this.state === 'data') {
        const n = Math.min(this.left, chunk.length - pos);
        await this.writeAll(chunk.subarray(pos, pos + n), this.at);
        this.at += n;
        this.left -= n;
        pos += n;
        if (this.left === 0) this.state = 'record';
        continue;
      }
      const n = Math.min(EXTENT_RECORD_HEADER_BYTES - this.headHave, chunk.length - pos);
      chunk.copy(this.head, this.headHave, pos, pos + n);
      this.headHave += n;
      pos += n;
      if (this.headHave < EXTENT_RECORD_HEADER_BYTES) continue;
      this.headHave = 0;
      if (this.state === 'header') await this.onHeader();
      else this.onRecord();
    }
  }

  /** The stream is over: an error unless its end record was read. */
  end(): void {
    if (this.state !== 'done') {
      const where =
        this.state === 'data' ? `${this.left} bytes short of its record at offset ${this.at}` : 'before its end record';
      throw new InvalidArgumentError(`extent stream: truncated ${where}`);
    }
  }

  private async onHeader(): Promise<void> {
    if (!this.head.subarray(0, EXTENT_MAGIC.length).equals(EXTENT_MAGIC)) {
      throw new InvalidArgumentError('extent stream: bad magic (not a sparse-extent stream)');
    }
    const size = readU64(this.head, 8, 'logical size');
    if (size > this.limits.maxSize) {
      throw new InvalidArgumentError(`extent stream: logical size ${size} over the limit of ${this.limits.maxSize}`);
    }
    if (this.limits.size !== undefined && size !== this.limits.size) {
      throw new InvalidArgumentError(`extent stream: logical size ${size}, not the declared ${this.limits.size}`);
    }
    this.size = size;
    await this.fh.truncate(size);
    this.state = 'record';
  }

  private onRecord(): void {
    const offset = readU64(this.head, 0, 'record offset');
    const length = readU64(this.head, 8, 'record length');
    if (length === 0) {
      if (offset !== 0) throw new InvalidArgumentError(`extent stream: empty record at offset ${offset}`);
      this.state = 'done';
      return;
    }
    if (length > EXTENT_MAX_LENGTH) {
      throw new InvalidArgumentError(
        `extent stream: record at offset ${offset} of ${length} bytes, over ${EXTENT_MAX_LENGTH}`,
      );
    }
    if (offset < this.prevStart) {
      throw new InvalidArgumentError(
        `extent stream: record at offset ${offset} out of order (after one at ${this.prevStart})`,
      );
    }
    if (offset < this.prevEnd) {
      throw new InvalidArgumentError(
        `extent stream: record at offset ${offset} overlaps the previous one (which ends at ${this.prevEnd})`,
      );
    }
    if (offset + length > this.size) {
      throw new InvalidArgumentError(
        `extent stream: record at offset ${offset} of ${length} bytes reaches beyond the size ${this.size}`,
      );
    }
    if (this.data + length > this.limits.maxDataBytes) {
      throw new InvalidArgumentError(
        `extent stream: more than the limit of ${this.limits.maxDataBytes} data bytes (record at offset ${offset})`,
      );
    }
    this.data += length;
    this.prevStart = offset;
    this.prevEnd = offset + length;
    this.at = offset;
    this.left = length;
    this.state = 'data';
  }

  private async writeAll(b: Buffer, position: number): Promise<void> {
    for (let done = 0; done < b.length; ) {
      const { bytesWritten } = await this.fh.write(b, done, b.length - done, position + done);
      done += bytesWritten;
    }
  }
}

/**
 * Apply the whole extent stream `source` to `fh` (an open, empty file): cut to its logical
 * size, then each record's bytes written at its offset. Resolves with the logical size and
 * the data bytes written; InvalidArgumentError on any breach of the layout or of `limits`.
 */
export async function applyExtentStream(
  source: AsyncIterable<Buffer>,
  fh: FileHandle,
  limits: ExtentLimits,
): Promise<{ size: number; dataBytes: number }> {
  const applier = new ExtentApplier(fh, limits);
  for await (const chunk of source) await applier.push(chunk);
  applier.end();
  return applier.progress;
}
