/**
 * `docker save`: images written as a docker-archive, the tar dockerd 20.10 writes and reads:
 *
 *   <config hex>.json                 the image config, byte for byte (its sha256 is the image ID)
 *   <layer id>/VERSION, json, layer.tar   one directory per layer; layer.tar is the uncompressed
 *                                     layer whose sha256 is the config's diff_id
 *   manifest.json                     [{Config, RepoTags, Layers}] per image
 *   repositories                      {repo: {tag: top layer id}} when any image has tags
 *
 * Layer tars come from the layer blobs kept in the content store (decoded when compressed) and
 * are checked against their diff IDs while they stream: a blob that no longer matches fails
 * the archive rather than producing one dockerd would refuse. Layer directory names are
 * derived from chain IDs, so two images sharing layers share their directories.
 *
 * A checkpoint image's attached state goes along, under blobs/sha256/ with the attachments in
 * podvisor-checkpoints.json (../checkpoint-image/state-archive.ts), which dockerd ignores.
 */
import * as fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { pipeline as pipelineCb, type Readable } from 'node:stream';
import * as tar from 'tar-stream';
import type { ContentStore } from '../content';
import type { LayerBlob, LayerStore } from '../layers/store';
import type { ImageStore, StoredImageView } from '../images';
import { packEntry, writeEntry, type TarHeader } from '../tar-pack';
import { decodeStream } from '../decompress';
import { HashingStream, chainIds, digestHex, sha256Digest } from '../digest';
import { familiarName, parseReference, parseTagged, type ImageReference } from '../reference';
import { NotFoundError, NotImplementedError } from '../../errors';
import { NoSuchImageError } from '../errors';
import { writeStates } from '../checkpoint-image/state-archive';

/** One image to put in an archive and the tags it is saved under. */
interface SaveItem {
  image: StoredImageView;
  /** Familiar `name:tag` strings, or none when the image was named by ID. */
  tags: string[];
}

/** The per-layer directory name: a hash of the layer's chain ID (stable, shared between images). */
export function layerDirName(chainId: string): string {
  return digestHex(sha256Digest(`docker-archive layer ${chainId}`));
}

/**
 * Resolve `docker save` names as dockerd does: an ID saves the image without tags, `name:tag`
 * saves that tag, a bare repository name saves every tag of it. NotFoundError when any is absent.
 */
export function resolveSaveNames(store: ImageStore, names: string[]): SaveItem[] {
  const items = new Map<string, SaveItem>();
  const add = (image: StoredImageView, tag?: string) => {
    const item = items.get(image.id) ?? { image, tags: [] };
    if (tag && !item.tags.includes(tag)) item.tags.push(tag);
    items.set(image.id, item);
  };
  for (const name of names) {
    let ref: ImageReference | undefined;
    try {
      ref = parseReference(name);
    } catch {
      ref = undefined;
    }
    if (ref && ref.tag === undefined && ref.digest === undefined) {
      const repo = familiarName(ref);
      const all = store
        .list()
        .flatMap((img) => img.repoTags.filter((t) => familiarName(parseTagged(t)) === repo).map((t) => ({ img, t })));
      if (all.length) {
        for (const { img, t } of all) add(img, t);
        continue;
      }
    }
    let image: StoredImageView;
    try {
      image = store.find(name);
    } catch (err) {
      // dockerd names the image as it was asked for (no `:latest` added).
      if (err instanceof NotFoundError) throw new NoSuchImageError(name);
      throw err;
    }
    if (ref && ref.digest === undefined && image.repoTags.length && !/^(sha256:)?[a-f0-9]+$/.test(name)) {
      const tagged = parseTagged(name);
      add(image, `${familiarName(tagged)}:${tagged.tag ?? 'latest'}`);
    } else add(image);
  }
  return [...items.values()];
}

/** The tar of a layer, from its blob. Destroying the returned stream closes the file too. */
function openLayerTar(content: ContentStore, blob: LayerBlob): Readable {
  const raw = fs.createReadStream(content.blobPath(blob.digest), { highWaterMark: 256 * 1024 });
  return decodeStream(raw, blob.compression);
}

/** Uncompressed size of a layer's tar (recorded at pull or load; counted once otherwise). */
async function tarSize(content: ContentStore, blob: LayerBlob): Promise<number> {
  if (blob.tarSize !== undefined) return blob.tarSize;
  let n = 0;
  for await (const c of openLayerTar(content, blob) as AsyncIterable<Buffer>) n += c.length;
  return n;
}

