/**
 * A container's writable layer into a new image (docker commit, and each RUN and COPY step of
 * a build): the upper directory packed as an OCI layer tar (./commit-tar.ts), stored as a
 * layer with its gzip blob (./commit-layer.ts), and an image recorded on top of the parent
 * (./commit-image.ts). A writable layer with no changes adds no layer (dockerd records an
 * `empty_layer` history entry then).
 */
import type { Readable } from 'node:stream';
import type { ContentStore } from './content';
import type { LayerStore } from './layers/store';
import type { ImageStore } from './images';
import type { ImageConfig } from './types';
import type { ImageReference } from './reference';
import { packUpper } from './commit-tar';
import { EMPTY_TAR_DIFF_ID, storeLayerTar } from './commit-layer';
import { childImageConfig, recordImage } from './commit-image';

/** The stores a commit writes to. */
export interface CommitStores {
  content: ContentStore;
  layers: LayerStore;
  images: ImageStore;
}

/** A layer tar made elsewhere (a block-mode container's guest), and its entry count once it has ended. */
export interface MadeLayer {
  stream: Readable;
  entries: Promise<number>;
}

/** A writable layer to commit and the image to record. */
export interface CommitInput {
  /** The overlay upper directory and the lower ones (top layer first). */
  upperDir: string;
  lowerDirs: string[];
  /** Block mode: the layer tar comes from here instead of upperDir (./archive/guest.ts). */
  layerTar?: () => Promise<MadeLayer>;
  /** The parent image's ID; undefined for FROM scratch. */
  parentId?: string;
  config: NonNullable<ImageConfig['config']>;
  createdBy: string;
  author?: string;
  comment?: string;
  container?: { id: string; config: Record<string, unknown> };
  dockerVersion?: string;
  refs?: ImageReference[];
  /** Record parentId as the new image's parent (a build step's image). */
  recordParent?: boolean;
}

/**
 * Store the writable layer as a layer (undefined when it holds no change). The returned
 * `release` must be called once the layer is referenced by an image (until then gc keeps it).
 */
export async function layerFromUpper(
  stores: CommitStores,
  upperDir: string,
  lowerDirs: string[],
): Promise<{ diffId?: string; release: () => void }> {
  const t = await packUpper(upperDir, lowerDirs);
  if (t.entries === 0) {
    t.stream.destroy();
    return { release: () => undefined };
  }
  const info = await storeLayerTar(t.stream, stores.content, stores.layers);
  const release = stores.layers.hold([info.diffId]);
  if (info.diffId === EMPTY_TAR_DIFF_ID) return { release };
  return { diffId: info.diffId, release };
}

/** Store a layer tar made elsewhere, as layerFromUpper (no layer when it holds no change). */
export async function layerFromTar(
  stores: CommitStores,
  t: MadeLayer,
): Promise<{ diffId?: string; release: () => void }> {
  const info = await storeLayerTar(t.stream, stores.content, stores.layers);
  const release = stores.layers.hold([info.diffId]);
  if (info.diffId === EMPTY_TAR_DIFF_ID || (await t.entries) === 0) return { release };
  return { diffId: info.diffId, release };
}

/** Commit a writable layer as a new image; resolves with its ID. */
export async function commitWritableLayer(stores: CommitStores, input: CommitInput): Promise<string> {
  const parent = input.parentId ? stores.images.config(input.parentId) : undefined;
  const { diffId, release } = input.layerTar
    ? await layerFromTar(stores, await input.layerTar())
    : await layerFromUpper(stores, input.upperDir, input.lowerDirs);
  try {
    const built = childImageConfig({
      ...(parent ? { parent } : {}),
      ...(diffId ? { diffId } : {}),
      config: input.config,
      createdBy: input.createdBy,
      ...(input.author ? { author: input.author } : {}),
      ...(input.comment ? { comment: input.comment } : {}),
      ...(input.container ? { container: input.container } : {}),
      ...(input.dockerVersion ? { dockerVersion: input.dockerVersion } : {}),
    });
    return await recordImage(
      stores.content,
      stores.images,
      built,
      input.refs ?? [],
      input.recordParent ? input.parentId : undefined,
    );
  } finally {
    release();
  }
}
