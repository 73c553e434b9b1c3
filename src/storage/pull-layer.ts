/**
 * The stream pieces of one layer's download (./pull.ts): a guard on the blob's size, the
 * unpacking half (decoder, diff ID hash, extractor) and the writer that feeds both the kept
 * compressed bytes and the unpacking half. The download always runs to its end, so a corrupt
 * blob is reported as a digest mismatch even when the decoder or tar trips over it first: the
 * unpacking half keeps its first failure and takes no more bytes after it.
 */
import { PassThrough, Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Descriptor, LayerCompression } from './registry/manifest';
import { HashingStream } from './digest';
import { extractLayer, type ExtractResult } from './extract';
import { decoder } from './decompress';
import { InvalidArgumentError } from '../errors';

/** Fails the download when the registry sends more than the descriptor's size. */
export function sizeGuard(desc: Descriptor, compressed: HashingStream): Transform {
  const total = desc.size;
  return new Transform({
    transform(chunk: Buffer, _e, cb) {
      if (compressed.bytes + chunk.length > total)
        cb(
          new InvalidArgumentError(
            `filesystem layer verification failed for digest ${desc.digest}: ` +
              `the registry sent more than ${total} bytes`,
          ),
        );
      else cb(null, chunk);
    },
  });
}

/**
 * The unpacking half of one layer's download: the decoder its compression names, a sha256 of
 * the tar (`tar`: the diff ID) and the extractor into `dir`. Its first failure is kept.
 */
export class LayerUnpack {
  /** The decoder, fed the compressed bytes. */
  private readonly input: Transform;
  /** The uncompressed tar, hashed: its digest is the layer's diff ID. */
  readonly tar = new HashingStream();
  private error: unknown;
  private readonly unpack: Promise<void>;
  private readonly extracted: Promise<ExtractResult | undefined>;

  constructor(compression: LayerCompression, dir: string) {
    const unpackInput = decoder(compression);
    this.input = unpackInput;
    this.unpack = pipeline(unpackInput, this.tar).catch((e: unknown) => {
      this.error ??= e;
    });
    this.extracted = extractLayer(this.tar as unknown as Readable, dir).catch((e: unknown) => {
      this.error ??= e;
      unpackInput.destroy();
      return undefined;
    });
  }

  /** Feed `chunk`; `cb` once more may come (at once when the unpacking already failed). */
  write(chunk: Buffer, cb: () => void): void {
    const unpackInput = this.input;
    if (this.error !== undefined || unpackInput.destroyed) return cb();
    if (unpackInput.write(chunk)) return cb();
    const done = () => {
      unpackInput.off('drain', done);
      unpackInput.off('close', done);
      cb();
    };
    unpackInput.on('drain', done);
    unpackInput.on('close', done);
  }

  /** The compressed bytes are all in. */
  end(): void {
    if (this.error === undefined && !this.input.destroyed) this.input.end();
  }

  /** What the extractor made, once all is unpacked; the first failure otherwise. */
  async result(desc: Descriptor): Promise<ExtractResult> {
    await this.unpack;
    const result = await this.extracted;
    if (this.error !== undefined || !result)
      throw this.error ?? new InvalidArgumentError(`layer ${desc.digest} could not be unpacked`);
    return result;
  }
}

/** The end of the download: each chunk to `keep` (the kept blob), then to `unpack`. */
export function teeWriter(keep: PassThrough, unpack: LayerUnpack): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (keep.write(chunk)) unpack.write(chunk, cb);
      else {
        const go = () => {
          keep.off('drain', go);
          keep.off('close', go);
          unpack.write(chunk, cb);
        };
        keep.on('drain', go);
        keep.on('close', go);
      }
    },
    final(cb) {
      keep.end();
      unpack.end();
      cb();
    },
  });
}