/** Write one entry whose bytes come from a stream, checking its sha256 against `diffId`. */
async function addStreamEntry(pack: tar.Pack, header: TarHeader, source: Readable, diffId: string): Promise<void> {
  const hasher = new HashingStream();
  const { entry, done } = packEntry(pack, header);
  // Leaving the loop early destroys `hasher`, which (through the pipeline) closes the layer file.
  for await (const chunk of pipelineCb(source, hasher, () => undefined) as AsyncIterable<Buffer>)
    await writeEntry(entry, chunk);
  entry.end(undefined);
  await done;
  if (hasher.digest() !== diffId)
    throw new Error(`layer ${diffId}: the stored blob no longer matches its diff ID (got ${hasher.digest()})`);
}

/** Everything save needs, checked before the first byte is written. */
export async function prepareSave(store: ImageStore, layers: LayerStore, names: string[]): Promise<SaveItem[]> {
  const items = resolveSaveNames(store, names);
  for (const { image } of items) {
    for (const d of image.layers) {
      if (!layers.has(d)) throw new NotFoundError(`layer ${d} of image ${image.id} not found`);
      if (!layers.get(d).blob) {
        throw new NotImplementedError(
          `layer ${d} was stored before podvisor kept layer blobs; ` +
            'remove the image (docker rmi) and pull it again to save it',
        );
      }
    }
  }
  return items;
}

/**
 * Stream the archive of `items` (from prepareSave) into `out`. Rejects, after destroying
 * the stream, when a layer cannot be read back exactly or `out` closes early (the client went
 * away); the layers stay held against gc (an rmi meanwhile) until then, and every file opened
 * for the archive is closed by the time it settles.
 */
export async function writeSaveArchive(
  content: ContentStore,
  layers: LayerStore,
  items: SaveItem[],
  out: NodeJS.WritableStream,
): Promise<void> {
  const release = layers.hold([...new Set(items.flatMap((i) => i.image.layers))]);
  const configs = new Map<string, Buffer>();
  try {
    for (const { image } of items) if (!configs.has(image.id)) configs.set(image.id, await content.read(image.id));
  } catch (err) {
    release();
    throw err;
  }
  const pack = tar.pack();
  const piped = pipeline(pack as unknown as Readable, out);
  // Awaited below; a client going away rejects it while entries are still being added.
  piped.catch(() => undefined);
  try {
    const written = new Set<string>();
    const manifest: Array<{ Config: string; RepoTags: string[] | null; Layers: string[] }> = [];
    const repositories: Record<string, Record<string, string>> = {};
    for (const { image, tags } of items) {
      const mtime = image.config.created ? new Date(image.config.created) : new Date(0);
      const configName = `${digestHex(image.id)}.json`;
      if (!written.has(configName)) {
        written.add(configName);
        packEntry(pack, { name: configName, mode: 0o644, mtime }, configs.get(image.id));
      }
      const chains = chainIds(image.layers);
      const paths: string[] = [];
      let parent: string | undefined;
      for (let i = 0; i < image.layers.length; i++) {
        const dir = layerDirName(chains[i]);
        paths.push(`${dir}/layer.tar`);
        if (!written.has(dir)) {
          written.add(dir);
          const blob = layers.get(image.layers[i]).blob as LayerBlob;
          const v1 = {
            id: dir,
            ...(parent ? { parent } : {}),
            created: mtime.toISOString(),
            container_config: { Cmd: null },
            os: image.config.os,
          };
          packEntry(pack, { name: `${dir}/`, type: 'directory', mode: 0o755, mtime });
          packEntry(pack, { name: `${dir}/VERSION`, mode: 0o644, mtime }, '1.0');
          packEntry(pack, { name: `${dir}/json`, mode: 0o644, mtime }, JSON.stringify(v1));
          const size = await tarSize(content, blob);
          await addStreamEntry(
            pack,
            { name: `${dir}/layer.tar`, mode: 0o644, mtime, size },
            openLayerTar(content, blob),
            image.layers[i],
          );
        }
        parent = dir;
      }
      manifest.push({ Config: configName, RepoTags: tags.length ? tags : null, Layers: paths });
      for (const t of tags) {
        const ref = parseTagged(t);
        const repo = familiarName(ref);
        repositories[repo] = { ...(repositories[repo] ?? {}), [ref.tag ?? 'latest']: parent ?? '' };
      }
    }
    const states = Object.fromEntries(
      items.flatMap(({ image }) => (image.checkpoint ? [[image.id, image.checkpoint] as const] : [])),
    );
    await writeStates(pack, content, states);
    packEntry(pack, { name: 'manifest.json', mode: 0o644, mtime: new Date(0) }, JSON.stringify(manifest));
    if (Object.keys(repositories).length)
      packEntry(pack, { name: 'repositories', mode: 0o644, mtime: new Date(0) }, JSON.stringify(repositories));
    pack.finalize();
    await piped;
  } catch (err) {
    pack.destroy(err as Error);
    await piped.catch(() => undefined);
    throw err;
  } finally {
    release();
  }
}
