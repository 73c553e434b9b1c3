/**
 * `docker load`: images from a docker-archive (ours or dockerd's) into the stores. The archive
 * is spooled first (read.ts: nothing in it names a host path), then every manifest entry is
 * checked before anything is stored: its config must parse and list one diff ID per layer, and
 * each layer must be present. Layers are then imported one by one: the tar (plain or compressed)
 * streams through a sha256 that must equal the config's diff ID, through the hardened
 * extractor (src/storage/extract.ts) into a fresh layer-store directory, and through gzip into
 * the content store (the blob a later save or push uses). Tags are set last.
 *
 * Checkpoint images' saved states (../checkpoint-image/state-archive.ts) are checked with the
 * manifest entries, stored before the images (their blobs digest-checked, their total bounded
 * by the limits' checkpointMaxBytes) and attached once the images are; a load that fails
 * leaves none of the state blobs it stored.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import type { Readable } from 'node:stream';
import type { ContentStore } from '../content';
import type { LayerStore } from '../layers/store';
import type { ImageStore } from '../images';
import type { ImageConfig } from '../types';
import { spoolArchive, type ArchiveLimits, type SpooledArchive } from './read';
import { storeLayerTar } from './layer-in';
import { chainIds, hasValidDiffIds, shortId, sha256Digest } from '../digest';
import { familiarString, parseTagged, type ImageReference } from '../reference';
import { MAGIC_BYTES, decodeStream, detectCompression } from '../decompress';
import { InvalidArgumentError } from '../../errors';
import { planStates, storeStates } from '../checkpoint-image/state-archive';

/** What a load reports as it goes (worded for the Docker API by src/api/v1.41/json/image-archive.ts). */
export type LoadEvent =
  /** Bytes of a layer's tar read so far (`layer`: short chain ID, as dockerd shows). */
  | { kind: 'layer'; layer: string; current: number; total: number }
  /** A tag moved away from another image, which keeps its ID. */
  | { kind: 'renamed'; reference: string; oldId: string }
  /** An image was stored under a tag. */
  | { kind: 'loaded'; reference: string }
  /** An image without tags was stored. */
  | { kind: 'loaded-id'; id: string };

/** One checked manifest entry. */
interface LoadPlan {
  configBytes: Buffer;
  config: ImageConfig;
  layerFiles: string[];
  refs: ImageReference[];
}

/** Check a manifest.json entry and the members it names; InvalidArgumentError when anything is off. */
function planEntry(archive: SpooledArchive, entry: unknown, index: number): LoadPlan {
  const e = entry as { Config?: unknown; RepoTags?: unknown; Layers?: unknown };
  if (
    !e ||
    typeof e !== 'object' ||
    typeof e.Config !== 'string' ||
    !Array.isArray(e.Layers) ||
    !e.Layers.every((l) => typeof l === 'string')
  ) {
    throw new InvalidArgumentError(`invalid archive: manifest.json entry ${index} is not {Config, RepoTags, Layers}`);
  }
  const tags = e.RepoTags === null || e.RepoTags === undefined ? [] : e.RepoTags;
  if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string'))
    throw new InvalidArgumentError(`invalid archive: RepoTags of manifest.json entry ${index} is not a list of names`);
  const refs = tags.map((t: string) => {
    const r = parseTagged(t);
    if (r.digest !== undefined) throw new InvalidArgumentError(`invalid archive: invalid tag ${JSON.stringify(t)}`);
    return r;
  });
  const configFile = archive.file(e.Config);
  if (!configFile) throw new InvalidArgumentError(`invalid archive: config ${e.Config} is missing`);
  archive.json(e.Config);
  const configBytes = fs.readFileSync(configFile);
  const config = JSON.parse(configBytes.toString('utf8')) as ImageConfig;
  if (!hasValidDiffIds(config))
    throw new InvalidArgumentError(`invalid archive: config ${e.Config} has no valid rootfs.diff_ids`);
  if (config.rootfs.diff_ids.length !== e.Layers.length) {
    throw new InvalidArgumentError(
      `invalid archive: ${e.Config} lists ${config.rootfs.diff_ids.length} diff IDs ` +
        `but the manifest names ${e.Layers.length} layers`,
    );
  }
  const layerFiles = (e.Layers as string[]).map((l) => {
    const f = archive.file(l);
    if (!f) throw new InvalidArgumentError(`invalid archive: layer ${l} is missing`);
    return f;
  });
  return { configBytes, config, layerFiles, refs };
}

