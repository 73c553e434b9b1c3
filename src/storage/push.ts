/**
 * Pushing an image to a registry: each layer's kept blob (the bytes it was pulled as, or our
 * gzip of a loaded tar), then the config, then a schema 2 manifest under the tag. A layer the
 * repository already has is skipped (HEAD); one that another repository of the same registry
 * has (known from the image's repo digests) is mounted from it when the registry allows.
 * Because the blobs are the kept ones and the manifest is written as dockerd writes it, a push
 * of a pulled image gives back its original manifest digest, and a re-pull the same image ID.
 *
 * A checkpoint image (an image with an attached saved state, ./image-index.ts) is pushed as
 * ./checkpoint-image/media-types.ts lays out: after the image's blobs, the state's config and
 * layers (reported as layers, by short digest), the state manifest and the image's schema 2
 * manifest, each put by its digest, then under the tag an OCI index of the two: the image's
 * manifest with its platform, the state's with the platform unknown/unknown and the annotation
 * CHECKPOINT_FOR naming the image manifest. The tag's digest (the `tagged` event, the image's
 * repo digest) is then the index's.
 */
import * as fs from 'node:fs';
import { Transform } from 'node:stream';
import type { ContentStore } from './content';
import type { LayerBlob, LayerStore } from './layers/store';
import type { ImageStore, StoredImageView } from './images';
import type { RegistryHosts } from './registry/hosts';
import type { AuthConfig } from './registry/auth';
import { RegistryClient, RegistryError } from './registry/client';
import { MediaType } from './registry/manifest';
import { sha256Digest, shortId } from './digest';
import { familiarName, parseTagged, type ImageReference } from './reference';
import { CHECKPOINT_ARTIFACT_TYPE, CHECKPOINT_FOR } from './checkpoint-image/media-types';
import { OCI_MANIFEST_TYPE, readStateManifest } from './checkpoint-image/state-manifest';
import { NotFoundError, NotImplementedError, PodvisorError, UnavailableError } from '../errors';

/** What a push reports, in order (worded for the Docker API by src/api/v1.41/json/push-progress.ts). */
export type PushEvent =
  /** The push of `repository` (familiar name) begins. */
  | { kind: 'started'; repository: string }
  /** A layer (short diff ID) moved on; byte counts while pushing. */
  | {
      kind: 'layer';
      layer: string;
      phase: 'preparing' | 'pushing' | 'pushed' | 'exists';
      current?: number;
      total?: number;
    }
  /** A layer was mounted from another repository (`from`, its registry path). */
  | { kind: 'mounted'; layer: string; from: string }
  /** The manifest is stored under `tag`. */
  | { kind: 'tagged'; tag: string; digest: string; size: number };

/** Options of one push. */
export interface PushOptions {
  auth?: AuthConfig;
  onProgress?: (e: PushEvent) => void;
}

const PROGRESS_INTERVAL_MS = 100;

/**
 * The schema 2 manifest of an image, byte for byte as dockerd writes it (3-space indent). A
 * zstd blob, which schema 2 has no type for, is listed with OCI's zstd layer type.
 */
export function schema2Manifest(configDigest: string, configSize: number, blobs: LayerBlob[]): Buffer {
  const types: Record<LayerBlob['compression'], string> = {
    gzip: MediaType.DockerLayerGzip,
    zstd: MediaType.OciLayerZstd,
    none: 'application/vnd.docker.image.rootfs.diff.tar',
  };
  const layerType = (b: LayerBlob) => types[b.compression];
  const m = {
    schemaVersion: 2,
    mediaType: MediaType.DockerManifest,
    config: { mediaType: MediaType.DockerConfig, size: configSize, digest: configDigest },
    layers: blobs.map((b) => ({ mediaType: layerType(b), size: b.size, digest: b.digest })),
  };
  return Buffer.from(JSON.stringify(m, null, 3));
}

/**
 * The OCI index a checkpoint image is tagged with: its image manifest (`image`, with the
 * image's platform) and its state manifest (`state`, platform unknown/unknown, annotated with
 * CHECKPOINT_FOR naming the image manifest). Written with dockerd's 3-space indent.
 */
