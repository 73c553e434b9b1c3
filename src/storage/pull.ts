/**
 * Pulling an image: manifest (choosing a platform from a list), config, then the layers,
 * three at a time like dockerd, each streamed from the registry through a sha256 of the
 * compressed bytes, the decoder its media type names (gzip, zstd or none: decompress.ts), a
 * sha256 of the tar (the diff ID) and the extractor, straight into a fresh layer-store
 * directory; the compressed bytes are kept as they came. Only when both digests match is the
 * layer committed, and its blob with it; only when every layer is committed is the image
 * recorded and tagged. A failure, or a client that goes away, leaves nothing half done:
 * finished layers stay (a later pull reuses them), the unfinished ones are discarded.
 *
 * Progress is reported as dockerd's JSON messages (status, id, progressDetail), in its order:
 * Pulling from, Pulling fs layer / Already exists, Waiting, Downloading, Verifying Checksum,
 * Download complete, Extracting, Pull complete, Digest, Status.
 *
 * A checkpoint image (an index whose entry annotated CHECKPOINT_FOR names the chosen manifest:
 * ./checkpoint-image/media-types.ts) brings its saved state along: the state manifest is
 * fetched and checked first (a state larger than `checkpointMaxBytes` is refused before
 * anything downloads), its blobs after the image's layers (reported as layers), and it is
 * attached to the image once the image is recorded. A state that fails a check fails the pull
 * before the image is recorded (its layers stay for a later pull) and leaves none of its blobs.
 */
import { PassThrough, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ContentStore, StagedBlob } from './content';
import type { LayerStore } from './layers/store';
import type { ImageStore } from './images';
import type { ImageConfig } from './types';
import { RegistryClient, RegistryError } from './registry/client';
import type { RegistryHosts } from './registry/hosts';
import type { AuthConfig } from './registry/auth';
import {
  formatPlatform,
  hostPlatform,
  layerCompression,
  parseManifest,
  selectManifest,
  type Descriptor,
  type ImageManifest,
  type Platform,
} from './registry/manifest';
import { HashingStream, hasValidDiffIds, sha256Digest, shortId } from './digest';
import { LayerUnpack, sizeGuard, teeWriter } from './pull-layer';
import { familiarName, familiarString, type ImageReference } from './reference';
import { InvalidArgumentError, PodvisorError, UnavailableError } from '../errors';
import { ManifestNotFoundError, PullForbiddenError, PullUnauthorizedError, RegistryFailureError } from './errors';
import { logger } from '../util/log';
import {
  DEFAULT_CHECKPOINT_MAX_BYTES,
  checkpointEntry,
  fetchStateBlobs,
  fetchStateManifest,
  type FetchedState,
} from './checkpoint-image/state-pull';

const log = logger('pull');

/** Where one layer of a pull is. */
export type LayerPhase =
  /** Already in the layer store: nothing to fetch. */
  | 'exists'
  /** To be fetched. */
  | 'queued'
  /** Queued behind the downloads running now. */
  | 'waiting'
  /** Bytes arriving (`current` of `total`). */
  | 'downloading'
  /** Downloaded and its digest checked. */
  | 'downloaded'
  /** Being committed to the layer store. */
  | 'extracting'
  /** In the layer store. */
  | 'complete';

/**
 * What a pull reports as it goes, in the order it happens (a front end words it: the Docker
 * API as dockerd's progress messages, src/api/v1.41/json/pull-progress.ts).
 */
export type PullEvent =
  /** The manifest was found: `repository` (registry path) at `tagOrDigest`. */
  | { kind: 'resolved'; repository: string; tagOrDigest: string }
  /** A layer (short digest `layer`) moved to `phase`; byte counts while downloading or extracting. */
  | { kind: 'layer'; layer: string; phase: LayerPhase; current?: number; total?: number }
  /** The image is stored under `reference`; `updated` when the reference now names another image. */
  | { kind: 'stored'; digest: string; reference: string; updated: boolean }
  /** A single-platform image whose platform is not the one asked for (pulled anyway, as dockerd). */
  | { kind: 'platform-mismatch'; reference: string; wanted: string; actual: string }
  /** The image's read-only disk (short ID `image`) is being made, or was made (`made`). */
  | { kind: 'image-disk'; image: string; made: boolean };

