/**
 * The state manifest (./media-types.ts): an OCI image manifest with our artifactType, whose
 * config is the checkpoint's config blob and whose layers are its files, each annotated with
 * its name. Made here; read back as hostile JSON by ./state-manifest.ts, the one parser of it
 * (a pull, a load and an unpack all go through it).
 */
import {
  CHECKPOINT_ARTIFACT_TYPE,
  CHECKPOINT_CONFIG_TYPE,
  CHECKPOINT_FILE_TYPE,
  CHECKPOINT_MANIFEST_MAX,
  CHECKPOINT_RECIPE_TYPE,
  CHECKPOINT_SPARSE_TYPE,
} from './media-types';
import { MediaType } from '../registry/manifest';
import { InvalidArgumentError } from '../../errors';

/** The annotation naming a layer's file. */
export const TITLE_ANNOTATION = 'org.opencontainers.image.title';

/** A stored file's blob, in `files` order. */
export interface CheckpointLayer {
  name: string;
  sparse: boolean;
  /** An image disk's recipe (./recipe.ts) rather than its bytes. */
  recipe?: boolean;
  digest: string;
  size: number;
}

/** The media type of a file's layer. */
export function layerMediaType(sparse: boolean, recipe = false): string {
  if (recipe) return CHECKPOINT_RECIPE_TYPE;
  return sparse ? CHECKPOINT_SPARSE_TYPE : CHECKPOINT_FILE_TYPE;
}

/**
 * The state manifest's bytes for the config blob and the layers; InvalidArgumentError when
 * it would be bigger than CHECKPOINT_MANIFEST_MAX.
 */
export function encodeCheckpointManifest(config: { digest: string; size: number }, layers: CheckpointLayer[]): Buffer {
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType: CHECKPOINT_ARTIFACT_TYPE,
    config: { mediaType: CHECKPOINT_CONFIG_TYPE, digest: config.digest, size: config.size },
    layers: layers.map((l) => ({
      mediaType: layerMediaType(l.sparse, l.recipe),
      digest: l.digest,
      size: l.size,
      annotations: { [TITLE_ANNOTATION]: l.name },
    })),
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  if (bytes.length > CHECKPOINT_MANIFEST_MAX) {
    throw new InvalidArgumentError(`checkpoint manifest of ${bytes.length} bytes is over ${CHECKPOINT_MANIFEST_MAX}`);
  }
  return bytes;
}