export function checkpointIndex(
  image: { digest: string; size: number; mediaType: string },
  platform: { os: string; architecture: string; variant?: string },
  state: { digest: string; size: number },
): Buffer {
  const index = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: [
      {
        mediaType: image.mediaType,
        digest: image.digest,
        size: image.size,
        platform: {
          os: platform.os,
          architecture: platform.architecture,
          ...(platform.variant ? { variant: platform.variant } : {}),
        },
      },
      {
        mediaType: OCI_MANIFEST_TYPE,
        artifactType: CHECKPOINT_ARTIFACT_TYPE,
        digest: state.digest,
        size: state.size,
        platform: { os: 'unknown', architecture: 'unknown' },
        annotations: { [CHECKPOINT_FOR]: image.digest },
      },
    ],
  };
  return Buffer.from(JSON.stringify(index, null, 3));
}

/** Pushes images from the stores. */
export class Pusher {
  constructor(
    private readonly content: ContentStore,
    private readonly layers: LayerStore,
    private readonly images: ImageStore,
    private readonly hosts: RegistryHosts,
  ) {}

  /**
   * Push `ref` (with a tag), or every tag of its repository when it has none. NotFoundError
   * (dockerd's words) when nothing local matches; errors before the first event are the
   * caller's to answer as HTTP errors.
   */
  async push(ref: ImageReference, opts: PushOptions = {}): Promise<void> {
    const emit = opts.onProgress ?? (() => undefined);
    const name = familiarName(ref);
    const targets: Array<{ tag: string; image: StoredImageView }> = [];
    if (ref.tag !== undefined) {
      const image = this.images.byRef(ref);
      if (!image) throw new NotFoundError(`An image does not exist locally with the tag: ${name}`);
      targets.push({ tag: ref.tag, image });
    } else {
      for (const image of this.images.list()) {
        for (const t of image.repoTags) {
          const r = parseTagged(t);
          if (r.domain === ref.domain && r.path === ref.path && r.tag) targets.push({ tag: r.tag, image });
        }
      }
      if (!targets.length) throw new NotFoundError(`An image does not exist locally with the tag: ${name}`);
    }
    for (const t of targets) {
      for (const d of t.image.layers) {
        if (!this.layers.get(d).blob)
          throw new NotImplementedError(
            `layer ${d} was stored before podvisor kept layer blobs; ` +
              'remove the image (docker rmi) and pull it again to push it',
          );
      }
    }
    const client = new RegistryClient(ref.domain, ref.path, this.hosts, opts.auth, 'pull,push');
    emit({ kind: 'started', repository: name });
    try {
      for (const t of targets) await this.pushOne(client, ref, t.tag, t.image, emit);
    } catch (err) {
      if (err instanceof PodvisorError) throw err;
      if (err instanceof RegistryError) throw new UnavailableError(err.errors.length ? err.detail() : err.message);
      throw new UnavailableError(err instanceof Error ? err.message : String(err));
    }
  }