/** Options of one pull. */
export interface PullOptions {
  platform?: Platform;
  auth?: AuthConfig;
  signal?: AbortSignal;
  onProgress?: (e: PullEvent) => void;
  /** Run once the image is stored, before the pull's closing status (its disk is made there). */
  afterStore?: (imageId: string) => Promise<void>;
  /**
   * Most bytes a checkpoint image's saved state may declare (its blobs together; default 8 GiB):
   * a larger one is refused before anything downloads.
   */
  checkpointMaxBytes?: number;
}

/** How many layers download at once (dockerd's max-concurrent-downloads default). */
export const MAX_CONCURRENT_DOWNLOADS = 3;
const PROGRESS_INTERVAL_MS = 100;

/** Counts bytes and reports them, at most every PROGRESS_INTERVAL_MS. */
class ProgressCounter extends Transform {
  current = 0;
  private last = 0;
  constructor(private readonly report: (current: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.current += chunk.length;
    const now = Date.now();
    if (now - this.last >= PROGRESS_INTERVAL_MS) {
      this.last = now;
      this.report(this.current);
    }
    cb(null, chunk);
  }
}

/** Turn a registry failure into storage's error classes (the Docker front end words them as dockerd). */
export function pullError(err: unknown, ref: ImageReference): Error {
  if (err instanceof PodvisorError) return err;
  if (!(err instanceof RegistryError)) return new UnavailableError(err instanceof Error ? err.message : String(err));
  const code = err.errors[0]?.code;
  const detail = err.errors.length ? err.detail() : undefined;
  if (err.status === 0 || err.noCredentials) return new UnavailableError(err.message);
  if (
    ref.domain === 'docker.io' &&
    (err.status === 401 || err.status === 403 || code === 'DENIED' || code === 'UNAUTHORIZED')
  ) {
    const name = familiarName(ref);
    return err.status === 403 ? new PullForbiddenError(name, detail) : new PullUnauthorizedError(name, detail);
  }
  if (err.status === 404 || code === 'MANIFEST_UNKNOWN' || code === 'NAME_UNKNOWN')
    return new ManifestNotFoundError(familiarString(ref), detail);
  return new RegistryFailureError(detail ?? err.message);
}

/** Pulls images into the stores. */
export class Puller {
  constructor(
    private readonly content: ContentStore,
    private readonly layers: LayerStore,
    private readonly images: ImageStore,
    private readonly hosts: RegistryHosts,
  ) {}

