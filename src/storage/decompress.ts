/**
 * Archives as dockerd's DecompressStream reads them: the compression is told by the first
 * bytes (gzip, bzip2, xz, zstd; anything else is taken as a plain tar) and the stream is
 * decoded on the way. gzip goes through node's zlib; the rest, which zlib cannot read,
 * through small pure-JS or WebAssembly decoders (unbzip2-stream, xz-decompress, fzstd), so
 * the daemon needs no native module nor tool on the host for them.
 */
import * as zlib from 'node:zlib';
import { PassThrough, Readable, Transform, pipeline as pipelineCb } from 'node:stream';
import { XzReadableStream } from 'xz-decompress';
import { Decompress as ZstdDecompress } from 'fzstd';
import unbzip2 from 'unbzip2-stream';
import { InvalidArgumentError } from '../errors';

/** A compression that an archive may come in. */
export type Compression = 'none' | 'gzip' | 'bzip2' | 'xz' | 'zstd';

const MAGIC: [Exclude<Compression, 'none'>, Buffer][] = [
  ['bzip2', Buffer.from('BZh', 'latin1')],
  ['gzip', Buffer.from([0x1f, 0x8b, 0x08])],
  ['xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])],
  ['zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd])],
];

/** Bytes enough to tell every compression of MAGIC apart. */
export const MAGIC_BYTES = 6;

/** The compression that `head` (the first bytes of a stream) starts with. */
export function detectCompression(head: Buffer): Compression {
  for (const [kind, magic] of MAGIC) {
    if (head.length >= magic.length && head.subarray(0, magic.length).equals(magic)) return kind;
  }
  return 'none';
}

/**
 * The first MAGIC_BYTES bytes of `source` (fewer at its end), put back so that the next
 * reader gets the whole stream.
 */
export function peekHead(source: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let have = 0;
  return new Promise<Buffer>((resolve, reject) => {
    const done = (err?: Error) => {
      source.off('readable', onReadable);
      source.off('end', onEnd);
      source.off('error', onError);
      if (err) return reject(err);
      // Put the bytes back now: once this handler returns, a source that has been read to its
      // end emits 'end' (on the next tick, before an awaiting caller runs).
      const all = Buffer.concat(chunks);
      if (all.length) source.unshift(all);
      resolve(all.subarray(0, MAGIC_BYTES));
    };
    const onReadable = () => {
      for (;;) {
        const c = source.read() as Buffer | null;
        if (c === null) return;
        chunks.push(c);
        have += c.length;
        if (have >= MAGIC_BYTES) return done();
      }
    };
    const onEnd = () => done();
    const onError = (e: Error) => done(e);
    source.on('readable', onReadable);
    source.on('end', onEnd);
    source.on('error', onError);
  });
}

/** A Transform that decodes zstd frames with fzstd. */
function zstdDecoder(): Transform {
  let out: ((c: Uint8Array) => void) | undefined;
  const dec = new ZstdDecompress((chunk) => out?.(chunk));
  const call = (fn: () => void, cb: (e?: Error | null) => void) => {
    try {
      fn();
      cb();
    } catch (e) {
      cb(new InvalidArgumentError(`zstd: ${(e as Error).message}`));
    }
  };
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      out = (c) => this.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
      call(() => dec.push(chunk), cb);
    },
    flush(cb) {
      out = (c) => this.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
      call(() => dec.push(new Uint8Array(0), true), cb);
    },
  });
}

/** `source` decoded by xz-decompress (a web stream underneath). */
function xzDecoded(source: Readable): Readable {
  const web = Readable.toWeb(source) as unknown as ReadableStream<Uint8Array>;
  return Readable.fromWeb(new XzReadableStream(web) as unknown as import('node:stream/web').ReadableStream<Uint8Array>);
}

/** `source` through unbzip2-stream (an old-style stream: errors forwarded by hand). */
function bzip2Decoded(source: Readable): Readable {
  const out = new PassThrough({ highWaterMark: 256 * 1024 });
  const dec = unbzip2();
  const fail = (e: Error) => {
    source.destroy();
    out.destroy(
      e instanceof InvalidArgumentError
        ? e
        : new InvalidArgumentError(`bzip2: ${typeof e === 'string' ? e : e.message}`),
    );
  };
  source.on('error', fail);
  dec.on('error', fail);
  out.on('close', () => source.destroy());
  source.pipe(dec).pipe(out);
  return out;
}

/**
 * A Transform that decodes `kind` as bytes are written to it: gzip through zlib, zstd through
 * fzstd, 'none' as it comes. A corrupt or truncated stream fails it (zstd's errors are
 * InvalidArgumentErrors).
 */
export function decoder(kind: 'none' | 'gzip' | 'zstd'): Transform {
  switch (kind) {
    case 'none':
      return new PassThrough();
    case 'gzip':
      return zlib.createGunzip({ chunkSize: 256 * 1024 });
    case 'zstd':
      return zstdDecoder();
  }
}

/** `source` decoded from `kind`. Errors of the decoder end the returned stream. */
export function decodeStream(source: Readable, kind: Compression): Readable {
  switch (kind) {
    case 'none':
      return source;
    case 'gzip':
    case 'zstd':
      return pipelineCb(source, decoder(kind), () => undefined);
    case 'xz':
      return xzDecoded(source);
    case 'bzip2':
      return bzip2Decoded(source);
  }
}

/** `source` decompressed from whatever its first bytes say it is (a plain tar as is). */
export async function decompressStream(source: Readable): Promise<Readable> {
  return decodeStream(source, detectCompression(await peekHead(source)));
}
