/**
 * Pulling a checkpoint image's saved state (./media-types.ts) beside its image (../pull.ts):
 * the index entry annotated with CHECKPOINT_FOR naming the chosen image manifest (the first
 * one; others are ignored), its manifest (at most CHECKPOINT_MANIFEST_MAX bytes, digest
 * verified, parsed strictly: ./state-manifest.ts), then its config and layers, each streamed
 * into the content store with its declared size and digest verified and never more than its
 * declared size read. The state's declared total is bounded (the pull's checkpointMaxBytes,
 * DEFAULT_CHECKPOINT_MAX_BYTES by default) and refused before any of it downloads.
 */
import { Transform } from 'node:stream';
import type { ContentStore } from '../content';
import type { RegistryClient } from '../registry/client';
import { MediaType, type Descriptor, type ManifestIndex } from '../registry/manifest';
import { sha256Digest, shortId } from '../digest';
import { InvalidArgumentError, UnavailableError } from '../../errors';
import { CHECKPOINT_FOR, CHECKPOINT_MANIFEST_MAX } from './media-types';
import { parseStateManifest, stateBlobs, stateBytes, type StateManifest } from './state-manifest';

/** Most bytes a pulled (or loaded) state may declare by default: 8 GiB. */
export const DEFAULT_CHECKPOINT_MAX_BYTES = 8 * 1024 * 1024 * 1024;
const PROGRESS_INTERVAL_MS = 100;

/** A state manifest fetched and checked. */
export interface FetchedState {
  digest: string;
  body: Buffer;
  manifest: StateManifest;
}

/** How a state blob moved on (reported as a layer of the pull, by short digest). */
export type StateProgress = (
  layer: string,
  phase: 'exists' | 'queued' | 'downloading' | 'complete',
  current?: number,
  total?: number,
) => void;

/** The entry of `index` holding the saved state of image manifest `imageManifest`, if any (the first). */
export function checkpointEntry(index: ManifestIndex, imageManifest: string): Descriptor | undefined {
  return index.manifests.find((m) => m.annotations?.[CHECKPOINT_FOR] === imageManifest && m.digest !== imageManifest);
}

/**
 * Check a state's declared total against `maxBytes`: InvalidArgumentError, naming both, when it
 * is larger.
 */
export function checkStateSize(manifest: StateManifest, maxBytes: number): void {
  const total = stateBytes(manifest);
  if (total > maxBytes)
    throw new InvalidArgumentError(
      `checkpoint state of ${total} bytes is larger than the ${maxBytes} bytes allowed (checkpointMaxBytes)`,
    );
}

/**
 * Fetch the state manifest `desc` names and check it (media type, size, digest, shape, the
 * declared total against `maxBytes`). InvalidArgumentError, saying what is wrong, otherwise.
 */
export async function fetchStateManifest(
  client: RegistryClient,
  desc: Descriptor,
  maxBytes: number,
): Promise<FetchedState> {
  const what = `checkpoint state manifest ${desc.digest}`;
  if (desc.mediaType !== MediaType.OciManifest)
    throw new InvalidArgumentError(
      `${what}: media type ${JSON.stringify(desc.mediaType)}, not ${MediaType.OciManifest}`,
    );
  if (desc.size > CHECKPOINT_MANIFEST_MAX)
    throw new InvalidArgumentError(`${what}: ${desc.size} bytes, more than ${CHECKPOINT_MANIFEST_MAX}`);
  const { body } = await client.getManifest(desc.digest);
  if (body.length !== desc.size || sha256Digest(body) !== desc.digest)
    throw new InvalidArgumentError(`manifest verification failed for digest ${desc.digest}`);
  const manifest = parseStateManifest(body);
  checkStateSize(manifest, maxBytes);
  return { digest: desc.digest, body, manifest };
}

/** Fails a stream that carries more than `max` bytes. */
function limit(max: number, what: string, report: (current: number) => void): Transform {
  let seen = 0;
  let last = 0;
  return new Transform({
    transform(chunk: Buffer, _e, cb) {
      seen += chunk.length;
      if (seen > max) return cb(new InvalidArgumentError(`${what}: the registry sent more than ${max} bytes`));
      const now = Date.now();
      if (now - last >= PROGRESS_INTERVAL_MS) {
        last = now;
        report(seen);
      }
      cb(null, chunk);
    },
  });
}

/**
 * Download the blobs of `state` that the content store lacks, one at a time, each verified by
 * content.ingest, then store the manifest itself. Resolves with the digests it stored (for the
 * caller to collect should the pull fail later); on failure, what it stored is in `added` too.
 */
export async function fetchStateBlobs(
  client: RegistryClient,
  content: ContentStore,
  state: FetchedState,
  progress: StateProgress,
  signal: AbortSignal | undefined,
  added: string[] = [],
): Promise<string[]> {
  const todo = [];
  for (const b of stateBlobs(state.manifest)) {
    if (await content.has(b.digest)) progress(shortId(b.digest), 'exists');
    else {
      progress(shortId(b.digest), 'queued');
      todo.push(b);
    }
  }
  for (const b of todo) {
    if (signal?.aborted) throw new UnavailableError('pull canceled');
    const short = shortId(b.digest);
    const what = `checkpoint state blob ${b.digest}`;
    const blob = await client.getBlob(b.digest);
    const abort = () => blob.stream.destroy(new UnavailableError('pull canceled'));
    signal?.addEventListener('abort', abort);
    try {
      const guarded = blob.stream.pipe(
        limit(b.size, what, (current) => progress(short, 'downloading', current, b.size)),
      );
      blob.stream.on('error', (e) => guarded.destroy(e));
      await content.ingest(guarded, { digest: b.digest, size: b.size }, what);
    } finally {
      signal?.removeEventListener('abort', abort);
      blob.stream.destroy();
    }
    added.push(b.digest);
    progress(short, 'downloading', b.size, b.size);
    progress(short, 'complete');
  }
  if (!(await content.has(state.digest))) {
    await content.put(state.body, { digest: state.digest }, 'checkpoint state manifest');
    added.push(state.digest);
  }
  return added;
}