  /**
   * Pull `ref` (tag or digest required). Resolves once the image is stored and tagged.
   * Errors before any progress was reported are the caller's to answer as HTTP errors.
   */
  async pull(ref: ImageReference, opts: PullOptions = {}): Promise<{ id: string; updated: boolean }> {
    const emit = opts.onProgress ?? (() => undefined);
    const client = new RegistryClient(ref.domain, ref.path, this.hosts, opts.auth, 'pull', !!ref.digest);
    const tagOrDigest = ref.digest ?? ref.tag ?? 'latest';
    const want = opts.platform ?? hostPlatform();
    try {
      const top = await client.getManifest(tagOrDigest);
      const manifestDigest = sha256Digest(top.body);
      if (ref.digest && manifestDigest !== ref.digest) {
        throw new InvalidArgumentError(`manifest verification failed for digest ${ref.digest}`);
      }
      emit({ kind: 'resolved', repository: ref.path, tagOrDigest });
      let manifestBody = top.body;
      let parsed = parseManifest(top.body, top.contentType);
      let state: FetchedState | undefined;
      if (parsed.kind === 'index') {
        await this.content.put(top.body, { digest: manifestDigest }, 'manifest list');
        const chosen: Descriptor = selectManifest(parsed, want);
        const child = await client.getManifest(chosen.digest);
        if (sha256Digest(child.body) !== chosen.digest) {
          throw new InvalidArgumentError(`manifest verification failed for digest ${chosen.digest}`);
        }
        manifestBody = child.body;
        const stateDesc = checkpointEntry(parsed, chosen.digest);
        parsed = parseManifest(child.body, child.contentType);
        if (parsed.kind !== 'manifest') throw new InvalidArgumentError('manifest list points to another manifest list');
        if (stateDesc)
          state = await fetchStateManifest(client, stateDesc, opts.checkpointMaxBytes ?? DEFAULT_CHECKPOINT_MAX_BYTES);
      }
      const manifest: ImageManifest = parsed;
      await this.content.put(manifestBody, undefined, 'manifest');
      const config = await this.fetchConfig(client, manifest.config);
      const configPlatform = { os: config.os, architecture: config.architecture };
      let mismatch: PullEvent | undefined;
      if (
        opts.platform &&
        top.body === manifestBody &&
        (configPlatform.os !== want.os || configPlatform.architecture !== want.architecture)
      ) {
        // dockerd 20.10 pulls it anyway and says so at the end.
        mismatch = {
          kind: 'platform-mismatch',
          reference: familiarName(ref),
          wanted: formatPlatform({ os: want.os, architecture: want.architecture }),
          actual: formatPlatform(configPlatform),
        };
      }
      const diffIds = config.rootfs.diff_ids;
      if (diffIds.length !== manifest.layers.length) {
        throw new InvalidArgumentError(
          `invalid image: the manifest has ${manifest.layers.length} layers ` +
            `but the config lists ${diffIds.length} diff IDs`,
        );
      }
      const id = manifest.config.digest;
      if (!this.images.byId(id)) {
        await this.fetchLayers(client, manifest.layers, diffIds, emit, opts.signal);
      }
      const refs: ImageReference[] = [{ domain: ref.domain, path: ref.path, digest: manifestDigest }];
      if (ref.tag !== undefined && ref.digest === undefined)
        refs.unshift({ domain: ref.domain, path: ref.path, tag: ref.tag });
      const before = this.images.byRef(refs[0])?.id;
      const added: string[] = [];
      try {
        if (state) await this.fetchState(client, state, emit, opts.signal, added);
        await this.images.commit({ id, config, layers: diffIds, refs });
        if (state) await this.images.attachCheckpoint(id, state.digest, `registry:${ref.domain}`);
      } catch (err) {
        await this.images.collectUnattached(added).catch(() => undefined);
        throw err;
      }
      const updated = before !== id;
      await opts.afterStore?.(id);
      emit({ kind: 'stored', digest: manifestDigest, reference: familiarString(ref), updated });
      if (mismatch) emit(mismatch);
      return { id, updated };
    } catch (err) {
      throw pullError(err, ref);
    }
  }

  /** Download a checkpoint image's state blobs, reported as layers (see fetchStateBlobs). */
  private async fetchState(
    client: RegistryClient,
    state: FetchedState,
    emit: (e: PullEvent) => void,
    signal: AbortSignal | undefined,
    added: string[],
  ): Promise<void> {
    await fetchStateBlobs(
      client,
      this.content,
      state,
      (layer, phase, current, total) =>
        emit({ kind: 'layer', layer, phase, ...(current !== undefined ? { current, total } : {}) }),
      signal,
      added,
    );
  }

  private async fetchConfig(client: RegistryClient, desc: Descriptor): Promise<ImageConfig> {
    if (!(await this.content.has(desc.digest))) {
      if (desc.size > 16 * 1024 * 1024)
        throw new InvalidArgumentError(`image config of ${desc.size} bytes is too large`);
      const blob = await client.getBlob(desc.digest);
      await this.content.ingest(blob.stream, { digest: desc.digest, size: desc.size }, `image config ${desc.digest}`);
    }
    const raw = (await this.content.read(desc.digest)).toString('utf8');
    let config: ImageConfig;
    try {
      config = JSON.parse(raw) as ImageConfig;
    } catch {
      throw new InvalidArgumentError(`invalid image config ${desc.digest}: not JSON`);
    }
    if (!hasValidDiffIds(config))
      throw new InvalidArgumentError(`invalid image config ${desc.digest}: no valid rootfs.diff_ids`);
    return config;
  }

