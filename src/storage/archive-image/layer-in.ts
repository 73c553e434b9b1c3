/**
 * One layer tar into the stores, for `docker load` and `docker import`: the tar streams
 * through a sha256 (its diff ID), through the hardened extractor (src/storage/extract.ts)
 * into a fresh layer-store directory, and through gzip into the content store (the blob a
 * later save or push gives back byte for byte). When the caller knows the diff ID the tar
 * must have (load), a different one refuses the layer before it is committed.
 */
import * as zlib from 'node:zlib';
import { PassThrough, Transform, pipeline as pipelineCb, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ContentStore } from '../content';
import type { LayerStore } from '../layers/store';
import { extractLayer } from '../extract';
import { HashingStream } from '../digest';
import { MediaType } from '../registry/manifest';
import { InvalidArgumentError } from '../../errors';

/** Options of storeLayerTar. */
export interface LayerInOptions {
  /** The diff ID the tar must have; InvalidArgumentError (naming `index`) when it does not. */
  expect?: { diffId: string; index: number };
  /** Called with the bytes of tar read so far, at most every 100 ms. */
  onBytes?: (read: number) => void;
  /** Called with the diff ID once known, before the layer is committed (to hold it against gc). */
  onDiffId?: (diffId: string) => void;
}

/** Store the (uncompressed) layer tar `tar`; resolves with its diff ID once committed. */
export async function storeLayerTar(
  content: ContentStore,
  layers: LayerStore,
  tar: Readable,
  opts: LayerInOptions = {},
): Promise<string> {
  const ingest = await layers.begin();
  try {
    const hasher = new HashingStream();
    let last = 0;
    let read = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _e, cb) {
        read += chunk.length;
        const now = Date.now();
        if (opts.onBytes && now - last >= 100) {
          last = now;
          opts.onBytes(read);
        }
        cb(null, chunk);
      },
    });
    const toExtract = new PassThrough({ highWaterMark: 1024 * 1024 });
    const toGzip = new PassThrough({ highWaterMark: 1024 * 1024 });
    const extracted = extractLayer(toExtract, ingest.dir);
    // A failure on one branch ends the others, so that nothing waits on a stream no one feeds.
    const fail = (err: unknown) => {
      tar.destroy(err as Error);
      toGzip.destroy(err as Error);
      toExtract.destroy(err as Error);
    };
    extracted.catch(fail);
    const gzip = zlib.createGzip();
    const kept = content.ingestNew(pipelineCb(toGzip, gzip, () => undefined));
    kept.catch(fail);
    hasher.pipe(toExtract);
    hasher.pipe(toGzip);
    const [, result, blob] = await Promise.all([pipeline(tar, counter, hasher), extracted, kept]);
    const diffId = hasher.digest();
    if (opts.expect && diffId !== opts.expect.diffId) {
      await content.delete(blob.digest);
      throw new InvalidArgumentError(
        `invalid diffID for layer ${opts.expect.index}: expected "${opts.expect.diffId}", got "${diffId}"`,
      );
    }
    opts.onDiffId?.(diffId);
    await ingest.commit(diffId, result.size, {
      digest: blob.digest,
      size: blob.size,
      compression: 'gzip',
      mediaType: MediaType.DockerLayerGzip,
      tarSize: hasher.bytes,
    });
    return diffId;
  } catch (err) {
    await ingest.abort();
    throw err;
  }
}