  private async pushOne(
    client: RegistryClient,
    ref: ImageReference,
    tag: string,
    image: StoredImageView,
    emit: (e: PushEvent) => void,
  ): Promise<void> {
    const blobs = image.layers.map((d) => this.layers.get(d).blob as LayerBlob);
    // dockerd lists the layers top first.
    const order = image.layers.map((d, i) => ({ d, blob: blobs[i] })).reverse();
    for (const { d } of order) emit({ kind: 'layer', layer: shortId(d), phase: 'preparing' });
    const sources = image.repoDigests
      .map((r) => parseTagged(r.replace(/@.*$/, '')))
      .filter((r) => r.domain === ref.domain && r.path !== ref.path)
      .map((r) => r.path);
    const done = new Set<string>();
    for (const { d, blob } of order) {
      const short = shortId(d);
      if (done.has(blob.digest) || (await client.hasBlob(blob.digest))) {
        done.add(blob.digest);
        emit({ kind: 'layer', layer: short, phase: 'exists' });
        continue;
      }
      let mounted: string | undefined;
      for (const from of sources) {
        if (await client.mountBlob(blob.digest, from).catch(() => false)) {
          mounted = from;
          break;
        }
      }
      if (mounted) emit({ kind: 'mounted', layer: short, from: mounted });
      else {
        await this.uploadBlob(client, blob, short, emit);
        emit({ kind: 'layer', layer: short, phase: 'pushed' });
      }
      done.add(blob.digest);
    }
    const config = await this.content.read(image.id);
    await client.pushBlob(image.id, config);
    const manifest = schema2Manifest(image.id, config.length, blobs);
    const manifestDigest = sha256Digest(manifest);
    await this.content.put(manifest, { digest: manifestDigest }, 'manifest');
    let top = manifest;
    const checkpoint = this.images.checkpointOf(image.id);
    if (checkpoint === undefined) await client.putManifest(tag, MediaType.DockerManifest, manifest);
    else {
      const state = await this.pushState(client, checkpoint, emit);
      await client.putManifest(manifestDigest, MediaType.DockerManifest, manifest);
      const variant = (image.config as { variant?: unknown }).variant;
      top = checkpointIndex(
        { mediaType: MediaType.DockerManifest, digest: manifestDigest, size: manifest.length },
        {
          os: image.config.os,
          architecture: image.config.architecture,
          ...(typeof variant === 'string' ? { variant } : {}),
        },
        { digest: checkpoint, size: state.length },
      );
      await client.putManifest(tag, MediaType.OciIndex, top);
      await this.content.put(top, undefined, 'index');
    }
    const digest = sha256Digest(top);
    await this.images.commit({
      id: image.id,
      config: image.config,
      layers: image.layers,
      refs: [{ domain: ref.domain, path: ref.path, digest }],
    });
    emit({ kind: 'tagged', tag, digest, size: top.length });
  }

  /**
   * Upload a checkpoint image's saved state: its config and layers (a blob the repository has
   * is skipped), then its manifest by digest. Resolves with the manifest's bytes.
   */
  private async pushState(client: RegistryClient, checkpoint: string, emit: (e: PushEvent) => void): Promise<Buffer> {
    const state = await readStateManifest(this.content, checkpoint);
    const body = await this.content.read(checkpoint);
    const layers = state.layers.filter((l, i) => state.layers.findIndex((x) => x.digest === l.digest) === i);
    for (const l of layers) emit({ kind: 'layer', layer: shortId(l.digest), phase: 'preparing' });
    await client.pushBlob(state.config.digest, await this.content.read(state.config.digest));
    for (const l of layers) {
      const short = shortId(l.digest);
      if (await client.hasBlob(l.digest)) {
        emit({ kind: 'layer', layer: short, phase: 'exists' });
        continue;
      }
      await this.uploadBlob(client, l, short, emit);
      emit({ kind: 'layer', layer: short, phase: 'pushed' });
    }
    await client.putManifest(checkpoint, OCI_MANIFEST_TYPE, body);
    return body;
  }

  private async uploadBlob(
    client: RegistryClient,
    blob: { digest: string; size: number },
    short: string,
    emit: (e: PushEvent) => void,
  ): Promise<void> {
    const path = this.content.blobPath(blob.digest);
    await client.pushBlob(
      blob.digest,
      {
        size: blob.size,
        open: () => {
          let current = 0;
          let last = 0;
          const counter = new Transform({
            transform(chunk: Buffer, _e, cb) {
              current += chunk.length;
              const now = Date.now();
              if (now - last >= PROGRESS_INTERVAL_MS || current === blob.size) {
                last = now;
                emit({ kind: 'layer', layer: short, phase: 'pushing', current, total: blob.size });
              }
              cb(null, chunk);
            },
          });
          const file = fs.createReadStream(path, { highWaterMark: 256 * 1024 });
          file.on('error', (e) => counter.destroy(e));
          return file.pipe(counter);
        },
      },
      true,
    );
  }
}