/** The layer's bytes as a tar: decompressed when the member is compressed (dockerd accepts gzip, bzip2 and xz). */
async function openTar(file: string): Promise<Readable> {
  const fh = await fs.promises.open(file, 'r');
  const head = Buffer.alloc(MAGIC_BYTES);
  const { bytesRead } = await fh.read(head, 0, MAGIC_BYTES, 0);
  await fh.close();
  const raw = fs.createReadStream(file, { highWaterMark: 256 * 1024 });
  return decodeStream(raw, detectCompression(head.subarray(0, bytesRead)));
}

/** Loads docker-archives into the stores. */
export class ArchiveLoader {
  constructor(
    private readonly content: ContentStore,
    private readonly layers: LayerStore,
    private readonly images: ImageStore,
    /** Where archives are spooled while loading (a directory of the data root). */
    private readonly spoolRoot: string,
    private readonly limits: ArchiveLimits = {},
  ) {}

  /** Load every image of the archive `source`. Resolves with the image IDs stored. */
  async load(source: Readable, emit: (e: LoadEvent) => void = () => undefined): Promise<string[]> {
    await fs.promises.mkdir(this.spoolRoot, { recursive: true, mode: 0o700 });
    const spool = path.join(this.spoolRoot, crypto.randomBytes(8).toString('hex'));
    await fs.promises.mkdir(spool, { mode: 0o700 });
    try {
      const archive = await spoolArchive(source, spool, this.limits);
      if (!archive.has('manifest.json')) {
        throw new InvalidArgumentError(
          'invalid archive: no manifest.json (only docker-archive tars, as docker save writes them, can be loaded)',
        );
      }
      const manifest = archive.json('manifest.json');
      if (!Array.isArray(manifest)) throw new InvalidArgumentError('invalid archive: manifest.json is not a list');
      const plans = manifest.map((entry, i) => planEntry(archive, entry, i));
      const states = planStates(
        archive,
        plans.map((p) => sha256Digest(p.configBytes)),
        this.limits.checkpointMaxBytes,
      );
      const added: string[] = [];
      try {
        await storeStates(this.content, states, added);
        const ids: string[] = [];
        for (const plan of plans) ids.push(await this.loadOne(plan, emit));
        for (const s of states) await this.images.attachCheckpoint(s.imageId, s.digest, 'archive');
        return ids;
      } catch (err) {
        await this.images.collectUnattached(added).catch(() => undefined);
        throw err;
      }
    } finally {
      await fs.promises.rm(spool, { recursive: true, force: true });
    }
  }

  private async loadOne(plan: LoadPlan, emit: (e: LoadEvent) => void): Promise<string> {
    const diffIds = plan.config.rootfs.diff_ids;
    const release = this.layers.hold(diffIds);
    try {
      const chains = chainIds(diffIds);
      for (let i = 0; i < diffIds.length; i++) {
        if (this.layers.has(diffIds[i]) && this.layers.get(diffIds[i]).blob) continue;
        await this.importLayer(plan.layerFiles[i], diffIds[i], i, shortId(chains[i]), emit);
      }
      const id = sha256Digest(plan.configBytes);
      await this.content.put(plan.configBytes, { digest: id }, 'image config');
      for (const r of plan.refs) {
        const old = this.images.byRef(r);
        if (old && old.id !== id) emit({ kind: 'renamed', reference: familiarString(r), oldId: old.id });
      }
      await this.images.commit({ id, config: plan.config, layers: diffIds, refs: plan.refs });
      if (plan.refs.length) for (const r of plan.refs) emit({ kind: 'loaded', reference: familiarString(r) });
      else emit({ kind: 'loaded-id', id });
      return id;
    } catch (err) {
      // Layers imported for an image that did not make it are nobody's: collect them now.
      release();
      await this.images.gc().catch(() => 0);
      throw err;
    } finally {
      release();
    }
  }

  /** Verify, unpack and keep (gzipped) one layer. */
  private async importLayer(
    file: string,
    diffId: string,
    index: number,
    short: string,
    emit: (e: LoadEvent) => void,
  ): Promise<void> {
    const total = (await fs.promises.stat(file)).size;
    await storeLayerTar(this.content, this.layers, await openTar(file), {
      expect: { diffId, index },
      onBytes: (read) => emit({ kind: 'layer', layer: short, current: Math.min(read, total), total }),
    });
    emit({ kind: 'layer', layer: short, current: total, total });
  }
}
