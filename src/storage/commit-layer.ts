/**
 * A layer tar made on this host (a committed writable layer, a COPY step of a build) into
 * the stores: the tar streams at once through a sha256 (its diff ID), through the hardened
 * extractor (./extract.ts) into a fresh layer-store directory, and through gzip into the
 * content store, so that push and save give the same blob back later. A layer already
 * stored under the same diff ID is kept and the new copy dropped.
 */
import * as zlib from 'node:zlib';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ContentStore } from './content';
import type { LayerInfo, LayerStore } from './layers/store';
import { extractLayer } from './extract';
import { HashingStream } from './digest';
import { MediaType } from './registry/manifest';

/** Diff ID of the empty tar (1024 zero bytes), which Docker never records as a layer. */
export const EMPTY_TAR_DIFF_ID = 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef';

/** Store layer tar `source`; resolves with the stored layer (its diff ID is the tar's sha256). */
export async function storeLayerTar(source: Readable, content: ContentStore, layers: LayerStore): Promise<LayerInfo> {
  const ingest = await layers.begin();
  try {
    const hasher = new HashingStream();
    const toExtract = new PassThrough({ highWaterMark: 1024 * 1024 });
    const toGzip = new PassThrough({ highWaterMark: 1024 * 1024 });
    const extracted = extractLayer(toExtract, ingest.dir);
    extracted.catch(() => source.destroy());
    const kept = content.ingestNew(toGzip.pipe(zlib.createGzip()));
    hasher.pipe(toExtract);
    hasher.pipe(toGzip);
    const [, result, blob] = await Promise.all([pipeline(source, hasher), extracted, kept]);
    const diffId = hasher.digest();
    const info = await ingest.commit(diffId, result.size, {
      digest: blob.digest,
      size: blob.size,
      compression: 'gzip',
      mediaType: MediaType.DockerLayerGzip,
      tarSize: hasher.bytes,
    });
    // The same layer was stored before with its own blob: ours is nobody's.
    if (info.blob && info.blob.digest !== blob.digest) await content.delete(blob.digest);
    return info;
  } catch (err) {
    await ingest.abort();
    throw err;
  }
}
