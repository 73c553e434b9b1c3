/**
 * The state manifest (./media-types.ts): an OCI image manifest with our artifactType, whose
 * config is the checkpoint's config blob and whose layers are its files, each annotated with
 * its name. Made here, and read back as hostile JSON: media types must be ours, every
 * descriptor's digest well formed and its size a non-negative safe integer.
 */
import {
  CHECKPOINT_ARTIFACT_TYPE,
  CHECKPOINT_CONFIG_MAX,
  CHECKPOINT_CONFIG_TYPE,
  CHECKPOINT_FILE_TYPE,
  CHECKPOINT_MANIFEST_MAX,
  CHECKPOINT_SPARSE_TYPE,
} from './media-types';
import { isSize } from './config';
import { MediaType } from '../registry/manifest';
import { isDigest } from '../digest';
import { InvalidArgumentError } from '../../errors';

/** The annotation naming a layer's file. */
export const TITLE_ANNOTATION = 'org.opencontainers.image.title';

/** A blob as a manifest names it. */
export interface CheckpointDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

/** A state manifest, as parsed. */
export interface CheckpointManifest {
  schemaVersion: 2;
  mediaType: typeof MediaType.OciManifest;
  artifactType: typeof CHECKPOINT_ARTIFACT_TYPE;
  config: CheckpointDescriptor;
  layers: CheckpointDescriptor[];
}

/** A stored file's blob, in `files` order. */
export interface CheckpointLayer {
  name: string;
  sparse: boolean;
  digest: string;
  size: number;
}

/** The media type of a file's layer. */
export function layerMediaType(sparse: boolean): string {
  return sparse ? CHECKPOINT_SPARSE_TYPE : CHECKPOINT_FILE_TYPE;
}

/**
 * The state manifest's bytes for the config blob and the layers; InvalidArgumentError when
 * it would be bigger than CHECKPOINT_MANIFEST_MAX.
 */
export function encodeCheckpointManifest(config: { digest: string; size: number }, layers: CheckpointLayer[]): Buffer {
  const manifest: CheckpointManifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType: CHECKPOINT_ARTIFACT_TYPE,
    config: { mediaType: CHECKPOINT_CONFIG_TYPE, digest: config.digest, size: config.size },
    layers: layers.map((l) => ({
      mediaType: layerMediaType(l.sparse),
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

/** `v` checked as a descriptor (`what` names it in errors). */
function descriptor(v: unknown, what: string): CheckpointDescriptor {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new InvalidArgumentError(`${what} is not an object`);
  const d = v as Record<string, unknown>;
  if (typeof d.mediaType !== 'string') throw new InvalidArgumentError(`${what} has no media type`);
  if (!isDigest(d.digest)) throw new InvalidArgumentError(`${what} has an invalid digest: ${JSON.stringify(d.digest)}`);
  if (!isSize(d.size)) throw new InvalidArgumentError(`${what} has an invalid size: ${JSON.stringify(d.size)}`);
  const out: CheckpointDescriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.annotations !== undefined) {
    const a = d.annotations;
    if (!a || typeof a !== 'object' || Array.isArray(a) || Object.values(a).some((x) => typeof x !== 'string')) {
      throw new InvalidArgumentError(`${what} has invalid annotations`);
    }
    out.annotations = a as Record<string, string>;
  }
  return out;
}

/**
 * The state manifest in `bytes`, checked: at most CHECKPOINT_MANIFEST_MAX bytes of JSON, an
 * OCI image manifest (schema 2) of our artifactType whose config is our config type (at most
 * CHECKPOINT_CONFIG_MAX bytes), whose layers are of our two file types, every descriptor with
 * a well-formed digest and a non-negative safe-integer size. InvalidArgumentError otherwise.
 */
export function parseCheckpointManifest(bytes: Buffer): CheckpointManifest {
  if (bytes.length > CHECKPOINT_MANIFEST_MAX) {
    throw new InvalidArgumentError(`checkpoint manifest of ${bytes.length} bytes is over ${CHECKPOINT_MANIFEST_MAX}`);
  }
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new InvalidArgumentError(`checkpoint manifest is not JSON: ${(err as Error).message}`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) {
    throw new InvalidArgumentError('checkpoint manifest is not an object');
  }
  const m = v as Record<string, unknown>;
  if (m.schemaVersion !== 2) {
    throw new InvalidArgumentError(`checkpoint manifest: schemaVersion ${JSON.stringify(m.schemaVersion)}, not 2`);
  }
  if (m.mediaType !== MediaType.OciManifest) {
    throw new InvalidArgumentError(
      `checkpoint manifest: media type ${JSON.stringify(m.mediaType)} is not an OCI manifest`,
    );
  }
  if (m.artifactType !== CHECKPOINT_ARTIFACT_TYPE) {
    throw new InvalidArgumentError(
      `checkpoint manifest: artifactType ${JSON.stringify(m.artifactType)} is not ${CHECKPOINT_ARTIFACT_TYPE}`,
    );
  }
  const config = descriptor(m.config, 'checkpoint manifest: config');
  if (config.mediaType !== CHECKPOINT_CONFIG_TYPE) {
    throw new InvalidArgumentError(
      `checkpoint manifest: config media type ${JSON.stringify(config.mediaType)} is not ${CHECKPOINT_CONFIG_TYPE}`,
    );
  }
  if (config.size > CHECKPOINT_CONFIG_MAX) {
    throw new InvalidArgumentError(
      `checkpoint manifest: config of ${config.size} bytes is over ${CHECKPOINT_CONFIG_MAX}`,
    );
  }
  if (!Array.isArray(m.layers)) throw new InvalidArgumentError('checkpoint manifest: layers is not a list');
  const layers = m.layers.map((l: unknown, i) => {
    const d = descriptor(l, `checkpoint manifest: layer ${i}`);
    if (d.mediaType !== CHECKPOINT_FILE_TYPE && d.mediaType !== CHECKPOINT_SPARSE_TYPE) {
      throw new InvalidArgumentError(`checkpoint manifest: layer ${i} has media type ${JSON.stringify(d.mediaType)}`);
    }
    return d;
  });
  return {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType: CHECKPOINT_ARTIFACT_TYPE,
    config,
    layers,
  };
}