  private async fetchLayers(
    client: RegistryClient,
    layers: Descriptor[],
    diffIds: string[],
    emit: (e: PullEvent) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const release = this.layers.hold(diffIds);
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort);
    try {
      const todo: Array<{ desc: Descriptor; diffId: string; short: string }> = [];
      const seen = new Set<string>();
      for (let i = 0; i < layers.length; i++) {
        const short = shortId(layers[i].digest);
        if (this.layers.has(diffIds[i])) {
          emit({ kind: 'layer', layer: short, phase: 'exists' });
          continue;
        }
        if (seen.has(diffIds[i])) continue;
        seen.add(diffIds[i]);
        layerCompression(layers[i].mediaType);
        emit({ kind: 'layer', layer: short, phase: 'queued' });
        todo.push({ desc: layers[i], diffId: diffIds[i], short });
      }
      for (let i = MAX_CONCURRENT_DOWNLOADS; i < todo.length; i++)
        emit({ kind: 'layer', layer: todo[i].short, phase: 'waiting' });
      let next = 0;
      let failed: unknown;
      const worker = async () => {
        while (next < todo.length && failed === undefined) {
          const job = todo[next++];
          try {
            await this.fetchLayer(client, job.desc, job.diffId, job.short, emit, controller.signal);
          } catch (err) {
            if (failed === undefined) failed = err;
            controller.abort(err);
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(MAX_CONCURRENT_DOWNLOADS, todo.length) }, worker));
      if (failed !== undefined) throw failed;
      if (signal?.aborted) throw new UnavailableError('pull canceled');
    } finally {
      signal?.removeEventListener('abort', onAbort);
      release();
    }
  }

  /** Download, verify and unpack one layer into the layer store. */
  private async fetchLayer(
    client: RegistryClient,
    desc: Descriptor,
    diffId: string,
    short: string,
    emit: (e: PullEvent) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const compression = layerCompression(desc.mediaType);
    if (signal.aborted) return;
    const blob = await client.getBlob(desc.digest);
    const total = desc.size;
    const ingest = await this.layers.begin();
    const compressed = new HashingStream();
    const counter = new ProgressCounter((current) =>
      emit({ kind: 'layer', layer: short, phase: 'downloading', current, total }),
    );
    const abort = () => blob.stream.destroy(new UnavailableError('pull canceled'));
    signal.addEventListener('abort', abort);
    let kept: Promise<{ staged?: StagedBlob; error?: unknown }> | undefined;
    try {
      // Two halves (./pull-layer.ts): the download (counted, hashed) always runs to its end, so
      // a corrupt blob is reported as a digest mismatch even when the decoder or tar trips over
      // it first.
      const unpack = new LayerUnpack(compression, ingest.dir);
      // The compressed bytes are also kept, so save and push give the layer back unchanged;
      // they become visible in the content store only with the layer.
      const keep = new PassThrough({ highWaterMark: 1024 * 1024 });
      kept = this.content.stage(keep, { digest: desc.digest, size: total }, `layer ${desc.digest}`).then(
        (staged) => ({ staged }),
        (error: unknown) => ({ error }),
      );
      await pipeline(blob.stream, sizeGuard(desc, compressed), counter, compressed, teeWriter(keep, unpack)).catch(
        (e: unknown) => {
          keep.destroy(e as Error);
          throw e;
        },
      );
      if (compressed.bytes !== total || compressed.digest() !== desc.digest) {
        throw new InvalidArgumentError(
          `filesystem layer verification failed for digest ${desc.digest}: ` +
            `got ${compressed.digest()} (${compressed.bytes} bytes, expected ${total})`,
        );
      }
      const result = await unpack.result(desc);
      const uncompressed = unpack.tar;
      emit({ kind: 'layer', layer: short, phase: 'downloaded' });
      if (uncompressed.digest() !== diffId) {
        throw new InvalidArgumentError(
          `layer ${desc.digest}: diff ID mismatch: ` +
            `the image config says ${diffId}, the layer is ${uncompressed.digest()}`,
        );
      }
      emit({ kind: 'layer', layer: short, phase: 'extracting', current: total, total });
      const { staged, error } = await kept;
      if (!staged) throw error;
      await staged.commit();
      await ingest.commit(diffId, result.size, {
        digest: desc.digest,
        size: total,
        compression,
        mediaType: desc.mediaType,
        tarSize: uncompressed.bytes,
      });
      emit({ kind: 'layer', layer: short, phase: 'complete' });
    } catch (err) {
      blob.stream.destroy();
      await ingest.abort();
      await (await kept)?.staged?.discard();
      log.debug(`layer ${desc.digest} failed: ${(err as Error).message}`);
      throw err;
    } finally {
      signal.removeEventListener('abort', abort);
    }
  }
}
